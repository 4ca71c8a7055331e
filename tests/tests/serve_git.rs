//! An image of a generated Git repository, served by the real kernel under QEMU TCG and
//! checked against stock git: every blob, listing, stat, digest, range and error.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gitfs_qemu::session::EntryKind;
use gitfs_qemu::{Error, Exit, Session, Transport};
use gitfs_tests::assert_gone;

mod common;
use common::{
    boot, boot_on, git, git_text, hex, kind_of, ls_tree, make_image, noise, show, write_file,
};

struct Fixture {
    repo: PathBuf,
    image: PathBuf,
}

const SUBMODULE_ID: &str = "0123456789abcdef0123456789abcdef01234567";
const BIG: &str = "big/three-mib.bin";

/// A repository with binary, empty, executable, symlink, non-ASCII, submodule, delta'd
/// and multi-MiB content; made once per test binary.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-git");
        let _ = std::fs::remove_dir_all(&dir);
        let repo = dir.join("repo");
        std::fs::create_dir_all(&repo).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["config", "core.autocrlf", "false"]);

        write_file(&repo, b"README.md", b"# test repo\n\nserved by gitfs\n");
        write_file(&repo, b"empty", b"");
        // Every byte value, dense in the ones the console mangles or the escape uses.
        let mut all: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        all.extend(std::iter::repeat_n([0x08u8, 0x7f, 0x10, 0x00, b'\n', b'\r'], 500).flatten());
        write_file(&repo, b"bin/all-bytes.bin", &all);
        write_file(&repo, b"bin/tool.sh", b"#!/bin/sh\necho tool\n");
        let tool = repo.join("bin/tool.sh");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let guide: String = (0..400)
            .map(|i| format!("line {i} of the guide\n"))
            .collect();
        write_file(&repo, b"docs/guide.md", guide.as_bytes());
        // A near copy: the imager stores one as a delta of the other.
        write_file(
            &repo,
            b"docs/guide-copy.md",
            guide.replace("line 200 ", "LINE 200 ").as_bytes(),
        );
        write_file(
            &repo,
            "docs/naïve café.txt".as_bytes(),
            "ünïcödé\n".as_bytes(),
        );
        write_file(&repo, b"docs/100%,+~ &x.txt", b"percent\n");
        write_file(&repo, "docs/ünï/ß.txt".as_bytes(), b"nested non-ASCII\n");
        write_file(
            &repo,
            b"docs-x/after-docs",
            b"sorts between docs and docs/ in git order\n",
        );
        write_file(&repo, b"deep/a/b/c/d/e/leaf.txt", b"leaf\n");
        // Three MiB: random and text halves (stored and deflated zlib blocks), and an
        // edited copy stored as a delta.
        let mut big = noise(1536 * 1024, 7);
        big.extend(guide.as_bytes().iter().cycle().take(1536 * 1024));
        write_file(&repo, BIG.as_bytes(), &big);
        big[1_000_000..1_000_100].fill(b'!');
        write_file(&repo, b"big/three-mib-edited.bin", &big);
        symlink("README.md", repo.join("link")).expect("symlink");
        symlink("docs", repo.join("dir-link")).expect("symlink");
        symlink("../nowhere/at all", repo.join("docs/dangling")).expect("symlink");
        git(&repo, &["add", "-A"]);
        git(
            &repo,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{SUBMODULE_ID},sub"),
            ],
        );
        git(&repo, &["commit", "-q", "-m", "test content"]);
        let image = dir.join("repo.img");
        make_image(&repo, &image, &[]);
        Fixture { repo, image }
    })
}

fn git_blob(repo: &Path, id: &str) -> Vec<u8> {
    git(repo, &["cat-file", "blob", id])
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Remote { code, .. }) => code,
        other => panic!("expected an error response, got {other:?}"),
    }
}

fn finish(s: Session) {
    let pid = s.pid();
    assert_eq!(s.quit().expect("quit"), Exit::Success);
    assert_gone(pid);
}

