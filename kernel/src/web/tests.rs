//! The adapter against stock git, through the HTTP server's own byte-level entry point.

use super::*;
use gitfs::tree::testimage::{corrupt_image, noise, Entry, Repo};

fn sample() -> (Repo, HttpFs<Vec<u8>>) {
    let repo = Repo::new(&[
        Entry::file("index.html", b"<p>home</p>\n"),
        Entry::file("a.txt", b"alpha\n"),
        Entry::file("dir/big.bin", &noise(200_000, 3)),
        Entry::file("dir/big2.bin", &noise(150_000, 5)),
        Entry::exec("dir/run.sh", b"#!/bin/sh\n"),
        Entry::symlink("ln", "dir/run.sh"),
        Entry::symlink("out", "../etc/passwd"),
    ])
    .unwrap();
    let fs = Fs::open(repo.image().unwrap()).unwrap();
    (repo, HttpFs::new(fs))
}

fn get(c: &mut impl Content, target: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n");
    let out = gitfs_http::respond(c, req.as_bytes(), &Limits::default());
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(out[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head, out[end + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn files_match_git_cat_file() {
    let (repo, mut web) = sample();
    for p in [
        "index.html",
        "a.txt",
        "dir/big.bin",
        "dir/big2.bin",
        "dir/run.sh",
    ] {
        let want = repo
            .git(&["cat-file", "blob", &format!("HEAD:{p}")], None)
            .unwrap();
        let id = repo.git_text(&["rev-parse", &format!("HEAD:{p}")]).unwrap();
        let (status, head, body) = get(&mut web, &format!("/{p}"), "");
        assert_eq!(status, 200, "{p}");
        assert_eq!(body, want, "{p}");
        assert_eq!(
            header(&head, "etag"),
            Some(format!("\"{}\"", id.trim()).as_str())
        );
    }
    // A link inside the tree is followed; one leaving it is not.
    let (status, _, body) = get(&mut web, "/ln", "");
    assert_eq!((status, &body[..]), (200, &b"#!/bin/sh\n"[..]));
    assert_eq!(get(&mut web, "/out", "").0, 404);
    assert_eq!(get(&mut web, "/%2e%2e/a.txt", "").0, 400);
    assert_eq!(get(&mut web, "/dir/%2e%2e/a.txt", "").2, b"alpha\n");
}

#[test]
fn last_modified_is_the_commit_time() {
    let (repo, web) = sample();
    let t = repo.git_text(&["log", "-1", "--format=%ct"]).unwrap();
    assert_eq!(web.last_modified(), t.trim().parse::<u64>().unwrap());
    assert!(web.last_modified() > 0);
}

#[test]
fn listing_and_index() {
    let (_repo, mut web) = sample();
    let (status, _, body) = get(&mut web, "/", "");
    assert_eq!((status, &body[..]), (200, &b"<p>home</p>\n"[..]));
    let (status, _, body) = get(&mut web, "/dir/", "");
    assert_eq!(status, 200);
    let page = String::from_utf8(body).unwrap();
    for name in ["big.bin", "big2.bin", "run.sh"] {
        assert!(page.contains(&format!("href=\"./{name}\"")), "{page}");
    }
    assert!(page.contains("200000"));
    assert_eq!(get(&mut web, "/dir", "").0, 301);
    assert_eq!(get(&mut web, "/nope", "").0, 404);
}

#[test]
fn shared_blobs_are_verified_once_while_held() {
    let (_repo, mut web) = sample();
    let a = web.blob(b"dir/big.bin").unwrap().unwrap();
    let before = web.fs.image().cache_stats().inflated;
    let b = web.blob(b"dir/big2.bin").unwrap().unwrap();
    let after_b = web.fs.image().cache_stats().inflated;
    assert!(after_b > before);
    // Both stay readable after the cache moved on; asking again for b costs nothing.
    assert_eq!(a.len(), 200_000);
    assert_eq!(b.len(), 150_000);
    let b2 = web.blob(b"dir/big2.bin").unwrap().unwrap();
    assert!(Arc::ptr_eq(&b, &b2));
    assert_eq!(web.fs.image().cache_stats().inflated, after_b);
}

#[test]
fn corruption_is_a_500_never_bytes() {
    let mut web = HttpFs::new(Fs::open(corrupt_image("m.txt").unwrap()).unwrap());
    let (status, _, body) = get(&mut web, "/m.txt", "");
    assert_eq!(status, 500);
    assert!(!body.windows(6).any(|w| w == b"MARKER" || w == b"MARkER"));
    assert_eq!(get(&mut web, "/m.txt", "Range: bytes=0-3\r\n").0, 500);
    assert_eq!(get(&mut web, "/ok", "").2, b"fine");
}

#[test]
fn loopback_listener_serves_connections() {
    use std::io::{Read, Write};
    let (_repo, web) = sample();
    let listener = listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    spawn_server(listener, Shared::new(web)).unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(out.starts_with(b"HTTP/1.1 200"));
    assert!(out.ends_with(b"\r\n\r\nalpha\n"));
}
