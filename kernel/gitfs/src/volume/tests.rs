//! The mount's semantics against stock git: every file's bytes, modes, sizes, link
//! resolution and the errno of every failure.

use std::sync::Arc;

use hermit_abi::errno;

use super::*;
use crate::fs::Fs;
use crate::tree::testimage::{corrupt_image, noise, Entry, Repo};

const NO_LIMIT: u64 = u64::MAX >> 2;

fn sample() -> (Repo, Volume<Vec<u8>>) {
    let big = noise(3 << 20, 11);
    let repo = Repo::new(&[
        Entry::file("a.txt", b"alpha\n"),
        Entry::file("empty", b""),
        Entry::file("docs/read me.md", b"spaces\n"),
        Entry::file("docs/été.txt", b"accents\n"),
        Entry::file("deep/a/b/c/d/e/f.txt", b"deep\n"),
        Entry::file("bin/big.bin", &big),
        Entry::exec("bin/run.sh", b"#!/bin/sh\necho hi\n"),
        Entry::symlink("link-file", "docs/read me.md"),
        Entry::symlink("link-dir", "deep/a"),
        Entry::symlink("deep/a/up", "../../a.txt"),
        Entry::symlink("deep/a/chain", "../../link-dir/b"),
        Entry::symlink("outside", "../etc/passwd"),
        Entry::symlink("absolute", "/etc/passwd"),
        Entry::symlink("dangling", "nope"),
        Entry::symlink("loop1", "loop2"),
        Entry::symlink("loop2", "loop1"),
        Entry::submodule("sub", "89abcdef0123456789abcdef0123456789abcdef"),
    ])
    .unwrap();
    let fs = Fs::open(repo.image().unwrap()).unwrap();
    let vol = Volume::new(fs, NO_LIMIT).unwrap();
    (repo, vol)
}

fn read_all(v: &Volume<Vec<u8>>, path: &str) -> Result<Vec<u8>, Errno> {
    let h = v.open(path.as_bytes())?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 7919];
    loop {
        let n = v.read(h, out.len() as u64, &mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    v.close(h);
    Ok(out)
}

fn git_blob(repo: &Repo, path: &str) -> Vec<u8> {
    repo.git(&["cat-file", "blob", &format!("HEAD:{path}")], None)
        .unwrap()
}

#[test]
fn every_file_reads_as_git_has_it() {
    let (repo, v) = sample();
    let list = repo
        .git(&["-c", "core.quotePath=false", "ls-tree", "-r", "-z", "-l", "HEAD"], None)
        .unwrap();
    let mut seen = 0;
    for rec in list.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rec = String::from_utf8(rec.to_vec()).unwrap();
        let (meta, path) = rec.split_once('\t').unwrap();
        let w: Vec<&str> = meta.split_whitespace().collect();
        let a = v.stat(path.as_bytes(), false).unwrap();
        match w[0] {
            "160000" => {
                assert!(a.is_dir(), "{path}");
                assert_eq!(v.read_dir(path.as_bytes()).unwrap(), vec![]);
                continue;
            }
            "120000" => {
                assert_eq!(a.mode, hermit_abi::S_IFLNK | 0o777);
                assert_eq!(v.read_link(path.as_bytes()).unwrap(), git_blob(&repo, path));
            }
            mode => {
                let want = if mode == "100755" { 0o755 } else { 0o644 };
                assert_eq!(a.mode, hermit_abi::S_IFREG | want, "{path}");
                assert_eq!(read_all(&v, path).unwrap(), git_blob(&repo, path), "{path}");
            }
        }
        assert_eq!(a.size.to_string(), w[3], "{path}");
        assert_eq!(a.mtime, 1_700_000_000);
        seen += 1;
    }
    assert_eq!(seen, 16);
    assert_eq!(v.open_count(), 0);
}

