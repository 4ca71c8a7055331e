//! Bad input: one-line message, non-zero exit, never a panic.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::*;

fn expect_error(args: &[&OsStr], what: &str) -> String {
    let out = run_imager(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{what}: succeeded");
    assert!(!err.contains("panicked"), "{what}: panic: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{what}: not one line: {err:?}"
    );
    assert!(err.starts_with("imager: "), "{what}: {err:?}");
    err
}

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

#[test]
fn bad_input_gives_one_line_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = make_repo(tmp.path());
    let image = tmp.path().join("ok.img");
    let out = run_imager(&[OsStr::new("make"), os(&repo), os(&image), OsStr::new("-q")]);
    assert!(out.status.success());
    let m = OsStr::new("make");

    expect_error(
        &[
            m,
            os(&tmp.path().join("missing")),
            os(&tmp.path().join("x.img")),
        ],
        "missing source",
    );
    expect_error(
        &[
            m,
            os(&repo),
            os(&tmp.path().join("y.img")),
            OsStr::new("--rev"),
            OsStr::new("no-such-branch"),
        ],
        "unknown revision",
    );
    assert!(!tmp.path().join("y.img").exists(), "no partial image left");
    let e = expect_error(&[m, os(&repo), os(&image)], "exists without --force");
    assert!(e.contains("--force"), "{e}");
    expect_error(
        &[
            m,
            os(&repo),
            os(&tmp.path().join("z.img")),
            OsStr::new("--date"),
            OsStr::new("yesterday"),
        ],
        "bad date",
    );

    let not_image = tmp.path().join("not.img");
    std::fs::write(&not_image, vec![7u8; 10_000]).expect("write");
    let good = std::fs::read(&image).expect("read");
    let truncated = tmp.path().join("trunc.img");
    std::fs::write(&truncated, &good[..good.len() / 2]).expect("write");
    let tiny = tmp.path().join("tiny.img");
    std::fs::write(&tiny, &good[..100]).expect("write");
    let empty = tmp.path().join("empty.img");
    std::fs::write(&empty, b"").expect("write");
    for bad in [
        &not_image,
        &truncated,
        &tiny,
        &empty,
        &tmp.path().join("absent.img"),
        &repo,
    ] {
        for cmd in ["verify", "info", "ls"] {
            expect_error(
                &[OsStr::new(cmd), os(bad)],
                &format!("{cmd} {}", bad.display()),
            );
        }
        expect_error(
            &[OsStr::new("cat"), os(bad), OsStr::new("README.md")],
            &format!("cat {}", bad.display()),
        );
    }

    let c = OsStr::new("cat");
    expect_error(
        &[c, os(&image), OsStr::new("no/such/file")],
        "path not found",
    );
    expect_error(
        &[c, os(&image), OsStr::new("README.md/below")],
        "path below a file",
    );
    let e = expect_error(&[c, os(&image), OsStr::new("site")], "path is a directory");
    assert!(e.contains("directory"), "{e}");
    expect_error(&[c, os(&image), OsStr::new("sub")], "submodule");
    expect_error(
        &[OsStr::new("ls"), os(&image), OsStr::new("nope")],
        "ls missing path",
    );
}
