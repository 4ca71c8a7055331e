//! Plain directory sources against stock git: the tree must be what
//! `git add -A && git write-tree` makes of a copy of the directory.

mod common;
mod source_support;

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use gitfs_format::ObjectKind;
use gitfs_imager::source::{load, Snapshot, SourceOptions};
use source_support::{git, git_cmd, snapshot_objects, tree_objects};

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("write");
}

fn chmod(root: &Path, rel: &str, mode: u32) {
    std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every case Git treats specially in a work tree.
fn make_tree(root: &Path) {
    write(root, "README", b"hello\n");
    write(root, ".hidden", b"dotfile\n");
    write(root, ".config/settings", b"dot dir\n");
    write(root, "empty-file", b"");
    let binary: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    write(root, "bin/blob.bin", &binary);
    write(root, "bin/tool", b"#!/bin/sh\n");
    chmod(root, "bin/tool", 0o755);
    write(root, "bin/owner-exec", b"u+x\n");
    chmod(root, "bin/owner-exec", 0o744);
    write(root, "bin/other-exec", b"o+x only\n");
    chmod(root, "bin/other-exec", 0o645);
    write(root, "bin/group-exec", b"g+x only\n");
    chmod(root, "bin/group-exec", 0o654);
    symlink("README", root.join("link")).expect("symlink");
    symlink("/nonexistent/target", root.join("dangling")).expect("symlink");
    symlink("bin", root.join("dir-link")).expect("symlink to dir");
    write(root, "deep/1/2/3/4/5/6/7/8/9/10/file.txt", b"deep\n");
    write(root, "na\u{ef}ve/\u{1f980} crab.txt", b"unicode\n");
    std::fs::write(
        root.join(std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9")),
        b"non-utf8\n",
    )
    .expect("write raw name");
    // Ordering traps: "a" dir sorts as "a/", after "a-b", "a.b" and before "a0".
    write(root, "a/x", b"1\n");
    write(root, "a.b", b"2\n");
    write(root, "a-b/y", b"3\n");
    write(root, "a0", b"4\n");
    write(root, "ab", b"5\n");
    // Empty directories, and one that only holds empty directories: not stored.
    std::fs::create_dir_all(root.join("empty-dir")).expect("mkdir");
    std::fs::create_dir_all(root.join("hollow/inner/innermost")).expect("mkdir");
    // A nested `.git` that is no repository: Git skips the `.git` entry itself.
    write(root, "vendor/.git/config", b"not a repo\n");
    write(root, "vendor/lib.rs", b"// vendored\n");
    write(root, "same1", b"duplicate\n");
    write(root, "sub/same2", b"duplicate\n");
}

fn opts(date: Option<i64>) -> SourceOptions {
    SourceOptions { rev: None, date }
}

/// Tree id and objects stock git makes of a copy of `dir`.
fn git_tree_of_copy(dir: &Path) -> (tempfile::TempDir, String) {
    let copy = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", dir.display()))
        .arg(copy.path())
        .status()
        .expect("cp");
    assert!(status.success());
    git(copy.path(), ["init", "-q"]);
    git(copy.path(), ["add", "-A"]);
    let tree = git(copy.path(), ["write-tree"]).trim().to_string();
    (copy, tree)
}

fn load_dir(dir: &Path, date: Option<i64>) -> Snapshot {
    load(dir.to_str().expect("utf-8 temp path"), &opts(date)).expect("load directory")
}

#[test]
fn tree_matches_git_add_and_write_tree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_tree(tmp.path());
    let snap = load_dir(tmp.path(), Some(1_700_000_000));
    let (copy, tree) = git_tree_of_copy(tmp.path());
    assert_eq!(snap.tree.to_string(), tree);

    let mut ours = snapshot_objects(&snap);
    assert!(ours.remove(&("commit".to_string(), snap.commit.to_string())));
    assert_eq!(ours, tree_objects(copy.path(), &tree));

    // Spot checks of what the oracle agreed to.
    let ls = git(copy.path(), ["ls-tree", "-r", &tree]);
    for (mode, name) in [
        ("100755", "bin/tool"),
        ("100755", "bin/owner-exec"),
        ("100644", "bin/other-exec"),
        ("100644", "bin/group-exec"),
        ("120000", "dir-link"),
        ("120000", "dangling"),
        ("100644", "vendor/lib.rs"),
    ] {
        assert!(
            ls.lines()
                .any(|l| l.starts_with(mode) && l.ends_with(&format!("\t{name}"))),
            "{mode} {name} in\n{ls}"
        );
    }
    assert!(!ls.contains("empty-dir") && !ls.contains("hollow") && !ls.contains(".git/"));
}

#[test]
fn commit_is_deterministic_and_valid_for_git() {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_tree(tmp.path());
    let a = load_dir(tmp.path(), Some(1_234_567_890));
    let b = load_dir(tmp.path(), Some(1_234_567_890));
    assert_eq!(a, b);
    let later = load_dir(tmp.path(), Some(1_234_567_891));
    assert_eq!(later.tree, a.tree);
    assert_ne!(later.commit, a.commit);

    let commit = &a.objects[0];
    assert_eq!(commit.kind, ObjectKind::Commit);
    assert_eq!(a.rev, "");
    let commit_data = a.data(0).expect("commit bytes");
    let text = String::from_utf8(commit_data.clone()).expect("utf-8 commit");
    assert!(text.starts_with(&format!("tree {}\n", a.tree)), "{text}");
    assert!(text.contains(" 1234567890 +0000\n"), "{text}");

    // Stock git accepts the commit as well-formed (hash-object runs fsck checks)
    // and computes the same id.
    let repo = tempfile::tempdir().expect("tempdir");
    git(repo.path(), ["init", "-q"]);
    let mut child = git_cmd(repo.path())
        .args(["hash-object", "-t", "commit", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&commit_data)
            .expect("write");
    }
    let out = child.wait_with_output().expect("hash-object");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        a.commit.to_string()
    );
}

