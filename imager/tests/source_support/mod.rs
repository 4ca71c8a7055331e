//! Shared helpers for the source tests: run stock `git` (the oracle) and compare.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

use gitfs_format::{object_id, ObjectKind};
use gitfs_imager::source::Snapshot;

/// Runs git in `dir` with a neutral environment; panics with git's stderr on failure.
pub fn git<I, S>(dir: &Path, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = git_cmd(dir).args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub use super::common::git_cmd;

pub fn rev_parse(dir: &Path, rev: &str) -> String {
    git(dir, ["rev-parse", "--verify", rev]).trim().to_string()
}

/// (kind, id) of every object `git rev-list --objects --no-walk` lists for `rev`:
/// the commit and its whole tree, gitlinks excluded.
pub fn git_objects(dir: &Path, rev: &str) -> BTreeSet<(String, String)> {
    let commit = rev_parse(dir, &format!("{rev}^{{commit}}"));
    let listed = git(dir, ["rev-list", "--objects", "--no-walk", &commit]);
    let ids: Vec<&str> = listed
        .lines()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    kinds(dir, &ids)
}

/// (kind, id) of a tree and everything below it, from `git ls-tree -r -t`.
pub fn tree_objects(dir: &Path, tree: &str) -> BTreeSet<(String, String)> {
    let out = git(dir, ["ls-tree", "-r", "-t", "-z", tree]);
    let mut set: BTreeSet<(String, String)> = out
        .split('\0')
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let meta = l.split('\t').next()?;
            let mut f = meta.split(' ');
            let (_mode, kind, id) = (f.next()?, f.next()?, f.next()?);
            (kind != "commit").then(|| (kind.to_string(), id.to_string()))
        })
        .collect();
    set.insert(("tree".to_string(), tree.to_string()));
    set
}

fn kinds(dir: &Path, ids: &[&str]) -> BTreeSet<(String, String)> {
    let mut c = git_cmd(dir);
    c.args(["cat-file", "--batch-check=%(objecttype) %(objectname)"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().expect("spawn git cat-file");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        for id in ids {
            writeln!(stdin, "{id}").expect("write");
        }
    }
    let out = child.wait_with_output().expect("cat-file");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let (k, id) = l.split_once(' ').expect("kind id");
            (k.to_string(), id.to_string())
        })
        .collect()
}

/// (kind, id) of every object in a snapshot; asserts there are no duplicates and
/// that each object's bytes hash to its id.
pub fn snapshot_objects(snap: &Snapshot) -> BTreeSet<(String, String)> {
    let mut set = BTreeSet::new();
    for (i, o) in snap.objects.iter().enumerate() {
        let data = snap.data(i).expect("object bytes");
        assert_eq!(data.len() as u64, o.size, "object {} size", o.id);
        assert_eq!(object_id(o.kind, &data), o.id, "object {} bytes", o.id);
        assert!(
            set.insert((o.kind.as_str().to_string(), o.id.to_string())),
            "duplicate object {}",
            o.id
        );
    }
    set
}

/// The snapshot is exactly `rev` as stock git sees it in `dir`.
pub fn assert_matches_git(dir: &Path, rev: &str, snap: &Snapshot) {
    assert_eq!(
        snap.commit.to_string(),
        rev_parse(dir, &format!("{rev}^{{commit}}"))
    );
    let tree = rev_parse(dir, &format!("{rev}^{{tree}}"));
    assert_eq!(snap.tree.to_string(), tree);
    let ours = snapshot_objects(snap);
    let listed = git_objects(dir, rev);
    assert_eq!(ours, listed, "objects vs git rev-list --objects --no-walk");
    let mut from_tree = tree_objects(dir, &tree);
    from_tree.insert(("commit".to_string(), snap.commit.to_string()));
    assert_eq!(ours, from_tree, "objects vs git ls-tree -r -t");
    assert_eq!(snap.objects[0].kind, ObjectKind::Commit);
    assert_eq!(snap.objects[0].id, snap.commit);
    assert_eq!(snap.objects[1].id, snap.tree, "root tree second");
    assert!(snap.objects[1].path.is_empty());
}

/// A repository with several commits exercising every kind of entry:
/// binary, empty, executable files, symlinks, deep and non-ASCII / non-UTF-8
/// paths, a gitlink, an annotated tag `v1.0` (on HEAD~1), a lightweight tag.
pub fn fixture_repo(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let w = |p: &str, data: &[u8]| {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, data).expect("write");
    };
    git(dir, ["init", "-q", "-b", "main"]);
    git(dir, ["config", "core.symlinks", "true"]);
    w("README.md", b"# fixture\n");
    w("empty", b"");
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    w("data/binary.bin", &binary);
    w("deep/a/b/c/d/e/f/g/h/leaf.txt", b"deep leaf\n");
    w("h\u{e9}llo w\u{f6}rld/\u{65e5}\u{672c}.txt", b"non-ascii\n");
    let raw = std::ffi::OsStr::from_bytes(b"raw-\xff\xfe.bin");
    std::fs::write(dir.join(raw), b"non-utf8 name\n").expect("write raw");
    w("bin/run.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        dir.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("README.md", dir.join("link-to-readme")).expect("symlink");
    std::os::unix::fs::symlink("../nowhere/at all", dir.join("data/dangling")).expect("symlink");
    w("dup1.txt", b"same\n");
    w("data/dup2.txt", b"same\n");
    git(dir, ["add", "-A"]);
    git(dir, ["commit", "-q", "-m", "first"]);

    w("README.md", b"# fixture, second\n");
    git(dir, ["add", "-A"]);
    // A gitlink whose commit is not in this repository; its empty directory is
    // what an unpopulated submodule looks like, so later `add -A` keeps it.
    std::fs::create_dir(dir.join("sub")).expect("mkdir sub");
    git(
        dir,
        [
            "update-index",
            "--add",
            "--cacheinfo",
            "160000,1234567890abcdef1234567890abcdef12345678,sub",
        ],
    );
    git(dir, ["commit", "-q", "-m", "second"]);
    git(dir, ["tag", "-a", "-m", "release", "v1.0"]);

    w("a.b", b"ordering\n");
    w("a-b/x", b"ordering dir\n");
    w("a/x", b"ordering dir 2\n");
    w("a0", b"ordering 3\n");
    std::fs::remove_file(dir.join("dup1.txt")).expect("rm");
    git(dir, ["add", "-A"]);
    git(dir, ["commit", "-q", "-m", "third"]);
    git(dir, ["tag", "light"]);
}
