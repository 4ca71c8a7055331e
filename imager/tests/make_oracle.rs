//! `imager make` against stock git: trees, files, listings, PACK/IDX, verify.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::*;

fn make(source: &Path, image: &Path, extra: &[&str]) {
    let out = imager()
        .arg("make")
        .arg(source)
        .arg(image)
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("run imager");
    assert!(
        out.status.success(),
        "make failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn info_json(image: &Path) -> serde_json::Value {
    let out = imager()
        .arg("info")
        .arg(image)
        .arg("--json")
        .output()
        .expect("run imager");
    assert!(
        out.status.success(),
        "info failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("info --json is JSON")
}

fn ok_stdout(args: &[&OsStr]) -> Vec<u8> {
    let out = run_imager(args);
    assert!(
        out.status.success(),
        "imager {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every check that has git as the oracle, for an image of `tree_ish` in `repo`.
fn check_against_git(repo: &Path, image: &Path, tree_ish: &str, work: &Path) {
    let info = info_json(image);
    let tree = git_str(repo, &["rev-parse", &format!("{tree_ish}^{{tree}}")]);
    // The near-identical pages must have become deltas, or the PACK checks prove little.
    assert!(
        info["ofs_deltas"].as_u64().unwrap_or(0) >= 30,
        "deltas: {}",
        info["ofs_deltas"]
    );
    assert_eq!(info["tree"].as_str(), Some(tree.as_str()), "root tree id");

    // ls -r has exactly git ls-tree -r's format.
    let ls = ok_stdout(&[OsStr::new("ls"), image.as_os_str(), OsStr::new("-r")]);
    let expected = git(repo, &["ls-tree", "-r", tree_ish]);
    assert_eq!(
        String::from_utf8_lossy(&ls),
        String::from_utf8_lossy(&expected)
    );

    // -l adds sizes as `git ls-tree -l` does; without -r one directory is listed.
    for (ours, theirs) in [
        (vec!["-r", "-l"], vec!["-r", "-l", tree_ish]),
        (vec![], vec![tree_ish]),
        (vec!["-l"], vec!["-l", tree_ish]),
        (vec!["site"], vec![tree_ish, "site/"]),
    ] {
        let mut args = vec![OsStr::new("ls"), image.as_os_str()];
        args.extend(ours.iter().map(OsStr::new));
        let got = ok_stdout(&args);
        let mut theirs_args = vec!["ls-tree"];
        theirs_args.extend(theirs);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&git(repo, &theirs_args)),
            "ls {ours:?}"
        );
    }

    // Every file's bytes equal git's blob.
    let listing = git(repo, &["ls-tree", "-r", "-z", tree_ish]);
    let mut files = 0;
    for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = rec.iter().position(|&b| b == b'\t').expect("tab");
        let meta = std::str::from_utf8(&rec[..tab]).expect("ascii");
        let path = std::str::from_utf8(&rec[tab + 1..]).expect("utf-8 path");
        let mut parts = meta.split(' ');
        let (_mode, kind, id) = (
            parts.next().expect("mode"),
            parts.next().expect("kind"),
            parts.next().expect("id"),
        );
        if kind != "blob" {
            continue;
        }
        let got = ok_stdout(&[OsStr::new("cat"), image.as_os_str(), OsStr::new(path)]);
        assert_eq!(
            got,
            git(repo, &["cat-file", "blob", id]),
            "content of {path}"
        );
        files += 1;
    }
    assert!(files > 40, "only {files} files checked");

    // The PACK passes git index-pack --strict and gives our IDX byte for byte.
    let bytes = std::fs::read(image).expect("read image");
    assert_eq!(bytes.len() % 4096, 0);
    let ((po, pl), (io, il)) = sections(&bytes);
    assert_eq!((po % 4096, io % 4096), (0, 0));
    // A root commit must stand alone: check it in an empty repository. A commit with
    // parents names objects the image leaves out by design, so --strict's
    // connectivity check runs in the source repository, which has them.
    let root_commit = tree_ish.len() == 40
        || !git_str(repo, &["rev-list", "--parents", "-n1", tree_ish]).contains(' ');
    let check = if root_commit {
        let c = work.join("check.git");
        if !c.exists() {
            git(work, &["init", "-q", "--bare", "check.git"]);
        }
        c
    } else {
        repo.to_path_buf()
    };
    let pack = work.join("x.pack");
    let idx = work.join("x.idx");
    let _ = std::fs::remove_file(&idx);
    std::fs::write(&pack, &bytes[po..po + pl]).expect("write pack");
    git(
        &check,
        &[
            "index-pack",
            "--strict",
            "-o",
            idx.to_str().expect("utf-8"),
            pack.to_str().expect("utf-8"),
        ],
    );
    assert!(
        std::fs::read(&idx).expect("git idx") == bytes[io..io + il],
        "IDX differs from git's"
    );
    // As git lays a pack out: commits, then all trees, then blobs (the unikernel reads
    // every tree at boot, in one run).
    let listing = git(&check, &["verify-pack", "-v", idx.to_str().expect("utf-8")]);
    let mut by_offset: Vec<(u64, String)> = String::from_utf8_lossy(&listing)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let is_id = f.first()?.len() == 40;
            (is_id && f.len() >= 5).then(|| (f[4].parse().expect("offset"), f[1].to_string()))
        })
        .collect();
    by_offset.sort();
    const KINDS: [&str; 3] = ["commit", "tree", "blob"];
    let rank = |t: &str| KINDS.iter().position(|k| *k == t);
    let ranks: Vec<_> = by_offset
        .iter()
        .map(|(_, t)| rank(t).expect("object type"))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "pack order: {by_offset:?}"
    );
    let counts: Vec<u64> = KINDS
        .iter()
        .map(|k| info["kinds"][k]["count"].as_u64().expect("count"))
        .collect();
    for (r, want) in counts.iter().enumerate() {
        let got = ranks.iter().filter(|&&x| x == r).count() as u64;
        assert_eq!(got, *want, "{} objects in the pack", KINDS[r]);
    }

    // verify passes and names the commit.
    let v = ok_stdout(&[OsStr::new("verify"), image.as_os_str()]);
    let commit = info["commit"].as_str().expect("commit").to_string();
    assert!(String::from_utf8_lossy(&v).contains(&commit));
}

