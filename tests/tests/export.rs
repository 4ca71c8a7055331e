//! `gitfs-qemu export`: the tree written out equals `git archive HEAD | tar -x`
//! (contents, exec bits, symlink targets), a subtree too; a non-empty directory is
//! refused; a tree naming an entry `../evil` is refused by the imager, and an image of
//! it made with git alone writes nothing anywhere.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::{git, git_text, make_image, noise, workspace_bin, write_file};

/// What a directory holds, by relative path: file bytes and exec bit, link targets,
/// directories.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    File(Vec<u8>, bool),
    Link(Vec<u8>),
    Dir,
}

fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<Vec<u8>, Node>) {
        for e in std::fs::read_dir(root.join(rel)).expect("read_dir") {
            let e = e.expect("entry");
            let rel = rel.join(e.file_name());
            let path = root.join(&rel);
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let key = rel.as_os_str().as_bytes().to_vec();
            if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&path).expect("readlink");
                out.insert(key, Node::Link(t.as_os_str().as_bytes().to_vec()));
            } else if meta.is_dir() {
                out.insert(key, Node::Dir);
                walk(root, &rel, out);
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                out.insert(key, Node::File(std::fs::read(&path).expect("read"), exec));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn export(image: &Path, dir: &Path, extra: &[&str]) -> Output {
    Command::new(workspace_bin("gitfs-qemu", "gitfs-qemu"))
        .arg("export")
        .arg(image)
        .arg(dir)
        .args(extra)
        .output()
        .expect("run gitfs-qemu export")
}

/// `export` that must succeed (its stderr shown if not).
fn export_ok(image: &Path, dir: &Path, extra: &[&str]) {
    common::succeeded(&export(image, dir, extra), "export");
}

fn git_archive_into(repo: &Path, treeish: &str, dest: &Path) {
    std::fs::create_dir_all(dest).expect("mkdir");
    let archive = git(repo, &["archive", "--format=tar", treeish]);
    let mut tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .stdin(Stdio::piped())
        .spawn()
        .expect("tar");
    use std::io::Write;
    tar.stdin
        .take()
        .expect("stdin")
        .write_all(&archive)
        .expect("pipe");
    assert!(tar.wait().expect("tar").success());
}

fn repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    let w = |rel: &str, data: &[u8]| write_file(&repo, rel, data);
    w("README.md", b"# export\n");
    w("docs/read me.md", b"spaces in the name\n");
    w("docs/\u{e9}t\u{e9} \u{2603}.txt", b"non-ASCII name\n");
    w("docs/empty", b"");
    w("data/blob.bin", &noise(200_000, 9));
    w("deep/a/b/c/d/e/f.txt", b"deep\n");
    w("bin/run.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(repo.join("bin/run.sh"), PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let link = |target: &str, at: &str| {
        std::os::unix::fs::symlink(target, repo.join(at)).expect("symlink");
    };
    link("docs/read me.md", "link-file");
    link("deep/a", "link-dir");
    link("../../outside", "docs/outside");
    link("nope", "dangling");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "export"]);
    repo
}

#[test]
fn export_equals_git_archive_and_refuses_what_it_must() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let repo = repo(&dir);
    let image = dir.join("export.img");
    make_image(&repo, &image, &[]);

    // The whole tree, into a directory that does not exist yet (a space in its name).
    let out_dir = dir.join("out put");
    export_ok(&image, &out_dir, &[]);
    let oracle = dir.join("oracle");
    git_archive_into(&repo, "HEAD", &oracle);
    let (got, want) = (snapshot(&out_dir), snapshot(&oracle));
    assert_eq!(got.len(), want.len());
    assert!(got == want, "export differs from git archive");
    assert!(got.contains_key("bin/run.sh".as_bytes()));
    assert_eq!(
        got.get("bin/run.sh".as_bytes()),
        Some(&Node::File(b"#!/bin/sh\necho hi\n".to_vec(), true))
    );

    // The same over COM1 alone (no virtio device: one request at a time) and over FIFOs.
    for (name, args) in [
        ("serial", &["--transport", "serial"][..]),
        ("fifos", &["--transport", "virtio", "--channel", "pipe"][..]),
    ] {
        let out = dir.join(format!("out-{name}"));
        export_ok(&image, &out, args);
        assert!(
            snapshot(&out) == want,
            "export over {name} differs from git archive"
        );
    }

    // A subtree.
    let sub = dir.join("sub");
    export_ok(&image, &sub, &["--path", "docs"]);
    let sub_oracle = dir.join("sub-oracle");
    git_archive_into(&repo, "HEAD:docs", &sub_oracle);
    assert!(
        snapshot(&sub) == snapshot(&sub_oracle),
        "--path docs differs"
    );

    // A non-empty directory is refused and left alone; --force writes into it.
    let out = export(&image, &sub, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().last().is_some_and(|l| l.contains("not empty")),
        "{err}"
    );
    assert!(snapshot(&sub) == snapshot(&sub_oracle));
    export_ok(&image, &sub, &["--force", "--path", "docs"]);
    assert!(snapshot(&sub) == snapshot(&sub_oracle));

    // Not a directory in the image.
    let out = export(&image, &dir.join("x"), &["--path", "README.md"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

#[test]
fn a_tree_naming_dot_dot_writes_nothing() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export-hostile");
    let _ = std::fs::remove_dir_all(&dir);
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    // git mktree refuses such a name; hash-object --literally writes the tree as given.
    use gitfs_testkit::git::run_with_input;
    let blob = run_with_input(&repo, &["hash-object", "-w", "--stdin"], b"evil\n");
    let blob = std::str::from_utf8(&blob).expect("hex").trim().to_string();
    let mut tree = b"100644 ../evil\0".to_vec();
    tree.extend((0..20).map(|i| u8::from_str_radix(&blob[2 * i..2 * i + 2], 16).expect("hex")));
    let args = ["hash-object", "-t", "tree", "--literally", "-w", "--stdin"];
    let tree = String::from_utf8(run_with_input(&repo, &args, &tree)).expect("hex");
    let commit = git_text(&repo, &["commit-tree", "-m", "hostile", tree.trim()]);
    git(&repo, &["update-ref", "refs/heads/main", &commit]);
    // The imager refuses such a tree, naming the entry.
    let image = dir.join("hostile.img");
    let out = Command::new(common::imager())
        .arg("make")
        .arg(&repo)
        .arg(&image)
        .output()
        .expect("run imager");
    assert!(
        !out.status.success(),
        "the imager accepted a tree naming ../evil"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("\"../evil\"") && err.contains("refused"),
        "{err}"
    );
    assert!(!image.exists());
    // Made with git alone, the image reaches the unikernel, which refuses it at boot.
    let bytes = gitfs_testkit::repo::image_of(&repo, None, &[]).expect("image with git");
    std::fs::write(&image, bytes).expect("write image");

    let out_dir = dir.join("out").join("inner");
    let out = export(&image, &out_dir, &[]);
    assert!(!out.status.success(), "a hostile tree was exported");
    // One error line (after a progress line if the kernel had to be built first).
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("gitfs-qemu: building"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("../evil") && lines[0].contains("bad image"),
        "{err}"
    );
    for place in [dir.join("out/evil"), dir.join("evil"), out_dir.join("evil")] {
        assert!(
            std::fs::symlink_metadata(&place).is_err(),
            "{} written",
            place.display()
        );
    }
}
