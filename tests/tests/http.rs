//! The unikernel as a web server, under TCG: an image of a generated git repository,
//! served over virtio-net through a 127.0.0.1 forward, checked with an HTTP client
//! (`ureq`, raw sockets for malformed requests) against stock git.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::{git, git_text, make_image, noise};
use gitfs_qemu::http::{boot_http, free_port, http_config};
use gitfs_qemu::{Artifacts, Session};
use gitfs_tests::{assert_gone, scratch, Scratch};

const BIG_LEN: usize = 6 << 20;

/// A repository with pages, a listing-only directory, odd names, links in and out of
/// the tree, an executable and a large file; returns (scratch, repo dir, image).
fn fixture(name: &str) -> (Scratch, std::path::PathBuf, std::path::PathBuf) {
    let s = scratch(name);
    let repo = s.join("repo");
    let w = |p: &str, data: &[u8]| {
        let f = repo.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    };
    std::fs::create_dir_all(&repo).unwrap();
    w("index.html", b"<h1>home</h1>\n");
    w("a.txt", b"alpha\n");
    w("style.css", b"body { color: red }\n");
    w("docs/index.html", b"<p>docs</p>\n");
    w("docs/guide.md", &b"# Guide\n".repeat(500));
    w("files/one.txt", b"one\n");
    w("files/two words.txt", b"two\n");
    w("files/caf\u{e9} & <b>.txt", b"odd name\n");
    w("files/nested/deep.json", b"{\"deep\": true}\n");
    w("bin/run.sh", b"#!/bin/sh\necho run\n");
    w("big.bin", &noise(BIG_LEN, 11));
    w("medium.bin", &noise(300_000, 12));
    w("empty", b"");
    git(&repo, &["init", "-q"]);
    std::os::unix::fs::symlink("docs/guide.md", repo.join("guide-link")).unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", repo.join("files/escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.join("abs-link")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["update-index", "--chmod=+x", "bin/run.sh"]);
    git(&repo, &["commit", "-q", "-m", "site"]);
    let image = s.join("site.img");
    make_image(&repo, &image, &[]);
    (s, repo, image)
}

