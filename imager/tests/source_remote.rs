//! Remote sources against real servers on 127.0.0.1: `git daemon` (git://) and
//! `git http-backend` behind a small CGI bridge written here (http://). The
//! fetched snapshot must equal what stock git says of the served repository.

mod common;
mod source_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitfs_imager::source::{load, SourceError, SourceOptions};
use source_support::{assert_matches_git, fixture_repo, git, rev_parse};

fn opts(rev: Option<&str>) -> SourceOptions {
    SourceOptions {
        rev: rev.map(str::to_string),
        date: None,
    }
}

/// A bare copy of the fixture at `<root>/repo.git`, serving any reachable id.
fn served_repo() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let work = root.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    fixture_repo(&work);
    let bare = root.path().join("repo.git");
    git(root.path(), ["clone", "-q", "--bare", "work", "repo.git"]);
    git(&bare, ["config", "uploadpack.allowAnySHA1InWant", "true"]);
    (root, bare)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Kills the child server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server on {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn git_daemon(base: &Path) -> (Server, u16) {
    let port = free_port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--informative-errors",
        ])
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn git daemon");
    let server = Server(child);
    wait_for_port(port);
    (server, port)
}

#[test]
fn git_protocol_fetch_matches_git() {
    let (root, bare) = served_repo();
    let (_server, port) = git_daemon(root.path());
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let head1 = rev_parse(&bare, "HEAD~1");
    for rev in [
        None,
        Some("main"),
        Some("v1.0"),
        Some("light"),
        Some(head1.as_str()),
    ] {
        let snap = load(&url, &opts(rev)).unwrap_or_else(|e| panic!("{rev:?}: {e}"));
        let rev = rev.unwrap_or("HEAD");
        assert_eq!(snap.rev, rev);
        assert_matches_git(&bare, rev, &snap);
    }
}

#[test]
fn git_protocol_errors() {
    let (root, _bare) = served_repo();
    let (_server, port) = git_daemon(root.path());
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let e = load(&url, &opts(Some("no-such-branch"))).expect_err("unknown rev");
    assert!(matches!(e, SourceError::UnknownRevision(_)), "{e:?}");
    assert_eq!(e.to_string(), "unknown revision: no-such-branch");

    let missing = format!("git://127.0.0.1:{port}/missing.git");
    let e = load(&missing, &opts(None)).expect_err("no such repository");
    assert!(matches!(e, SourceError::Remote { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    println!("missing repository: {msg}");
}

#[test]
fn connection_refused_fails_fast_with_one_line() {
    // A port nobody listens on (bound, then released).
    let port = free_port();
    for url in [
        format!("git://127.0.0.1:{port}/repo.git"),
        format!("http://127.0.0.1:{port}/repo.git"),
        // https exercises the TLS setup (rustls provider) up to the connect.
        format!("https://127.0.0.1:{port}/repo.git"),
    ] {
        let start = Instant::now();
        let e = load(&url, &opts(None)).expect_err("nothing listens");
        let took = start.elapsed();
        assert!(matches!(e, SourceError::Remote { .. }), "{url}: {e:?}");
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.to_lowercase().contains("refused"), "{url}: {msg}");
        assert!(
            std::error::Error::source(&e).is_some(),
            "details kept in source()"
        );
        // Retrying or waiting for a timeout would take seconds; refused is immediate.
        assert!(took < Duration::from_secs(5), "{url} took {took:?}");
        println!("{url}: {msg} ({took:?})");
    }
}

// ---- http:// through git http-backend (CGI) ----

/// A one-request-per-connection HTTP/1.1 server running `git http-backend`.
struct HttpServer {
    port: u16,
    /// Every request body received, to check what the client asked for.
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn http_server(project_root: PathBuf) -> HttpServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let bodies2 = bodies.clone();
    let thread = std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            if let Ok(conn) = conn {
                let root = project_root.clone();
                let bodies = bodies2.clone();
                std::thread::spawn(move || {
                    let _ = serve_cgi(conn, &root, &bodies);
                });
            }
        }
    });
    HttpServer {
        port,
        bodies,
        stop,
        thread: Some(thread),
    }
}

fn serve_cgi(
    conn: TcpStream,
    root: &Path,
    bodies: &std::sync::Mutex<Vec<Vec<u8>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }

    if let Ok(mut b) = bodies.lock() {
        b.push(body.clone());
    }
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ct) = header("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(p) = header("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    if let Some(enc) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();

    // CGI output: headers, a blank line, the body.
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, p + 2))
        })
        .unwrap_or((out.stdout.len(), out.stdout.len()));
    let head = String::from_utf8_lossy(&out.stdout[..split.0]).into_owned();
    let payload = &out.stdout[split.1..];
    let mut status = "200 OK".to_string();
    let mut response = Vec::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => {
                response.extend_from_slice(h.as_bytes());
                response.extend_from_slice(b"\r\n");
            }
            None => {}
        }
    }
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        payload.len()
    )?;
    conn.write_all(&response)?;
    conn.write_all(b"\r\n")?;
    conn.write_all(payload)?;
    conn.flush()
}

#[test]
fn http_fetch_matches_git() {
    let (root, bare) = served_repo();
    let server = http_server(root.path().to_path_buf());
    let url = format!("http://127.0.0.1:{}/repo.git", server.port);
    // The bridge works for stock git too (checks the test server, not our code).
    let check = tempfile::tempdir().expect("tempdir");
    git(check.path(), ["ls-remote", &url]);
    let head1 = rev_parse(&bare, "HEAD~1");
    for rev in [None, Some("main"), Some("v1.0"), Some(head1.as_str())] {
        server.bodies.lock().expect("lock").clear();
        let snap = load(&url, &opts(rev)).unwrap_or_else(|e| panic!("{rev:?}: {e}"));
        let rev = rev.unwrap_or("HEAD");
        assert_matches_git(&bare, rev, &snap);
        // Shallow: the fetch request asks for depth 1 and wants one tip.
        let bodies = server.bodies.lock().expect("lock");
        let fetch = bodies
            .iter()
            .find(|b| contains(b, b"command=fetch"))
            .expect("a protocol v2 fetch request");
        assert!(
            contains(fetch, b"deepen 1"),
            "{}",
            String::from_utf8_lossy(fetch)
        );
        assert_eq!(
            count(fetch, b"want "),
            1,
            "{}",
            String::from_utf8_lossy(fetch)
        );
    }
    let e = load(&url, &opts(Some("nope"))).expect_err("unknown rev over http");
    assert!(matches!(e, SourceError::UnknownRevision(_)), "{e:?}");
    let missing = format!("http://127.0.0.1:{}/missing.git", server.port);
    let e = load(&missing, &opts(None)).expect_err("missing repo over http");
    assert!(matches!(e, SourceError::Remote { .. }), "{e:?}");
    assert!(!e.to_string().contains('\n'));
    println!("missing repository over http: {e}");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    count(hay, needle) > 0
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}
