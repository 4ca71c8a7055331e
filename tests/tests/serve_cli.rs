//! The `gitfs-qemu get/ls/stat/info` commands people and `just` use: exact bytes on
//! stdout, one-line errors with a non-zero exit, no QEMU left behind.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
use common::{git, git_text, make_image, noise, workspace_bin};

struct Fixture {
    repo: PathBuf,
    image: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-cli");
        let _ = std::fs::remove_dir_all(&dir);
        let repo = dir.join("repo");
        std::fs::create_dir_all(repo.join("docs")).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), b"# cli\n").expect("write");
        std::fs::write(repo.join("docs/bin.dat"), noise(300_000, 5)).expect("write");
        std::fs::write(repo.join("run.sh"), b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(repo.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "c"]);
        let image = dir.join("cli.img");
        make_image(&repo, &image, &[]);
        Fixture { repo, image }
    })
}

fn cli(args: &[&str]) -> Output {
    let f = fixture();
    Command::new(workspace_bin("gitfs-qemu", "gitfs-qemu"))
        .arg(args[0])
        .arg(&f.image)
        .args(&args[1..])
        .output()
        .expect("run gitfs-qemu")
}

fn ok(out: &Output) -> &[u8] {
    common::succeeded(out, "gitfs-qemu")
}

fn one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "succeeded: {:?}", out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("gitfs-qemu: error: ") && err.contains(needle),
        "{err}"
    );
}

#[test]
fn get_writes_exact_bytes() {
    let f = fixture();
    let want = git(&f.repo, &["cat-file", "blob", "HEAD:docs/bin.dat"]);
    assert!(ok(&cli(&["get", "docs/bin.dat"])) == want);
    assert_eq!(ok(&cli(&["get", "README.md"])), b"# cli\n");
    // Each transport on its own: the virtio channel, and COM1 without the device.
    for t in ["virtio", "serial"] {
        assert!(
            ok(&cli(&["get", "docs/bin.dat", "--transport", t])) == want,
            "--transport {t}"
        );
    }
}

#[test]
fn get_several_paths_into_a_directory() {
    let f = fixture();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-cli-get-out");
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().expect("utf-8");
    ok(&cli(&[
        "get",
        "docs/bin.dat",
        "run.sh",
        "/README.md",
        "--out-dir",
        d,
    ]));
    let want = git(&f.repo, &["cat-file", "blob", "HEAD:docs/bin.dat"]);
    assert!(std::fs::read(dir.join("docs/bin.dat")).expect("bin.dat") == want);
    assert_eq!(
        std::fs::read(dir.join("README.md")).expect("README"),
        b"# cli\n"
    );
    let mode = std::fs::metadata(dir.join("run.sh"))
        .expect("run.sh")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    // An existing file is kept unless --force; several paths need --out-dir; `..` is
    // refused before anything is fetched.
    std::fs::write(dir.join("README.md"), b"mine").expect("write");
    assert!(!cli(&["get", "README.md", "--out-dir", d]).status.success());
    assert_eq!(
        std::fs::read(dir.join("README.md")).expect("README"),
        b"mine"
    );
    ok(&cli(&["get", "README.md", "--out-dir", d, "--force"]));
    assert_eq!(
        std::fs::read(dir.join("README.md")).expect("README"),
        b"# cli\n"
    );
    one_line_error(&cli(&["get", "README.md", "run.sh"]), "--out-dir");
    one_line_error(
        &cli(&["get", "docs/../README.md", "--out-dir", d]),
        "not a plain file name",
    );
    assert!(!dir.parent().expect("parent").join("README.md").exists());
}

#[test]
fn ls_and_stat_match_git() {
    let f = fixture();
    assert_eq!(ok(&cli(&["ls"])), b"README.md\ndocs/\nrun.sh\n");
    let long = String::from_utf8(ok(&cli(&["ls", "docs", "-l"])).to_vec()).expect("utf8");
    let id = git_text(&f.repo, &["rev-parse", "HEAD:docs/bin.dat"]);
    let words: Vec<&str> = long.split_whitespace().collect();
    assert_eq!(
        words,
        ["100644", "file", "300000", id.as_str(), "bin.dat"],
        "{long}"
    );
    assert_eq!(long.lines().count(), 1, "{long}");
    let stat = String::from_utf8(ok(&cli(&["stat", "run.sh"])).to_vec()).expect("utf8");
    let id = git_text(&f.repo, &["rev-parse", "HEAD:run.sh"]);
    assert!(
        stat.contains("kind: exec\nmode: 100755\nsize: 10\n"),
        "{stat}"
    );
    assert!(stat.contains(&format!("id:   {id}")), "{stat}");
    let info = String::from_utf8(ok(&cli(&["info"])).to_vec()).expect("utf8");
    let head = git_text(&f.repo, &["rev-parse", "HEAD"]);
    assert!(info.contains(&format!("commit={head}\n")), "{info}");
    assert!(info.contains("files=3\n"), "{info}");
}

#[test]
fn errors_are_one_line_and_nonzero() {
    one_line_error(&cli(&["get", "nope.txt"]), "nope.txt");
    one_line_error(&cli(&["get", "docs"]), "is-a-directory");
    one_line_error(&cli(&["get", "../x"]), "bad-path");
    one_line_error(&cli(&["ls", "README.md"]), "not-a-directory");
    let out = Command::new(workspace_bin("gitfs-qemu", "gitfs-qemu"))
        .args(["get", "/no/such/image.img", "x"])
        .output()
        .expect("run");
    one_line_error(&out, "no such image file");
    // A file that is not an image: the unikernel's own refusal, on one line.
    let junk = fixture().image.with_extension("junk");
    std::fs::write(&junk, b"not an image at all").expect("write");
    let out = Command::new(workspace_bin("gitfs-qemu", "gitfs-qemu"))
        .arg("get")
        .arg(&junk)
        .arg("x")
        .output()
        .expect("run");
    one_line_error(&out, "gitfs error: bad image");
}