#[test]
fn every_entry_equals_git() {
    every_entry_equals_git_on(Transport::Serial);
}

#[test]
fn every_entry_equals_git_on_the_virtio_channel() {
    every_entry_equals_git_on(Transport::Virtio);
}

fn every_entry_equals_git_on(t: Transport) {
    let f = fixture();
    let mut s = boot_on(&f.image, t);
    let head = git_text(&f.repo, &["rev-parse", "HEAD"]);
    let tree = git_text(&f.repo, &["rev-parse", "HEAD^{tree}"]);
    let all = ls_tree(&f.repo, "HEAD", &["-r", "-t"]);
    let files = all
        .iter()
        .filter(|e| e.kind == "blob" && e.mode != 0o120000)
        .count();
    assert_eq!(s.ready().get("commit"), Some(head.as_str()));
    assert_eq!(s.ready().num("files"), Some(files as u64));
    let dirs = all.iter().filter(|e| e.kind == "tree").count();
    assert_eq!(s.ready().num("dirs"), Some(dirs as u64));

    for e in &all {
        let path = &e.name;
        let what = show(path);
        // stat: one record, full path as its name, as `git ls-tree -l`.
        let st = s
            .stat(path)
            .unwrap_or_else(|err| panic!("stat {what}: {err}"));
        assert_eq!(
            (st.mode, st.kind, hex(&st.id), st.size, &st.name),
            (e.mode, kind_of(e), e.id.clone(), e.size, path),
            "stat {what}"
        );
        // digest: `git rev-parse HEAD:path`.
        let (kind, id) = s
            .digest(path)
            .unwrap_or_else(|err| panic!("digest {what}: {err}"));
        assert_eq!((kind, &id), (kind_of(e), &e.id), "digest {what}");
        match e.kind.as_str() {
            "blob" => {
                let b = s
                    .get_blob(path)
                    .unwrap_or_else(|err| panic!("get {what}: {err}"));
                assert_eq!(
                    (b.kind, b.mode, &b.id),
                    (kind_of(e), e.mode, &e.id),
                    "{what}"
                );
                assert!(b.data == git_blob(&f.repo, &e.id), "bytes of {what} differ");
            }
            "tree" => assert_eq!(code(s.get(path)), "is-a-directory", "{what}"),
            _ => assert_eq!(code(s.get(path)), "unsupported", "submodule {what}"),
        }
    }
    // The root.
    assert_eq!(
        s.digest("").expect("digest /"),
        (EntryKind::Dir, tree.clone())
    );
    let root = s.stat("/").expect("stat /");
    assert_eq!(
        (root.kind, hex(&root.id), root.name.len()),
        (EntryKind::Dir, tree.clone(), 0)
    );
    let rev_parse = git_text(&f.repo, &["rev-parse", "HEAD:docs/ünï/ß.txt"]);
    assert_eq!(s.digest("docs/ünï/ß.txt").expect("digest").1, rev_parse);
    // info agrees with git.
    let info = s.info().expect("info");
    let get = |k: &str| {
        info.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("commit"), Some(head.as_str()));
    assert_eq!(get("tree"), Some(tree.as_str()));
    assert_eq!(get("files"), Some(files.to_string().as_str()));
    assert_eq!(get("symlinks"), Some("3"));
    assert_eq!(get("submodules"), Some("1"));
    assert_eq!(get("executables"), Some("1"));
    finish(s);
}

