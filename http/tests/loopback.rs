//! The server on a real TCP socket (127.0.0.1), thread per connection, against a real
//! HTTP client (`ureq`) and raw streams.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{parse_all, pattern, site};
use gitfs_http::mem::MemContent;
use gitfs_http::{close_gracefully, handle_connection, ConnStats, Limits, Shared};

struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<std::io::Result<ConnStats>>>,
    content: Shared<MemContent>,
}

impl Server {
    fn start(content: MemContent) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let content = Shared::new(content);
        let (flag, shared) = (Arc::clone(&stop), content.clone());
        let thread = thread::spawn(move || {
            // Stops when told, or after a minute whatever happens.
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut conns = Vec::new();
            while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                        let mut c = shared.clone();
                        conns.push(thread::spawn(move || {
                            let r = handle_connection(&mut s, &mut c, &Limits::default());
                            close_gracefully(&mut s, Duration::from_secs(2));
                            r
                        }));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2))
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            conns.into_iter().map(|t| t.join().unwrap()).collect()
        });
        Server {
            addr,
            stop,
            thread,
            content,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting and returns what each connection did (clients must be gone).
    fn finish(self) -> Vec<ConnStats> {
        self.stop.store(true, Ordering::SeqCst);
        let results = self.thread.join().unwrap();
        results
            .into_iter()
            .map(|r| r.expect("connection ended cleanly"))
            .collect()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn body(resp: &mut ureq::http::Response<ureq::Body>) -> Vec<u8> {
    resp.body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap()
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[test]
fn keep_alive_with_a_real_client() {
    let server = Server::start(site());
    let a = agent();
    let big = pattern(300_000);
    for i in 0..20 {
        let (path, want): (&str, &[u8]) = match i % 3 {
            0 => ("/style.css", b"body{}"),
            1 => ("/big.bin", &big),
            _ => ("/docs/guide.md", b"# Guide\n"),
        };
        let mut r = a.get(server.url(path)).call().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(body(&mut r) == want, "{path}");
    }
    drop(a);
    let stats = server.finish();
    assert_eq!(stats.iter().map(|s| s.requests).sum::<u64>(), 20);
    assert!(
        stats.len() < 5,
        "keep-alive: 20 requests on {} connections",
        stats.len()
    );
}

#[test]
fn head_ranges_304_and_errors() {
    let server = Server::start(site());
    let a = agent();
    let big = pattern(300_000);

    let r = a.head(server.url("/big.bin")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-length").as_deref(), Some("300000"));
    let etag = header(&r, "etag").unwrap();

    for (range, a0, b0) in [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-10", 299_990, 299_999),
        ("bytes=299000-", 299_000, 299_999),
    ] {
        let mut r = a
            .get(server.url("/big.bin"))
            .header("Range", range)
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 206, "{range}");
        let want = format!("bytes {a0}-{b0}/300000");
        assert_eq!(header(&r, "content-range").as_deref(), Some(want.as_str()));
        assert!(body(&mut r) == big[a0..=b0], "{range}");
    }
    let mut r = a
        .get(server.url("/big.bin"))
        .header("Range", "bytes=400000-")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 416);
    assert_eq!(
        header(&r, "content-range").as_deref(),
        Some("bytes */300000")
    );
    body(&mut r);

    let mut r = a
        .get(server.url("/big.bin"))
        .header("If-None-Match", &etag)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    assert!(body(&mut r).is_empty());

    for (path, status) in [
        ("/nope", 404),
        ("/docs", 301),
        ("/%2e%2e/x", 400),
        ("/bad.txt", 500),
    ] {
        let mut r = a
            .get(server.url(path))
            .config()
            .max_redirects(0)
            .build()
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        body(&mut r);
    }
    let mut r = a.get(server.url("/docs")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200, "redirect followed to the listing");
    assert!(String::from_utf8(body(&mut r))
        .unwrap()
        .contains("Index of /docs/"));
    let mut r = a.post(server.url("/x")).send(&b"abc"[..]).unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(header(&r, "allow").as_deref(), Some("GET, HEAD"));
    body(&mut r);
    drop(a);
    server.finish();
}

#[test]
fn corruption_is_logged_over_tcp() {
    let server = Server::start(site());
    let mut r = ureq::get(server.url("/bad.txt"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    body(&mut r);
    let content = server.content.clone();
    drop(r);
    server.finish();
    let log = content.lock().log.clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].contains("/bad.txt"));
}

#[test]
fn eight_concurrent_clients() {
    // Whole shared blobs, as the kernel is meant to offer them.
    let mut c = site();
    c.share_blobs = true;
    c.file("big2.bin", &pattern(200_000));
    let server = Server::start(c);
    let url = server.url("");
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            thread::spawn(move || {
                let a = agent();
                // Two different large files, so interleaved connections read both.
                let (name, size) = if i % 2 == 0 {
                    ("big.bin", 300_000)
                } else {
                    ("big2.bin", 200_000)
                };
                let big = pattern(size);
                for j in 0..15 {
                    let url = format!("{url}/{name}");
                    let mut r = if (i + j) % 2 == 0 {
                        a.get(url).call().unwrap()
                    } else {
                        let range = format!("bytes={}-{}", j * 1000, j * 1000 + 999);
                        a.get(url).header("Range", &range).call().unwrap()
                    };
                    let got = body(&mut r);
                    if r.status().as_u16() == 200 {
                        assert!(got == big, "{name}");
                    } else {
                        assert_eq!(r.status().as_u16(), 206);
                        assert!(got == big[j * 1000..j * 1000 + 1000], "{name}");
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let stats = server.finish();
    assert_eq!(stats.iter().map(|s| s.requests).sum::<u64>(), 8 * 15);
    assert!(stats.len() >= 8, "one connection per client at least");
}

#[test]
fn raw_socket_pipelining_and_limits() {
    let server = Server::start(site());
    // Two pipelined requests in one write, the second closing.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\nHEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let rs = parse_all(&out, &[false, true]);
    assert_eq!((rs.len(), rs[0].status, rs[1].status), (2, 200, 200));
    assert_eq!(rs[1].header("Content-Length"), Some("300000"));
    drop(s);

    // A request line sent in small pieces, then one over the limit: 414 and close.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for part in [
        &b"GET /sty"[..],
        b"le.css HTTP/1.1\r\nHo",
        b"st: t\r\n",
        b"\r\n",
    ] {
        s.write_all(part).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    let line = format!("GET /{} HTTP/1.1\r\n", "x".repeat(20_000));
    // The server may close before reading all of it: the write may fail.
    let _ = s.write_all(line.as_bytes());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let rs = parse_all(&out, &[]);
    assert_eq!((rs.len(), rs[0].status, rs[1].status), (2, 200, 414));
    drop(s);
    let stats = server.finish();
    assert_eq!(stats.iter().map(|s| s.requests).sum::<u64>(), 4);
}