#[test]
fn links_resolve_inside_the_tree_only() {
    let (repo, v) = sample();
    let want = git_blob(&repo, "docs/read me.md");
    assert_eq!(read_all(&v, "link-file").unwrap(), want);
    assert_eq!(read_all(&v, "deep/a/up").unwrap(), b"alpha\n");
    assert_eq!(read_all(&v, "link-dir/b/c/d/e/f.txt").unwrap(), b"deep\n");
    assert_eq!(read_all(&v, "deep/a/chain/c/d/e/f.txt").unwrap(), b"deep\n");
    // stat follows, lstat does not.
    assert!(v.stat(b"link-dir", true).unwrap().is_dir());
    assert_eq!(v.stat(b"link-dir", false).unwrap().mode & hermit_abi::S_IFMT, hermit_abi::S_IFLNK);
    assert_eq!(v.stat(b"link-file", true).unwrap().size, want.len() as u64);
    for gone in ["outside", "absolute", "dangling", "link-dir/../../.."] {
        assert_eq!(v.stat(gone.as_bytes(), true), Err(errno::ENOENT), "{gone}");
        assert_eq!(v.open(gone.as_bytes()), Err(errno::ENOENT), "{gone}");
    }
    assert_eq!(v.stat(b"loop1", true), Err(errno::ELOOP));
    // The links themselves are there.
    assert!(v.stat(b"outside", false).is_ok());
    let names: Vec<Vec<u8>> = v.read_dir(b"link-dir").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, vec![b"b".to_vec(), b"chain".to_vec(), b"up".to_vec()]);
}

#[test]
fn links_resolve_as_the_host_resolves_them_in_a_checkout() {
    let (repo, v) = sample();
    let work = repo.dir().join("checkout");
    let arg = format!("--work-tree={}", work.display());
    std::fs::create_dir_all(&work).unwrap();
    repo.git(&[&arg, "checkout", "-f", "main", "--", "."], None).unwrap();
    // Links mixed with `..` (physical: `..` of a followed link is its target's
    // parent), trailing slashes, links through links; the oracle is Linux on the files
    // git wrote.
    for p in [
        "link-dir/../a/b/c/d/e/f.txt",
        "link-dir/../a.txt",
        "link-dir/up",
        "deep/a/chain/../up",
        "deep/a/chain/./c/../c/d/e/f.txt",
        "link-file/",
        "link-dir/",
        "link-dir",
        "dangling/x",
        "loop1/x",
        "docs/read me.md/..",
    ] {
        let host = std::fs::read(work.join(p)).map_err(|e| e.raw_os_error().unwrap());
        assert_eq!(read_all(&v, p), host, "{p}");
    }
}

#[test]
fn paths_are_normalised_like_posix() {
    let (_repo, v) = sample();
    for same in ["a.txt", "./a.txt", "docs/../a.txt", "deep//a/../../a.txt"] {
        assert_eq!(read_all(&v, same).unwrap(), b"alpha\n", "{same}");
    }
    assert!(v.stat(b"", true).unwrap().is_dir());
    assert!(v.stat(b"docs/", true).unwrap().is_dir());
    assert_eq!(v.stat(b"a.txt/", true), Err(errno::ENOTDIR));
    assert_eq!(v.stat(b"a.txt/..", true), Err(errno::ENOTDIR));
    assert_eq!(v.stat(b"..", true), Err(errno::ENOENT));
}

#[test]
fn errors_have_their_errno() {
    let (_repo, v) = sample();
    assert_eq!(v.open(b"nope"), Err(errno::ENOENT));
    assert_eq!(v.open(b"docs"), Err(errno::EISDIR));
    assert_eq!(v.open(b"sub"), Err(errno::EISDIR));
    assert_eq!(v.open(b"a.txt/x"), Err(errno::ENOTDIR));
    assert_eq!(v.read_dir(b"a.txt"), Err(errno::ENOTDIR));
    assert_eq!(v.read_dir(b"nope"), Err(errno::ENOENT));
    assert_eq!(v.read_link(b"a.txt"), Err(errno::EINVAL));
    assert_eq!(v.read(99, 0, &mut [0; 4]), Err(errno::EBADF));
    assert_eq!(v.fstat(99), Err(errno::EBADF));
}