#[test]
fn listings_equal_git_ls_tree() {
    let f = fixture();
    let mut s = boot(&f.image);
    let mut dirs: Vec<Vec<u8>> = vec![Vec::new()];
    dirs.extend(
        ls_tree(&f.repo, "HEAD", &["-r", "-d"])
            .into_iter()
            .filter(|e| e.kind == "tree")
            .map(|e| e.name),
    );
    // A submodule is not a directory of the image.
    assert_eq!(code(s.ls("sub")), "not-a-directory");
    for d in &dirs {
        let what = show(d);
        let treeish = format!("HEAD:{what}");
        let mut expected = ls_tree(&f.repo, &treeish, &[]);
        let got = s.ls(d).unwrap_or_else(|err| panic!("ls {what}: {err}"));
        // The protocol lists in byte order of names (git sorts trees as `name/`).
        assert!(
            got.windows(2).all(|w| w[0].name < w[1].name),
            "ls {what} is not in byte order"
        );
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        let got: Vec<_> = got
            .iter()
            .map(|r| (r.mode, r.kind, hex(&r.id), r.size, r.name.clone()))
            .collect();
        let want: Vec<_> = expected
            .iter()
            .map(|e| (e.mode, kind_of(e), e.id.clone(), e.size, e.name.clone()))
            .collect();
        assert_eq!(got, want, "ls {what}");
        // A trailing slash is allowed on directories.
        if !d.is_empty() {
            let mut slash = d.clone();
            slash.push(b'/');
            assert_eq!(s.ls(&slash).expect("ls DIR/").len(), want.len());
        }
    }
    finish(s);
}

#[test]
fn ranges_equal_git_bytes() {
    let f = fixture();
    let mut s = boot(&f.image);
    let id = git_text(&f.repo, &["rev-parse", &format!("HEAD:{BIG}")]);
    let big = git_blob(&f.repo, &id);
    let n = big.len() as u64;
    for (off, len) in [
        (0, 100),
        (0, 1),
        (n / 2 - 3, 4096),
        (1_000_050, 100),
        (n - 10, 10),
        (n - 10, 1000),
        (n - 1, u64::MAX),
        (0, 0),
        (12345, 0),
        (n, 0),
        (n, 5),
    ] {
        let r = s
            .range_slice(BIG, off, len)
            .unwrap_or_else(|e| panic!("range {off} {len}: {e}"));
        assert_eq!((r.size, &r.id), (n, &id), "range {off} {len}");
        let end = off.saturating_add(len).min(n);
        assert!(
            r.data == big[off as usize..end as usize],
            "range {off} {len}: bytes differ"
        );
    }
    assert_eq!(code(s.range(BIG, n + 1, 1)), "bad-range");
    assert_eq!(code(s.range(BIG, u64::MAX, 1)), "bad-range");
    assert_eq!(s.range("empty", 0, 0).expect("empty range"), b"");
    assert_eq!(s.range("empty", 0, 10).expect("empty range"), b"");
    assert_eq!(code(s.range("empty", 1, 0)), "bad-range");
    let all = git_blob(
        &f.repo,
        &git_text(&f.repo, &["rev-parse", "HEAD:bin/all-bytes.bin"]),
    );
    assert!(s.range("bin/all-bytes.bin", 4000, 1000).expect("range") == all[4000..5000]);
    // A symlink's content is its target.
    assert_eq!(s.range("link", 2, 100).expect("range link"), b"ADME.md");
    assert_eq!(code(s.range("docs", 0, 1)), "is-a-directory");
    assert_eq!(code(s.range("nope", 0, 1)), "not-found");
    finish(s);
}

#[test]
fn every_error_answered_and_console_keeps_serving() {
    every_error_answered_on(Transport::Serial);
}

#[test]
fn every_error_answered_on_the_virtio_channel() {
    every_error_answered_on(Transport::Virtio);
}