#[test]
fn git_repositories_match_git() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = make_repo(tmp.path());
    for (i, rev) in ["HEAD", "HEAD~1", "v-first", "main"]
        .into_iter()
        .enumerate()
    {
        let image = tmp.path().join(format!("img{i}"));
        make(&repo, &image, &["--rev", rev]);
        check_against_git(&repo, &image, rev, tmp.path());
        let info = info_json(&image);
        assert_eq!(
            info["commit"].as_str(),
            Some(git_str(&repo, &["rev-parse", &format!("{rev}^{{commit}}")]).as_str())
        );
    }
    // Default revision is HEAD; file:// works like a path.
    let a = tmp.path().join("default.img");
    make(&repo, &a, &[]);
    let b = tmp.path().join("url.img");
    make(
        Path::new(&format!("file://{}", repo.display())),
        &b,
        &["--rev", "HEAD"],
    );
    assert_eq!(info_json(&a)["tree"], info_json(&b)["tree"]);
}

/// Copies `dir` to `copy`, makes it a repository with everything added, and returns
/// the tree id `git write-tree` gives: the oracle for an image of a directory.
fn git_tree_of_copy(dir: &Path, copy: &Path) -> String {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(dir)
        .arg(copy)
        .status()
        .expect("cp");
    assert!(status.success());
    git(copy, &["init", "-q"]);
    git(copy, &["add", "-A"]);
    git_str(copy, &["write-tree"])
}

