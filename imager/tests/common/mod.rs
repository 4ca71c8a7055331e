//! Helpers for the imager's end-to-end tests: stock git is the oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn imager() -> Command {
    Command::new(env!("CARGO_BIN_EXE_imager"))
}

/// Runs imager, returns the output (whatever the exit status).
pub fn run_imager(args: &[&std::ffi::OsStr]) -> Output {
    imager().args(args).output().expect("run imager")
}

/// Stock git in `dir` with the test kit's fixed environment; panics on failure.
#[allow(unused_imports)]
pub use gitfs_testkit::git::{command as git_cmd, run as git, text as git_str};

pub use gitfs_testkit::Xorshift;

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("write");
}

fn set_exec(root: &Path, rel: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Fills `root` with the tricky cases: binary, empty, executable, symlinks, deep and
/// non-ASCII names, names needing quotes, many near-identical pages (deltas).
pub fn fill_tree(root: &Path, seed: u64, generation: usize) {
    let mut rng = Xorshift::new(seed);
    write(
        root,
        "README.md",
        format!("# test repo\ngeneration {generation}\n").as_bytes(),
    );
    write(root, "empty", b"");
    write(root, "bin/data.bin", &rng.bytes(70_000));
    write(root, "bin/tool.sh", b"#!/bin/sh\necho hello\n");
    set_exec(root, "bin/tool.sh");
    write(root, "a/b/c/d/e/f/g/h/i/j/deep.txt", b"deep down\n");
    write(root, "héllo wörld/日本語.txt", "non-ASCII ✓\n".as_bytes());
    write(root, "quote\"and\\back\tslash.txt", b"odd name\n");
    write(root, ".hidden/.dotfile", b"dot\n");
    let page: String = (0..300)
        .map(|i| format!("<p>paragraph {i} of a long page with text</p>\n"))
        .collect();
    for i in 0..40 {
        let mut p = page.clone();
        p.insert_str(
            (i * 731) % page.len() / 2 * 2,
            &format!("<h1>page {i} gen {generation}</h1>"),
        );
        write(root, &format!("site/page{i:02}.html"), p.as_bytes());
    }
    // Same content in two places: one blob, two entries.
    write(
        root,
        "site/copy-of-page00.html",
        std::fs::read(root.join("site/page00.html"))
            .expect("read")
            .as_slice(),
    );
    let _ = std::fs::remove_file(root.join("link-to-readme"));
    std::os::unix::fs::symlink("README.md", root.join("link-to-readme")).expect("symlink");
    let _ = std::fs::remove_file(root.join("site/dangling"));
    std::os::unix::fs::symlink("../nowhere/at/all", root.join("site/dangling")).expect("symlink");
    write(
        root,
        &format!("gen/{generation}.txt"),
        format!("generation file {generation}\n").as_bytes(),
    );
}

/// A repository with several commits and a submodule entry in the last one.
pub fn make_repo(root: &Path) -> PathBuf {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    for generation in 0..3 {
        fill_tree(&repo, 1000 + generation as u64, generation);
        git(&repo, &["add", "-A"]);
        if generation == 2 {
            git(
                &repo,
                &[
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    "160000,1234567890abcdef1234567890abcdef12345678,sub",
                ],
            );
        }
        git(
            &repo,
            &[
                "commit",
                "-q",
                "-m",
                &format!("commit {generation}\n\nbody of {generation}"),
            ],
        );
    }
    git(&repo, &["tag", "v-first", "HEAD~2"]);
    repo
}

/// Copies the image sections out like `dd` would, using the header's offsets.
pub fn sections(image: &[u8]) -> ((usize, usize), (usize, usize)) {
    let le64 =
        |at: usize| u64::from_le_bytes(image[at..at + 8].try_into().expect("8 bytes")) as usize;
    assert_eq!(&image[..8], b"GITFSIMG");
    let count = u16::from_le_bytes([image[74], image[75]]) as usize;
    let mut pack = None;
    let mut idx = None;
    for s in 0..count {
        let at = 80 + s * 24;
        let kind = u32::from_le_bytes(image[at..at + 4].try_into().expect("4 bytes"));
        let range = (le64(at + 8), le64(at + 16));
        match kind {
            1 => pack = Some(range),
            2 => idx = Some(range),
            _ => {}
        }
    }
    (pack.expect("PACK section"), idx.expect("IDX section"))
}