/// Boots the http kernel with `image`; (session, base URL, host port).
fn boot(image: &Path) -> (Session, String, u16) {
    let mut config = common::disk_config(image);
    let root = gitfs_qemu::artifacts::repo_root();
    config.artifacts = Some(Artifacts::find_or_build_http(&root).expect("http kernel"));
    let port = free_port().expect("free port");
    let config = http_config(config, port).expect("http config");
    let vm = boot_http(&config).unwrap_or_else(|e| panic!("boot: {e}"));
    let s = Session::new(vm).expect("session");
    (s, format!("http://127.0.0.1:{port}"), port)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn body(resp: &mut ureq::http::Response<ureq::Body>) -> Vec<u8> {
    resp.body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("body")
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

fn pct_encode(path: &[u8]) -> String {
    let mut s = String::new();
    for &b in path {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// One raw request on a fresh connection; (status, head, body) of the answer, the body
/// read by its Content-Length (as clients do: the guest's FIN can come late).
fn raw(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).expect("send");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let mut want: Option<usize> = None;
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            want = Some(end + 4 + len);
        }
        if want.is_some_and(|w| out.len() >= w) {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    (status, head, out[end + 4..].to_vec())
}

fn stop(s: Session) {
    let pid = s.pid();
    let exit = s.quit().expect("quit");
    assert_eq!(exit, gitfs_qemu::Exit::Success);
    assert_gone(pid);
}

#[test]
fn files_ranges_conditionals_listings_and_errors() {
    let (_s, repo, image) = fixture("http-main");
    let (session, base, port) = boot(&image);
    let a = agent();

    // Every blob of the commit equals `git cat-file`, with its id as the ETag.
    let listing = git(&repo, &["ls-tree", "-r", "-z", "HEAD"]);
    let mut checked = 0;
    for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = rec.iter().position(|&b| b == b'\t').unwrap();
        let meta = String::from_utf8_lossy(&rec[..tab]).into_owned();
        let path = &rec[tab + 1..];
        let w: Vec<&str> = meta.split_whitespace().collect();
        if w[0] == "120000" {
            continue; // links: checked below (followed by the server)
        }
        let want = git(&repo, &["cat-file", "blob", w[2]]);
        let mut r = a
            .get(format!("{base}/{}", pct_encode(path)))
            .call()
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(path)));
        assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(path));
        assert_eq!(header(&r, "etag"), Some(format!("\"{}\"", w[2])));
        assert_eq!(
            header(&r, "content-length"),
            Some(want.len().to_string()),
            "{}",
            String::from_utf8_lossy(path)
        );
        assert_eq!(body(&mut r), want, "{}", String::from_utf8_lossy(path));
        checked += 1;
    }
    assert_eq!(checked, 13);

    // Last-Modified is the commit time (2024-01-01T00:00:00Z, set by the helpers).
    let r = a.get(format!("{base}/a.txt")).call().unwrap();
    assert_eq!(
        header(&r, "last-modified").as_deref(),
        Some("Mon, 01 Jan 2024 00:00:00 GMT")
    );
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );

    // HEAD: same headers, no body.
    let mut r = a.head(format!("{base}/medium.bin")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length").as_deref(), Some("300000"));
    assert!(body(&mut r).is_empty());

    // Ranges: start, middle, suffix, open end; unsatisfiable gives 416.
    let medium = noise(300_000, 12);
    for (range, lo, hi) in [
        ("bytes=0-99", 0usize, 100usize),
        ("bytes=123456-200000", 123_456, 200_001),
        ("bytes=-500", 299_500, 300_000),
        ("bytes=299990-", 299_990, 300_000),
    ] {
        let mut r = a
            .get(format!("{base}/medium.bin"))
            .header("Range", range)
            .call()
            .unwrap();
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            header(&r, "content-range"),
            Some(format!("bytes {lo}-{}/300000", hi - 1))
        );
        assert_eq!(body(&mut r), &medium[lo..hi], "{range}");
    }
    let r = a
        .get(format!("{base}/medium.bin"))
        .header("Range", "bytes=300000-")
        .call()
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        header(&r, "content-range").as_deref(),
        Some("bytes */300000")
    );

    // ETag, then 304 for If-None-Match; a different tag gets the body.
    let r = a.get(format!("{base}/style.css")).call().unwrap();
    let etag = header(&r, "etag").unwrap();
    let mut r = a
        .get(format!("{base}/style.css"))
        .header("If-None-Match", &etag)
        .call()
        .unwrap();
    assert_eq!(r.status(), 304);
    assert!(body(&mut r).is_empty());
    let r = a
        .get(format!("{base}/style.css"))
        .header("If-None-Match", "\"0000\"")
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);

    // index.html for directories that have one, listings for the others.
    let mut r = a.get(format!("{base}/")).call().unwrap();
    assert_eq!(body(&mut r), b"<h1>home</h1>\n");
    let mut r = a.get(format!("{base}/docs/")).call().unwrap();
    assert_eq!(body(&mut r), b"<p>docs</p>\n");
    let mut r = a.get(format!("{base}/files/")).call().unwrap();
    assert_eq!(r.status(), 200);
    let page = String::from_utf8(body(&mut r)).unwrap();
    let names = git_text(&repo, &["ls-tree", "--name-only", "HEAD:files"]);
    assert_eq!(names.lines().count(), 5);
    for href in [
        "./one.txt",
        "./two%20words.txt",
        "./caf%C3%A9%20%26%20%3Cb%3E.txt",
        "./nested/",
        "./escape",
    ] {
        assert!(
            page.contains(&format!("href=\"{href}\"")),
            "{href} in {page}"
        );
    }
    assert!(page.contains("caf\u{e9} &amp; &lt;b&gt;.txt"), "{page}");
    assert!(!page.contains("<b>.txt"));
    let r = agent_no_redirect()
        .get(format!("{base}/files"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(header(&r, "location").as_deref(), Some("/files/"));

    // Links: inside the tree followed, outside (relative or absolute) not found.
    let mut r = a.get(format!("{base}/guide-link")).call().unwrap();
    assert_eq!(body(&mut r), b"# Guide\n".repeat(500));
    for p in ["/files/escape", "/abs-link", "/nope", "/a.txt/x"] {
        assert_eq!(
            a.get(format!("{base}{p}")).call().unwrap().status(),
            404,
            "{p}"
        );
    }

    // Errors from raw requests: 405, 400, 414, 431.
    let (st, head, _) = raw(
        port,
        b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(st, 405);
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    assert_eq!(
        raw(
            port,
            b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .0,
        405
    );
    assert_eq!(raw(port, b"GET /a.txt HTTP/1.1\r\n\r\n").0, 400, "no Host");
    assert_eq!(raw(port, b"GET a.txt HTTP/1.1\r\nHost: x\r\n\r\n").0, 400);
    assert_eq!(raw(port, b"GARBAGE\r\n\r\n").0, 400);
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    assert_eq!(raw(port, long.as_bytes()).0, 414);
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..70 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(raw(port, many.as_bytes()).0, 431);
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(20_000)
    );
    assert_eq!(raw(port, big_header.as_bytes()).0, 431);

    // Nothing leaves the tree: dot-dot (plain, encoded, mixed), absolute URLs.
    let close = "Host: x\r\nConnection: close\r\n\r\n";
    for target in [
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/files/%2E%2E/%2e%2e/etc/passwd",
        "/..%2f..%2fetc/passwd",
    ] {
        let (st, _, b) = raw(port, format!("GET {target} HTTP/1.1\r\n{close}").as_bytes());
        assert!(st == 400 || st == 404, "{target}: {st}");
        assert!(!String::from_utf8_lossy(&b).contains("root:"), "{target}");
    }
    for (target, want) in [
        ("/files/%2e%2e/a.txt", &b"alpha\n"[..]),
        ("/files/../a.txt", b"alpha\n"),
        ("http://evil.example/a.txt", b"alpha\n"),
        ("http://127.0.0.1:1/files/one.txt", b"one\n"),
    ] {
        let (st, _, b) = raw(port, format!("GET {target} HTTP/1.1\r\n{close}").as_bytes());
        assert_eq!((st, &b[..]), (200, want), "{target}");
    }
    let (st, _, _) = raw(
        port,
        format!("GET http://x/../../etc/passwd HTTP/1.1\r\n{close}").as_bytes(),
    );
    assert_eq!(st, 400);

    stop(session);
}

fn agent_no_redirect() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

#[test]
fn concurrent_clients_and_the_console_during_a_download() {
    let (_s, repo, image) = fixture("http-conc");
    let (mut session, base, _port) = boot(&image);
    let big = git(&repo, &["cat-file", "blob", "HEAD:big.bin"]);
    let medium = git(&repo, &["cat-file", "blob", "HEAD:medium.bin"]);
    assert_eq!(big.len(), BIG_LEN);

    // 8 clients at once, each on one kept-alive connection, two different large files
    // and small ones interleaved (simultaneous connects: `eight_simultaneous_downloads`).
    let big = Arc::new(big);
    let medium = Arc::new(medium);
    let agents: Vec<_> = (0..8)
        .map(|i| {
            let a = agent();
            let mut r = a.get(format!("{base}/a.txt")).call().unwrap();
            assert_eq!(r.status(), 200, "client {i} connect");
            assert!(body(&mut r) == b"alpha\n", "client {i}: wrong bytes");
            a
        })
        .collect();
    let handles: Vec<_> = agents
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let (base, big, medium) = (base.clone(), Arc::clone(&big), Arc::clone(&medium));
            thread::spawn(move || {
                for round in 0..3 {
                    let (path, want): (&str, &[u8]) = match (i + round) % 3 {
                        0 => ("/big.bin", &big),
                        1 => ("/medium.bin", &medium),
                        _ => ("/a.txt", b"alpha\n"),
                    };
                    let mut r = a.get(format!("{base}{path}")).call().unwrap();
                    assert_eq!(r.status(), 200, "client {i} {path}");
                    assert!(body(&mut r) == want, "client {i} {path}: wrong bytes");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }

    // The console answers while downloads are in progress: the big file three times on
    // one kept-alive connection, read at full speed. (A reader much slower than the
    // guest closes the TCP window, and smoltcp 0.12 in Hermit 0.11 sends no zero-window
    // probes: such transfers can stall until the peer's window update; see the report.)
    let done = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let reader = {
        let (done, big, base) = (Arc::clone(&done), Arc::clone(&big), base.clone());
        thread::spawn(move || {
            let a = agent();
            for i in 0..3 {
                let mut r = a.get(format!("{base}/big.bin")).call().unwrap();
                assert_eq!(r.status(), 200);
                if i == 0 {
                    started_tx.send(()).unwrap();
                }
                assert!(body(&mut r) == big[..], "download {i}: wrong bytes");
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    started_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("download started");
    let mut during = 0;
    let t = Instant::now();
    while !done.load(Ordering::SeqCst) && during < 5 && t.elapsed() < Duration::from_secs(60) {
        session.ping().expect("console ping during download");
        let info = session.info().expect("console info during download");
        assert!(info.iter().any(|(k, _)| k == "commit"));
        if !done.load(Ordering::SeqCst) {
            during += 1;
        }
    }
    assert!(during >= 1, "no console answer while the download ran");
    reader.join().expect("downloads");
    assert_eq!(session.get("a.txt").unwrap(), b"alpha\n");
    stop(session);
}

/// Eight clients connect at the same moment and each downloads the large file twice,
/// reading as fast as the host can. Before the kernel patch (kernel/build/patches.rs)
/// the guest outran QEMU's virtio-net send queue and the kernel panicked with "Virtqs
/// memory pool is exhausted!".
#[test]
fn eight_simultaneous_downloads() {
    let (_s, repo, image) = fixture("http-eight");
    let (session, _base, port) = boot(&image);
    let big = Arc::new(git(&repo, &["cat-file", "blob", "HEAD:big.bin"]));
    let start = Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (big, start) = (Arc::clone(&big), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for round in 0..2 {
                    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        .expect("send");
                    let mut out = Vec::with_capacity(big.len() + 512);
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => out.extend_from_slice(&buf[..n]),
                            Err(e) => {
                                panic!("client {i} round {round}: {e} after {} bytes", out.len())
                            }
                        }
                    }
                    assert!(
                        out.starts_with(b"HTTP/1.1 200 "),
                        "client {i} round {round}: {:?}",
                        String::from_utf8_lossy(&out[..out.len().min(64)])
                    );
                    assert!(
                        out.ends_with(&big[..]) && out.len() - big.len() < 1024,
                        "client {i} round {round}: wrong bytes ({} received)",
                        out.len()
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    stop(session);
}

/// A client that connects and says nothing is dropped after the guest's 30 s idle
/// limit (Hermit ignores socket timeouts and its timed waits slept forever before the
/// kernel patch), and the server still answers afterwards.
#[test]
fn idle_connection_is_closed() {
    let (_s, _repo, image) = fixture("http-idle");
    let (session, base, port) = boot(&image);
    let mut idle = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(90)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = idle
        .read(&mut buf)
        .map_err(|e| format!("{e} after {:?}", t.elapsed()));
    assert_eq!(n, Ok(0), "the idle connection was not closed");
    assert!(
        t.elapsed() >= Duration::from_secs(25),
        "closed early: {:?}",
        t.elapsed()
    );
    let mut r = agent().get(format!("{base}/a.txt")).call().unwrap();
    assert_eq!(body(&mut r), b"alpha\n");
    stop(session);
}

#[test]
fn corrupt_blob_is_500_with_a_log_line() {
    let s = scratch("http-corrupt");
    let src = s.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let marker = b"MARKER-0123456789-MARKER".repeat(40);
    std::fs::write(src.join("m.txt"), &marker).unwrap();
    std::fs::write(src.join("ok.txt"), b"fine\n").unwrap();
    let image = s.join("c.img");
    // Level 0: stored, so a flipped byte still inflates and only the id check fails.
    make_image(&src, &image, &["--level", "0"]);
    let mut bytes = std::fs::read(&image).unwrap();
    let at = bytes
        .windows(marker.len())
        .position(|w| w == &marker[..])
        .expect("marker stored verbatim");
    bytes[at + 7] ^= 0x01;
    std::fs::write(&image, &bytes).unwrap();
    let (mut session, base, _) = boot(&image);
    let a = agent();
    let mut r = a.get(format!("{base}/m.txt")).call().unwrap();
    assert_eq!(r.status(), 500);
    let b = body(&mut r);
    assert!(
        !b.windows(6).any(|w| w == b"MARKER"),
        "corrupt bytes were sent"
    );
    let mut r = a.get(format!("{base}/ok.txt")).call().unwrap();
    assert_eq!(body(&mut r), b"fine\n");
    // The log line reaches the console; the console still works.
    session.ping().unwrap();
    let t = Instant::now();
    while !session.vm().transcript().contains("gitfs http error:") {
        assert!(t.elapsed() < Duration::from_secs(30), "no log line");
        session.ping().unwrap();
    }
    stop(session);
}
