//! Shared by the serve*.rs tests: the real imager, stock git as the oracle, sessions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use gitfs_qemu::{artifacts, Session, Transport, VmConfig};

/// A binary of this workspace (target/debug/NAME, or target/release/NAME for tests built
/// with `--release`), built once per test process: cargo does not build other packages'
/// binaries for a test.
pub fn workspace_bin(package: &str, name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let root = artifacts::repo_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    // The profile the tests themselves were built with (`--release` for the long runs).
    let (profile, release) = if cfg!(debug_assertions) {
        ("debug", None)
    } else {
        ("release", Some("--release"))
    };
    let bin = target.join(profile).join(name);
    // Always ask cargo: a no-op when fresh, a rebuild when the sources changed.
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-q", "-p", package, "--bin", name])
        .args(release)
        .current_dir(&root)
        .status()
        .expect("running cargo");
    assert!(st.success(), "building {name} failed: {st}");
    assert!(bin.is_file(), "no {name} at {}", bin.display());
    built.push((name.to_string(), bin.clone()));
    bin
}

/// The real `imager` binary.
pub fn imager() -> PathBuf {
    workspace_bin("gitfs-imager", "imager")
}

/// `imager make SOURCE IMAGE [extra...]`; panics with imager's message on failure.
pub fn make_image(source: &Path, image: &Path, extra: &[&str]) {
    let out = Command::new(imager())
        .arg("make")
        .arg(source)
        .arg(image)
        .args(["--force", "--quiet"])
        .args(extra)
        .output()
        .expect("running imager");
    succeeded(&out, &format!("imager make {}", source.display()));
}

/// The stdout of a program that must have succeeded; panics with `what` and its
/// stderr if it did not.
pub fn succeeded<'a>(out: &'a Output, what: &str) -> &'a [u8] {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    &out.stdout
}

/// Runs git in `dir` (the test kit's fixed identity, dates 2024-01-01T00:00:00Z);
/// returns stdout bytes.
pub use gitfs_testkit::git::run as git;
/// As [`git`], as text without the trailing newline.
pub use gitfs_testkit::git::text as git_text;

/// One line of `git ls-tree -l -z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitEntry {
    pub mode: u32,
    /// `blob`, `tree` or `commit`.
    pub kind: String,
    pub id: String,
    /// `None` for trees and submodules.
    pub size: Option<u64>,
    /// Name within its tree, or full path with `-r`.
    pub name: Vec<u8>,
}

/// `git ls-tree -l -z [extra] TREEISH`, parsed (names are raw bytes).
pub fn ls_tree(dir: &Path, treeish: &str, extra: &[&str]) -> Vec<GitEntry> {
    let mut args = vec!["ls-tree", "-l", "-z"];
    args.extend_from_slice(extra);
    args.push(treeish);
    let out = git(dir, &args);
    out.split(|&b| b == 0)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let tab = l.iter().position(|&b| b == b'\t').expect("tab in ls-tree");
            let head = std::str::from_utf8(&l[..tab]).expect("ls-tree head");
            let w: Vec<&str> = head.split_whitespace().collect();
            assert_eq!(w.len(), 4, "ls-tree line {head:?}");
            GitEntry {
                mode: u32::from_str_radix(w[0], 8).expect("mode"),
                kind: w[1].to_string(),
                id: w[2].to_string(),
                size: (w[3] != "-").then(|| w[3].parse().expect("size")),
                name: l[tab + 1..].to_vec(),
            }
        })
        .collect()
}

pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Test VM settings with `image` attached.
pub fn disk_config(image: &Path) -> VmConfig {
    let mut c = gitfs_tests::config();
    c.app_args.retain(|a| a != "--no-disk");
    c.disk = Some(image.to_path_buf());
    c
}

/// A session on `image` over the serial console.
pub fn boot(image: &Path) -> Session {
    boot_on(image, Transport::Serial)
}

/// A session on `image` over `transport` (which it checks it got).
pub fn boot_on(image: &Path, transport: Transport) -> Session {
    match Session::boot_with(&disk_config(image), transport) {
        Ok(s) if transport == Transport::Auto || s.transport() == transport => s,
        Ok(s) => panic!("asked for {transport:?}, got {:?}", s.transport()),
        Err(e) => panic!("boot with {} failed: {e}", image.display()),
    }
}

/// Writes `data` at `root/rel` (any bytes in `rel`), creating the directories on the way.
pub fn write_file(root: &Path, rel: impl AsRef<[u8]>, data: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let p = root.join(std::ffi::OsStr::from_bytes(rel.as_ref()));
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, data).expect("write");
}

/// Printable form of a path for assertion messages.
pub fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

pub use gitfs_testkit::noise;

/// The protocol's kind for a `git ls-tree` entry.
pub fn kind_of(e: &GitEntry) -> gitfs_qemu::session::EntryKind {
    use gitfs_qemu::session::EntryKind;
    match (e.kind.as_str(), e.mode) {
        ("tree", _) => EntryKind::Dir,
        ("commit", _) => EntryKind::Submodule,
        (_, 0o100755) => EntryKind::Exec,
        (_, 0o120000) => EntryKind::Symlink,
        _ => EntryKind::File,
    }
}

/// `git init` of an oracle repository holding the tree of plain directory `src`
/// (`git add -A` + `git write-tree`); returns (oracle repo, tree id).
pub fn oracle_tree(src: &Path, oracle: &Path) -> (PathBuf, String) {
    std::fs::create_dir_all(oracle).expect("mkdir oracle");
    git(oracle, &["init", "-q"]);
    let wt = format!("--work-tree={}", src.display());
    git(oracle, &[&wt, "add", "-A"]);
    let tree = git_text(oracle, &["write-tree"]);
    (oracle.to_path_buf(), tree)
}

/// `ls` of directory `dir` equals `git ls-tree -l TREE:dir` (names in byte order).
pub fn check_listing(s: &mut Session, repo: &Path, tree: &str, dir: &[u8]) {
    let what = show(dir);
    let mut want = ls_tree(repo, &format!("{tree}:{what}"), &[]);
    want.sort_by(|a, b| a.name.cmp(&b.name));
    let got = s.ls(dir).unwrap_or_else(|e| panic!("ls {what}: {e}"));
    let got: Vec<_> = got
        .iter()
        .map(|r| (r.mode, r.kind, hex(&r.id), r.size, r.name.clone()))
        .collect();
    let want: Vec<_> = want
        .iter()
        .map(|e| (e.mode, kind_of(e), e.id.clone(), e.size, e.name.clone()))
        .collect();
    assert_eq!(got, want, "ls {what}");
}
