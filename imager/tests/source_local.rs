//! Local Git sources against stock git: every revision form, bare and file://,
//! gitlinks, errors, determinism.

mod common;
mod source_support;

use gitfs_imager::source::{load, SourceError, SourceOptions};
use source_support::{assert_matches_git, fixture_repo, git, rev_parse};

fn opts(rev: Option<&str>) -> SourceOptions {
    SourceOptions {
        rev: rev.map(str::to_string),
        date: None,
    }
}

fn fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    fixture_repo(tmp.path());
    tmp
}

#[test]
fn every_revision_form_matches_git() {
    let tmp = fixture();
    let repo = tmp.path();
    let src = repo.to_str().expect("utf-8 temp path");
    let head1 = rev_parse(repo, "HEAD~1");
    let short = &head1[..9];
    for rev in [
        "HEAD", "HEAD~1", "HEAD~2", "main", "v1.0", "light", &head1, short, "main^",
    ] {
        let snap = load(src, &opts(Some(rev))).unwrap_or_else(|e| panic!("{rev}: {e}"));
        assert_eq!(snap.rev, rev);
        assert_matches_git(repo, rev, &snap);
    }
    let default = load(src, &opts(None)).expect("default rev");
    assert_eq!(default.rev, "HEAD");
    assert_matches_git(repo, "HEAD", &default);
}

#[test]
fn annotated_tag_is_peeled_to_its_commit() {
    let tmp = fixture();
    let repo = tmp.path();
    let snap = load(repo.to_str().expect("path"), &opts(Some("v1.0"))).expect("load tag");
    let tag = rev_parse(repo, "v1.0");
    assert_ne!(
        snap.commit.to_string(),
        tag,
        "the tag object itself is not the commit"
    );
    assert_eq!(snap.commit.to_string(), rev_parse(repo, "HEAD~1"));
    assert!(snap.objects.iter().all(|o| o.id.to_string() != tag));
}

#[test]
fn gitlink_is_kept_in_the_tree_but_not_followed() {
    let tmp = fixture();
    let repo = tmp.path();
    let ls = git(repo, ["ls-tree", "HEAD", "sub"]);
    assert!(ls.starts_with("160000 commit 1234567890abcdef"), "{ls}");
    let snap = load(repo.to_str().expect("path"), &opts(None)).expect("load");
    assert!(snap
        .objects
        .iter()
        .all(|o| o.id.to_string() != "1234567890abcdef1234567890abcdef12345678"));
    assert_matches_git(repo, "HEAD", &snap);
}

#[test]
fn paths_are_those_of_first_occurrence() {
    let tmp = fixture();
    let repo = tmp.path();
    let snap = load(repo.to_str().expect("path"), &opts(Some("HEAD~2"))).expect("load");
    let path_of = |p: &[u8]| snap.objects.iter().find(|o| o.path == p).map(|o| o.id);
    let blob = rev_parse(repo, "HEAD~2:deep/a/b/c/d/e/f/g/h/leaf.txt");
    assert_eq!(
        path_of(b"deep/a/b/c/d/e/f/g/h/leaf.txt").map(|i| i.to_string()),
        Some(blob)
    );
    let tree = rev_parse(repo, "HEAD~2:deep/a");
    assert_eq!(path_of(b"deep/a").map(|i| i.to_string()), Some(tree));
    assert!(snap.objects.iter().any(|o| o.path == b"raw-\xff\xfe.bin"));
    // "same\n" is in data/dup2.txt and dup1.txt: stored once, under the first path in tree order.
    let same = rev_parse(repo, "HEAD~2:dup1.txt");
    let dups: Vec<_> = snap
        .objects
        .iter()
        .filter(|o| o.id.to_string() == same)
        .collect();
    assert_eq!(dups.len(), 1);
    assert_eq!(dups[0].path, b"data/dup2.txt");
}