fn every_error_answered_on(t: Transport) {
    let f = fixture();
    let mut s = boot_on(&f.image, t);
    let readme = git_blob(
        &f.repo,
        &git_text(&f.repo, &["rev-parse", "HEAD:README.md"]),
    );
    let still_serving = |s: &mut Session, what: &str| {
        s.ping()
            .unwrap_or_else(|e| panic!("ping after {what}: {e}"));
        assert!(
            s.get("README.md").expect("get after error") == readme,
            "after {what}"
        );
    };
    type Call = fn(&mut Session) -> Result<Vec<u8>, Error>;
    let calls: &[(&str, Call, &str)] = &[
        ("get nope", |s| s.get("nope"), "not-found"),
        ("get docs/nope", |s| s.get("docs/nope"), "not-found"),
        ("get docs", |s| s.get("docs"), "is-a-directory"),
        ("get /", |s| s.get("/"), "is-a-directory"),
        ("get docs/", |s| s.get("docs/"), "is-a-directory"),
        ("get README.md/", |s| s.get("README.md/"), "not-a-directory"),
        (
            "get README.md/x",
            |s| s.get("README.md/x"),
            "not-a-directory",
        ),
        (
            "ls README.md",
            |s| s.ls("README.md").map(|_| vec![]),
            "not-a-directory",
        ),
        ("ls nope", |s| s.ls("nope").map(|_| vec![]), "not-found"),
        ("stat nope", |s| s.stat("nope").map(|_| vec![]), "not-found"),
        (
            "digest nope",
            |s| s.digest("nope").map(|_| vec![]),
            "not-found",
        ),
        ("get ../README.md", |s| s.get("../README.md"), "bad-path"),
        (
            "get docs/../README.md",
            |s| s.get("docs/../README.md"),
            "bad-path",
        ),
        ("get ./README.md", |s| s.get("./README.md"), "bad-path"),
        ("get docs/.", |s| s.get("docs/."), "bad-path"),
        (
            "get docs//guide.md",
            |s| s.get("docs//guide.md"),
            "bad-path",
        ),
        ("get //README.md", |s| s.get("//README.md"), "bad-path"),
        ("ls ..", |s| s.ls("..").map(|_| vec![]), "bad-path"),
        ("get NUL", |s| s.get(b"docs/\0guide.md"), "bad-path"),
        ("get submodule", |s| s.get("sub"), "unsupported"),
        ("range dir", |s| s.range("deep/a", 0, 1), "is-a-directory"),
    ];
    for (what, call, want) in calls {
        assert_eq!(code(call(&mut s)), *want, "{what}");
        still_serving(&mut s, what);
    }
    let raw: Vec<(String, Vec<u8>, &str)> = vec![
        ("unknown".into(), b"@frobnicate x".to_vec(), "bad-request"),
        ("missing path".into(), b"@get".to_vec(), "bad-request"),
        (
            "extra argument".into(),
            b"@get README.md x".to_vec(),
            "bad-request",
        ),
        ("bad escape".into(), b"@get %zz".to_vec(), "bad-request"),
        (
            "bad number".into(),
            b"@range x 1 README.md".to_vec(),
            "bad-request",
        ),
        (
            "number overflow".into(),
            b"@range 18446744073709551616 1 README.md".to_vec(),
            "bad-request",
        ),
        (
            "range missing path".into(),
            b"@range 0 1".to_vec(),
            "bad-request",
        ),
        (
            "raw space in path".into(),
            b"@get docs/naive cafe.txt".to_vec(),
            "bad-request",
        ),
        (
            "overlong line".into(),
            [b"@".as_slice(), &[b'a'; 5000]].concat(),
            "too-long",
        ),
        (
            "overlong path".into(),
            [b"@get ".as_slice(), &b"d/".repeat(2100)].concat(),
            "too-long",
        ),
        (
            "4096 bytes exactly".into(),
            [b"@get ".as_slice(), &[b'z'; 4091]].concat(),
            "not-found",
        ),
    ];
    for (what, line, want) in &raw {
        match s.raw(line) {
            Ok(gitfs_qemu::session::Response::Err { code, .. }) => {
                assert_eq!(code, *want, "{what}")
            }
            other => panic!("{what}: expected {want}, got {other:?}"),
        }
        still_serving(&mut s, what);
    }
    // Blank lines and the human face in between do not disturb the framed face.
    s.vm()
        .console()
        .send_bytes(b"\n\r\n   \n")
        .expect("send blanks");
    still_serving(&mut s, "blank lines");
    finish(s);
}