#[test]
fn directory_matches_git_write_tree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("dir");
    std::fs::create_dir_all(dir.join("emptydir/dirs/are/skipped")).expect("mkdir");
    fill_tree(&dir, 7, 0);
    let image = tmp.path().join("dir.img");
    make(&dir, &image, &["--date", "2024-01-02T03:04:05Z"]);

    let copy = tmp.path().join("copy");
    let tree = git_tree_of_copy(&dir, &copy);
    assert_eq!(info_json(&image)["tree"].as_str(), Some(tree.as_str()));
    // Use the copy's repository as the oracle for the synthesised tree.
    check_against_git(&copy, &image, &tree, tmp.path());

    // The same content elsewhere (under a name with a space) gives the same bytes:
    // nothing of the builder's path is in the image.
    let moved = tmp.path().join("moved dir");
    std::fs::rename(&dir, &moved).expect("rename");
    let again = tmp.path().join("again.img");
    make(&moved, &again, &["--date", "2024-01-02T03:04:05Z"]);
    let bytes = std::fs::read(&image).expect("image");
    assert!(bytes == std::fs::read(&again).expect("again"));
    assert_eq!(info_json(&image)["rev"].as_str(), Some(""));
    let path = tmp.path().as_os_str().as_encoded_bytes();
    assert!(!bytes.windows(path.len()).any(|w| w == path));
}

#[test]
fn same_input_gives_identical_images() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = make_repo(tmp.path());
    let a = tmp.path().join("a.img");
    let b = tmp.path().join("b.img");
    make(&repo, &a, &[]);
    make(&repo, &b, &[]);
    assert!(std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"));
    // Also for a directory with a date from SOURCE_DATE_EPOCH.
    let dir = tmp.path().join("dir");
    fill_tree(&dir, 3, 1);
    for name in ["c.img", "d.img"] {
        let out = imager()
            .env("SOURCE_DATE_EPOCH", "1234567890")
            .args([
                OsStr::new("make"),
                dir.as_os_str(),
                tmp.path().join(name).as_os_str(),
                OsStr::new("-q"),
            ])
            .output()
            .expect("run");
        assert!(out.status.success());
    }
    assert!(
        std::fs::read(tmp.path().join("c.img")).expect("c")
            == std::fs::read(tmp.path().join("d.img")).expect("d")
    );
}

#[test]
fn flipped_bytes_fail_verify() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = make_repo(tmp.path());
    let image = tmp.path().join("good.img");
    make(&repo, &image, &[]);
    let good = std::fs::read(&image).expect("read");
    let ((po, pl), (io, il)) = sections(&good);
    let bad = tmp.path().join("bad.img");
    let mut rng = Xorshift::new(99);
    for n in 0..200 {
        // Half in the PACK, half in the IDX, plus both ends of each.
        let pos = match n {
            0 => po,
            1 => po + pl - 1,
            2 => io,
            3 => io + il - 1,
            _ if n % 2 == 0 => po + (rng.next_u64() as usize) % pl,
            _ => io + (rng.next_u64() as usize) % il,
        };
        let mut img = good.clone();
        img[pos] ^= 1 << (rng.next_u64() % 8);
        std::fs::write(&bad, &img).expect("write");
        let out = run_imager(&[OsStr::new("verify"), bad.as_os_str()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "flip at {pos} (PACK {po}+{pl}, IDX {io}+{il}) not detected"
        );
        assert!(!err.contains("panicked"), "panic at {pos}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");
    }
}

#[test]
fn large_near_identical_files_read_back_through_long_copies() {
    // Copy ops reach 16 MiB each: a second 3 MiB file that differs only at its end
    // is a delta of a few bytes. Readers that assumed 64 KiB per delta command
    // refused such deltas; git must accept the PACK and every file must read back.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("dir");
    fill_tree(&dir, 11, 0);
    let big = gitfs_testkit::Xorshift::new(42).bytes(3 << 20);
    // One name in two directories: one name hash, so one search segment.
    for d in ["v1", "v2"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::write(dir.join("v1/big.bin"), &big).expect("write");
    let mut second = big.clone();
    second.extend_from_slice(b"one more line\n");
    std::fs::write(dir.join("v2/big.bin"), &second).expect("write");
    let image = tmp.path().join("dir.img");
    make(&dir, &image, &[]);

    let copy = tmp.path().join("copy");
    let tree = git_tree_of_copy(&dir, &copy);
    check_against_git(&copy, &image, &tree, tmp.path());
    // One of the two is a delta of the other, far smaller than 64 KiB per MiB.
    let pack_len = info_json(&image)["pack"]["length"]
        .as_u64()
        .expect("pack length");
    assert!(pack_len < (3 << 20) + (1 << 20), "PACK of {pack_len} bytes");
}
