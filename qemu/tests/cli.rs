//! The `gitfs-qemu` binary's argument handling (no QEMU started).

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gitfs-qemu"))
}

fn images() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("gitfs-qemu-cli-{}", std::process::id()));
    // Tiny placeholder files, left for the OS to clean: tests run in parallel on them.
    std::fs::create_dir_all(&dir).expect("dir");
    let (l, k) = (dir.join("loader.elf32"), dir.join("kernel"));
    std::fs::write(&l, b"l").expect("write");
    std::fs::write(&k, b"k").expect("write");
    (l, k)
}

#[test]
fn command_shows_the_qemu_line() {
    let (l, k) = images();
    let out = bin()
        .args(["command", "--freq", "1000", "--memory", "512M", "--loader"])
        .arg(&l)
        .arg("--kernel")
        .arg(&k)
        .args(["--", "x y"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-m 512M"), "{text}");
    assert!(text.contains("-serial mon:stdio"), "{text}");
    // Without --disk the app is told to run diskless.
    assert!(
        text.ends_with("'-freq 1000 -- '\\''x y'\\'' --no-disk'\n"),
        "{text}"
    );
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    let (l, k) = images();
    let out = bin()
        .args(["command", "--memory", "lots", "--loader"])
        .arg(&l)
        .arg("--kernel")
        .arg(&k)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("gitfs-qemu: error: invalid option: memory"),
        "{err}"
    );
    let out = bin()
        .args(["ping", "--loader", "/nonexistent/l", "--kernel"])
        .arg(&k)
        .output()
        .expect("run");
    assert!(!out.status.success());
}