#[test]
fn blob_paths_are_first_occurrences_in_tree_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_tree(tmp.path());
    let snap = load_dir(tmp.path(), Some(0));
    let dup: Vec<_> = (0..snap.objects.len())
        .filter(|&i| snap.data(i).expect("bytes") == b"duplicate\n")
        .map(|i| &snap.objects[i])
        .collect();
    assert_eq!(dup.len(), 1);
    assert_eq!(dup[0].path, b"same1");
    let link = snap
        .objects
        .iter()
        .position(|o| o.path == b"link")
        .expect("link blob");
    assert_eq!(snap.data(link).expect("link bytes"), b"README");
    assert!(snap.objects.iter().any(|o| o.path == b"latin1-\xe9t\xe9"));
}

#[test]
fn empty_directory_is_the_empty_tree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tmp.path().join("only/empty/dirs")).expect("mkdir");
    let snap = load_dir(tmp.path(), Some(0));
    assert_eq!(
        snap.tree.to_string(),
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    );
    assert_eq!(snap.objects.len(), 2);
}

#[test]
fn a_file_that_changes_after_hashing_is_refused_when_read() {
    // Blob bytes are read again when packed: a file edited (or removed) in between
    // must fail the make, never give an object whose bytes are not its id's.
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "a.txt", b"first version\n");
    write(tmp.path(), "b.txt", b"stays\n");
    let snap = load_dir(tmp.path(), Some(0));
    let index = |path: &[u8]| {
        snap.objects
            .iter()
            .position(|o| o.path == path)
            .expect("object")
    };
    let (a, b) = (index(b"a.txt"), index(b"b.txt"));
    assert_eq!(snap.data(a).expect("unchanged"), b"first version\n");

    write(tmp.path(), "a.txt", b"other version\n");
    let err = snap.data(a).expect_err("changed file");
    assert!(
        matches!(err, gitfs_imager::source::SourceError::Changed { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("a.txt changed"), "{err}");

    std::fs::remove_file(tmp.path().join("b.txt")).expect("rm");
    let err = snap.data(b).expect_err("removed file");
    assert!(err.to_string().contains("b.txt"), "{err}");
}

#[test]
fn a_link_and_a_file_with_the_same_bytes_share_one_readable_blob() {
    // The blob's first path is the link's ("a-link" sorts first); its bytes must
    // come from the link's target text, not from reading through the link.
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "z-file", b"elsewhere");
    write(tmp.path(), "elsewhere", b"not the blob\n");
    symlink("elsewhere", tmp.path().join("a-link")).expect("symlink");
    let snap = load_dir(tmp.path(), Some(0));
    let shared: Vec<usize> = (0..snap.objects.len())
        .filter(|&i| snap.objects[i].path == b"a-link")
        .collect();
    assert_eq!(shared.len(), 1);
    assert_eq!(snap.data(shared[0]).expect("bytes"), b"elsewhere");
    assert!(
        !snap.objects.iter().any(|o| o.path == b"z-file"),
        "one blob"
    );
    snapshot_objects(&snap);
}