#[test]
fn bare_repository_and_file_url() {
    let tmp = fixture();
    let bare = tempfile::tempdir().expect("tempdir");
    let bare_path = bare.path().join("repo.git");
    git(
        tmp.path(),
        [
            "clone".as_ref(),
            "-q".as_ref(),
            "--bare".as_ref(),
            tmp.path().as_os_str(),
            bare_path.as_os_str(),
        ],
    );
    let src = bare_path.to_str().expect("path");
    let snap = load(src, &opts(Some("v1.0"))).expect("bare");
    assert_matches_git(&bare_path, "v1.0", &snap);
    let url = format!("file://{src}");
    let via_url = load(&url, &opts(Some("v1.0"))).expect("file://");
    assert_eq!(via_url, snap);
    let work = format!("file://{}", tmp.path().display());
    let head = load(&work, &opts(None)).expect("file:// work tree");
    assert_matches_git(tmp.path(), "HEAD", &head);
}

#[test]
fn two_loads_are_identical() {
    let tmp = fixture();
    let src = tmp.path().to_str().expect("path");
    let a = load(src, &opts(None)).expect("a");
    let b = load(src, &opts(None)).expect("b");
    assert_eq!(a, b);
}

fn one_line(e: &SourceError) -> String {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
    assert!(msg.len() < 300, "long error: {msg}");
    msg
}

#[test]
fn errors_are_one_line() {
    let tmp = fixture();
    let src = tmp.path().to_str().expect("path");

    let missing = tmp.path().join("no/such/dir");
    let e = load(missing.to_str().expect("path"), &opts(None)).expect_err("missing");
    assert!(matches!(e, SourceError::NotFound(_)), "{e:?}");
    assert!(one_line(&e).contains("no/such/dir"));

    let e = load(src, &opts(Some("no-such-branch"))).expect_err("unknown rev");
    assert!(
        matches!(e, SourceError::UnknownRevision(ref r) if r == "no-such-branch"),
        "{e:?}"
    );
    assert_eq!(one_line(&e), "unknown revision: no-such-branch");

    let e = load(src, &opts(Some("HEAD~99"))).expect_err("too far back");
    assert!(matches!(e, SourceError::UnknownRevision(_)), "{e:?}");

    let e = load(src, &opts(Some("HEAD^{tree}"))).expect_err("a tree is no commit");
    assert!(matches!(e, SourceError::NotACommit { .. }), "{e:?}");
    one_line(&e);

    let file = tmp.path().join("README.md");
    let e = load(file.to_str().expect("path"), &opts(None)).expect_err("a file");
    assert!(matches!(e, SourceError::NotADirectory(_)), "{e:?}");

    let plain = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", plain.path().display());
    let e = load(&url, &opts(None)).expect_err("file:// of a plain dir");
    assert!(matches!(e, SourceError::NotARepository(_)), "{e:?}");

    std::fs::write(plain.path().join("f"), b"x").expect("write");
    let e =
        load(plain.path().to_str().expect("path"), &opts(Some("HEAD"))).expect_err("rev on dir");
    assert!(matches!(e, SourceError::RevOnDirectory { .. }), "{e:?}");
    one_line(&e);
}

#[test]
fn order_and_paths_follow_git_rev_list() {
    let tmp = fixture();
    let repo = tmp.path();
    for rev in ["HEAD", "HEAD~2"] {
        let snap = load(repo.to_str().expect("path"), &opts(Some(rev))).expect("load");
        let commit = rev_parse(repo, &format!("{rev}^{{commit}}"));
        let out = source_support::git_cmd(repo)
            .args(["rev-list", "--objects", "--no-walk", &commit])
            .output()
            .expect("rev-list");
        assert!(out.status.success());
        let listed: Vec<(String, Vec<u8>)> = out
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let id = String::from_utf8_lossy(&l[..40]).into_owned();
                let path = l.get(41..).unwrap_or(b"").to_vec();
                (id, path)
            })
            .collect();
        let ours: Vec<(String, Vec<u8>)> = snap
            .objects
            .iter()
            .map(|o| (o.id.to_string(), o.path.clone()))
            .collect();
        assert_eq!(ours, listed, "{rev}");
    }
}