#[test]
fn reads_at_any_offset() {
    let (repo, v) = sample();
    let want = git_blob(&repo, "bin/big.bin");
    let h = v.open(b"bin/big.bin").unwrap();
    assert_eq!(v.fstat(h).unwrap().size, want.len() as u64);
    let mut x: u64 = 12345;
    for _ in 0..200 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let off = (x >> 33) % (want.len() as u64 + 10);
        let len = ((x >> 13) % 70_000) as usize;
        let mut buf = vec![0u8; len];
        let n = v.read(h, off, &mut buf).unwrap();
        let start = (off as usize).min(want.len());
        let end = (start + len).min(want.len());
        assert_eq!(&buf[..n], &want[start..end], "{off}+{len}");
    }
    v.close(h);
    assert_eq!(v.read(h, 0, &mut [0; 1]), Err(errno::EBADF));
}

#[test]
fn handles_stay_distinct_while_open_and_die_at_close() {
    let (repo, v) = sample();
    let paths = ["a.txt", "docs/read me.md", "empty", "bin/run.sh"];
    let handles: Vec<u64> = paths.iter().map(|p| v.open(p.as_bytes()).unwrap()).collect();
    for (i, h) in handles.iter().enumerate() {
        assert_ne!(*h, 0);
        assert!(!handles[..i].contains(h), "{handles:?}");
    }
    assert_eq!(v.open_count(), paths.len());
    // Closing one leaves the others reading their own file; a closed handle is dead,
    // and closing it again changes nothing.
    v.close(handles[1]);
    v.close(handles[1]);
    assert_eq!(v.fstat(handles[1]), Err(errno::EBADF));
    for (p, h) in paths.iter().zip(&handles).filter(|(_, h)| **h != handles[1]) {
        let mut buf = vec![0u8; 64];
        let n = v.read(*h, 0, &mut buf).unwrap();
        assert_eq!(&buf[..n], &git_blob(&repo, p)[..], "{p}");
    }
    // A new file may take the closed one's handle, and then reads as itself.
    let again = v.open(b"deep/a/b/c/d/e/f.txt").unwrap();
    let mut buf = [0u8; 16];
    let n = v.read(again, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"deep\n");
    for h in handles.iter().chain([&again]) {
        v.close(*h);
    }
    assert_eq!(v.open_count(), 0);
    for h in [0, u64::MAX, again] {
        assert_eq!(v.read(h, 0, &mut buf), Err(errno::EBADF));
    }
}

#[test]
fn large_files_are_refused_not_crashing() {
    let repo = Repo::new(&[Entry::file("big", &noise(100_000, 3)), Entry::file("small", b"s")]).unwrap();
    let v = Volume::new(Fs::open(repo.image().unwrap()).unwrap(), 50_000).unwrap();
    assert_eq!(v.open(b"big"), Err(errno::EFBIG));
    assert_eq!(v.stat(b"big", true).unwrap().size, 100_000);
    assert_eq!(read_all(&v, "small").unwrap(), b"s");
}

#[test]
fn corrupt_blobs_give_eio_not_bytes() {
    let v = Volume::new(Fs::open(corrupt_image("m").unwrap()).unwrap(), NO_LIMIT).unwrap();
    assert_eq!(v.open(b"m"), Err(errno::EIO));
    assert_eq!(read_all(&v, "ok").unwrap(), b"fine");
}

#[test]
fn eight_threads_read_different_files() {
    let files: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| (format!("f{i}.bin"), noise(200_000 + i * 1000, i as u64)))
        .collect();
    let entries: Vec<Entry> = files.iter().map(|(p, d)| Entry::file(p, d)).collect();
    let repo = Repo::new(&entries).unwrap();
    let v = Arc::new(Volume::new(Fs::open(repo.image().unwrap()).unwrap(), NO_LIMIT).unwrap());
    let threads: Vec<_> = files
        .into_iter()
        .map(|(p, d)| {
            let v = Arc::clone(&v);
            std::thread::spawn(move || {
                for _ in 0..5 {
                    assert_eq!(read_all(&v, &p).unwrap(), d, "{p}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
