//! Every server rule, driven through `respond` (no sockets) with the in-memory tree.

mod common;

use common::{parse_all, pattern, site, Resp, TIME, TIME_STR};
use gitfs_http::mem::MemContent;
use gitfs_http::{respond, Limits};

fn one(c: &mut MemContent, method: &str, target: &str, extra: &str) -> Resp {
    let raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
    let out = respond(c, raw.as_bytes(), &Limits::default());
    let mut all = parse_all(&out, &[method == "HEAD"]);
    assert_eq!(all.len(), 1, "one response to one request");
    all.pop().unwrap()
}

fn get(target: &str) -> Resp {
    one(&mut site(), "GET", target, "")
}

fn get_with(target: &str, extra: &str) -> Resp {
    one(&mut site(), "GET", target, extra)
}

#[test]
fn file_headers() {
    let r = get("/style.css");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"body{}");
    assert_eq!(r.header("Content-Length"), Some("6"));
    assert_eq!(r.header("Content-Type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("Last-Modified"), Some(TIME_STR));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(r.header("Server"), Some("gitfs"));
    assert_eq!(
        r.header("Connection"),
        None,
        "HTTP/1.1 keeps alive by default"
    );
    let etag = r.header("ETag").unwrap();
    assert_eq!(etag.len(), 42, "strong ETag of 40 hex digits: {etag}");
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert!(etag[1..41].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(Some(etag), get("/index.html").header("ETag"));
}

#[test]
fn content_types() {
    assert_eq!(
        get("/docs/guide.md").header("Content-Type"),
        Some("text/markdown; charset=utf-8")
    );
    assert_eq!(
        get("/img/logo.png").header("Content-Type"),
        Some("image/png")
    );
    assert_eq!(
        get("/docs/sub/deep.json").header("Content-Type"),
        Some("application/json")
    );
    assert_eq!(
        get("/big.bin").header("Content-Type"),
        Some("application/octet-stream")
    );
    // Through a symlink the requested name decides.
    assert_eq!(
        get("/link-to-guide").header("Content-Type"),
        Some("application/octet-stream")
    );
}

#[test]
fn exec_and_empty_files() {
    assert_eq!(get("/bin/run.sh").body, b"#!/bin/sh\necho hi\n");
    let r = get("/empty.txt");
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("0")));
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let mut c = site();
    let g = one(&mut c, "GET", "/big.bin", "");
    let h = one(&mut c, "HEAD", "/big.bin", "");
    assert_eq!(h.status, 200);
    assert_eq!(h.headers, g.headers);
    assert!(h.body.is_empty());
    // And nothing after the head on the wire.
    let raw = b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let out = respond(&mut c, raw, &Limits::default());
    assert!(out.ends_with(b"\r\n\r\n"));
}

#[test]
fn large_bodies_stream_in_chunks() {
    let mut c = site();
    c.max_read = 10_000;
    let want = pattern(300_000);
    let r = one(&mut c, "GET", "/big.bin", "");
    assert_eq!(r.body, want);
    let limits = Limits {
        chunk: 4096,
        ..Limits::default()
    };
    let out = respond(
        &mut site(),
        b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n",
        &limits,
    );
    assert_eq!(parse_all(&out, &[])[0].body, want);
}

#[test]
fn other_methods_get_405() {
    for m in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"] {
        let r = one(&mut site(), m, "/style.css", "");
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        assert!(String::from_utf8_lossy(&r.body).contains("405"));
    }
}

#[test]
fn not_found_has_a_small_body() {
    let r = get("/nope.txt");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(String::from_utf8_lossy(&r.body).contains("404 Not Found"));
    assert_eq!(
        get("/style.css/").status,
        404,
        "a file with a trailing slash"
    );
    assert_eq!(get("/style.css/x").status, 404);
    assert_eq!(
        get("/vendor/lib").status,
        404,
        "submodule content is not in the image"
    );
}

#[test]
fn directories() {
    let r = get("/docs");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/docs/"));
    let r = get("/docs/sub?x=1");
    assert_eq!(r.header("Location"), Some("/docs/sub/"));
    // Index file.
    let r = get("/");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<h1>home</h1>"[..]));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("ETag"), get("/index.html").header("ETag"));
    // Listing.
    let r = get("/docs/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let page = String::from_utf8(r.body).unwrap();
    assert!(page.contains("<title>Index of /docs/</title>"), "{page}");
    assert!(page.contains("<a href=\"../\">../</a>"));
    assert!(
        page.contains("<a href=\"./guide.md\">guide.md</a></td><td>8</td>"),
        "{page}"
    );
    assert!(page.contains("<a href=\"./sub/\">sub/</a>"), "{page}");
    assert!(
        page.contains("<a href=\"./a%20b%26%3Cc%3E.txt\">a b&amp;&lt;c&gt;.txt</a></td><td>8</td>"),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"./up\">up</a></td><td>symlink</td>"),
        "{page}"
    );
    assert!(!page.contains("<c>"), "names are escaped");
    // Sorted by name.
    let pos = |s: &str| page.find(s).unwrap();
    assert!(pos("./a%20b") < pos("./chain") && pos("./chain") < pos("./guide.md"));
    // A listing without index at the root of a tree with no index.html.
    let mut c = MemContent::new(TIME);
    c.file("x", b"1").submodule("m");
    let r = one(&mut c, "GET", "/", "");
    let page = String::from_utf8(r.body.clone()).unwrap();
    assert!(!page.contains("../"), "no parent link at the root");
    assert!(page.contains("<td>m</td><td>submodule</td>"), "{page}");
    // Listings have a validator too.
    let etag = r.header("ETag").unwrap().to_string();
    assert_eq!(
        one(&mut c, "GET", "/", &format!("If-None-Match: {etag}\r\n")).status,
        304
    );
}

#[test]
fn symlinks_stay_inside() {
    assert_eq!(get("/link-to-guide").body, b"# Guide\n");
    assert_eq!(get("/docs/up").body, b"body{}");
    assert_eq!(get("/docs/chain").body, b"body{}", "a link to a link");
    assert_eq!(
        get("/docs/self-dir/deep.json").body,
        b"{}",
        "a link as a directory"
    );
    assert_eq!(
        get("/docs/self-dir").header("Location"),
        Some("/docs/self-dir/")
    );
    assert_eq!(get("/docs/self-dir/").status, 200);
    for bad in [
        "/escape",
        "/escape2",
        "/absolute",
        "/absolute-inside",
        "/loop-a",
        "/dangling",
        "/through-file",
    ] {
        assert_eq!(get(bad).status, 404, "{bad}");
    }
    // The ETag is the target's.
    assert_eq!(
        get("/link-to-guide").header("ETag"),
        get("/docs/guide.md").header("ETag")
    );
}

#[test]
fn hop_limit() {
    let mut c = MemContent::new(TIME);
    c.file("f", b"end");
    let mut prev = "f".to_string();
    for i in 0..gitfs_http::MAX_SYMLINK_HOPS + 1 {
        let name = format!("l{i}");
        c.symlink(&name, &prev);
        prev = name;
    }
    let last = gitfs_http::MAX_SYMLINK_HOPS;
    assert_eq!(
        one(&mut c, "GET", &format!("/l{}", last - 1), "").body,
        b"end"
    );
    assert_eq!(one(&mut c, "GET", &format!("/l{last}"), "").status, 404);
}

#[test]
fn paths_never_leave_the_tree() {
    assert_eq!(get("/docs/../style.css").body, b"body{}");
    assert_eq!(get("/docs/%2e%2e/style.css").body, b"body{}");
    assert_eq!(get("/docs/./guide.md").body, b"# Guide\n");
    assert_eq!(get("//docs//guide.md").body, b"# Guide\n");
    assert_eq!(get("/docs%2Fguide.md").body, b"# Guide\n");
    assert_eq!(get("/docs/a%20b%26%3Cc%3E.txt").body, b"odd name");
    for bad in [
        "/..",
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E%2Fetc",
        "/docs/../../x",
        "/a%00b",
        "/bad%zz",
        "*",
        "relative",
        "http://host/../x",
    ] {
        assert_eq!(get(bad).status, 400, "{bad}");
    }
}

#[test]
fn absolute_form_uses_the_path_only() {
    assert_eq!(get("http://elsewhere.example/style.css").body, b"body{}");
    assert_eq!(get("http://elsewhere.example").body, b"<h1>home</h1>");
    assert_eq!(get("HTTPS://x:443/docs/guide.md").body, b"# Guide\n");
}

#[test]
fn etag_and_304() {
    let etag = get("/style.css").header("ETag").unwrap().to_string();
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let r = get_with("/style.css", &format!("If-None-Match: {inm}\r\n"));
        assert_eq!(r.status, 304, "{inm}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("ETag"), Some(etag.as_str()));
        assert_eq!(r.header("Content-Length"), None);
    }
    let r = get_with("/style.css", "If-None-Match: \"other\"\r\n");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"body{}"[..]));
    // Two header lines form one list.
    let r = get_with(
        "/style.css",
        &format!("If-None-Match: \"a\"\r\nIf-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
    // HEAD too.
    let r = one(
        &mut site(),
        "HEAD",
        "/style.css",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
}

#[test]
fn if_modified_since() {
    let r = get_with("/style.css", &format!("If-Modified-Since: {TIME_STR}\r\n"));
    assert_eq!(r.status, 304);
    let later = gitfs_http::format_http_date(TIME + 3600);
    assert_eq!(
        get_with("/style.css", &format!("If-Modified-Since: {later}\r\n")).status,
        304
    );
    let earlier = gitfs_http::format_http_date(TIME - 1);
    assert_eq!(
        get_with("/style.css", &format!("If-Modified-Since: {earlier}\r\n")).status,
        200
    );
    assert_eq!(
        get_with("/style.css", "If-Modified-Since: yesterday\r\n").status,
        200
    );
    // If-None-Match wins over If-Modified-Since.
    let r = get_with(
        "/style.css",
        &format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {TIME_STR}\r\n"),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn ranges() {
    let all = pattern(300_000);
    let check = |range: &str, a: usize, b: usize| {
        let r = get_with("/big.bin", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes {a}-{b}/300000").as_str())
        );
        assert_eq!(
            r.header("Content-Length"),
            Some((b - a + 1).to_string().as_str())
        );
        assert!(r.body == all[a..=b], "{range}");
    };
    check("bytes=0-0", 0, 0);
    check("bytes=0-99", 0, 99);
    check("bytes=100000-", 100_000, 299_999);
    check("bytes=150000-250000", 150_000, 250_000);
    check("bytes=-500", 299_500, 299_999);
    check("bytes=-999999", 0, 299_999);
    check("bytes=299999-400000", 299_999, 299_999);
    for bad in ["bytes=300000-", "bytes=300000-300001", "bytes=-0"] {
        let r = get_with("/big.bin", &format!("Range: {bad}\r\n"));
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(r.header("Content-Range"), Some("bytes */300000"));
    }
    // Several ranges, other units, nonsense: the whole file.
    for full in ["bytes=0-1,5-6", "lines=1-2", "bytes=9-1", "bytes=x"] {
        let r = get_with("/big.bin", &format!("Range: {full}\r\n"));
        assert_eq!((r.status, r.body.len()), (200, 300_000), "{full}");
        assert_eq!(r.header("Content-Range"), None);
    }
    // HEAD ignores Range.
    let r = one(&mut site(), "HEAD", "/big.bin", "Range: bytes=0-9\r\n");
    assert_eq!(
        (r.status, r.header("Content-Length")),
        (200, Some("300000"))
    );
    // Empty file.
    assert_eq!(get_with("/empty.txt", "Range: bytes=0-\r\n").status, 416);
    // Ranges on a listing.
    let r = get_with("/docs/", "Range: bytes=0-14\r\n");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (206, &b"<!doctype html>"[..])
    );
}

#[test]
fn if_range() {
    let etag = get("/big.bin").header("ETag").unwrap().to_string();
    let r = get_with(
        "/big.bin",
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(r.status, 206);
    let r = get_with(
        "/big.bin",
        &format!("Range: bytes=0-9\r\nIf-Range: {TIME_STR}\r\n"),
    );
    assert_eq!(r.status, 206);
    for stale in ["\"other\"".to_string(), format!("W/{etag}")] {
        let r = get_with(
            "/big.bin",
            &format!("Range: bytes=0-9\r\nIf-Range: {stale}\r\n"),
        );
        assert_eq!((r.status, r.body.len()), (200, 300_000), "{stale}");
    }
}

#[test]
fn corruption_gives_500_and_a_log_line() {
    let mut c = site();
    let r = one(&mut c, "GET", "/bad.txt", "");
    assert_eq!(r.status, 500);
    assert!(
        !r.body.windows(6).any(|w| w == b"verify"),
        "never the bytes"
    );
    assert_eq!(c.log.len(), 1, "{:?}", c.log);
    assert!(
        c.log[0].contains("/bad.txt") && c.log[0].contains("corrupt"),
        "{:?}",
        c.log
    );
    // The connection stays usable.
    let raw = b"GET /bad.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /style.css HTTP/1.1\r\nHost: t\r\n\r\n";
    let rs = parse_all(&respond(&mut c, raw, &Limits::default()), &[]);
    assert_eq!((rs[0].status, rs[1].status), (500, 200));
}

#[test]
fn keep_alive_and_close() {
    let limits = Limits::default();
    let mut c = site();
    // Pipelined HTTP/1.1 requests on one connection, then close.
    let raw = "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n\
               HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n\
               GET /docs/guide.md HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n\
               GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n";
    let rs = parse_all(
        &respond(&mut c, raw.as_bytes(), &limits),
        &[false, true, false],
    );
    assert_eq!(rs.len(), 3, "nothing after Connection: close");
    assert_eq!(rs[2].header("Connection"), Some("close"));
    assert_eq!(rs[2].body, b"# Guide\n");
    // HTTP/1.0 closes unless asked.
    let raw = "GET /style.css HTTP/1.0\r\n\r\nGET /style.css HTTP/1.0\r\n\r\n";
    let rs = parse_all(&respond(&mut c, raw.as_bytes(), &limits), &[]);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].header("Connection"), Some("close"));
    let raw =
        "GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /style.css HTTP/1.0\r\n\r\n";
    let rs = parse_all(&respond(&mut c, raw.as_bytes(), &limits), &[]);
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0].header("Connection"), Some("keep-alive"));
    assert_eq!(rs[1].header("Connection"), Some("close"));
    // A request with a body is answered, then the connection closes.
    let raw = "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
    let rs = parse_all(&respond(&mut c, raw.as_bytes(), &limits), &[]);
    assert_eq!((rs.len(), rs[0].status), (1, 405));
    assert_eq!(rs[0].header("Connection"), Some("close"));
    // The request cap.
    let capped = Limits {
        max_requests: 2,
        ..limits
    };
    let raw = "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n".repeat(3);
    let rs = parse_all(&respond(&mut c, raw.as_bytes(), &capped), &[]);
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[1].header("Connection"), Some("close"));
}

fn raw_status(raw: &[u8]) -> (u16, Option<String>, usize) {
    let out = respond(&mut site(), raw, &Limits::default());
    let rs = parse_all(&out, &[]);
    let conn = rs[0].header("Connection").map(str::to_string);
    (rs[0].status, conn, rs.len())
}

#[test]
fn malformed_requests() {
    let close = Some("close".to_string());
    for raw in [
        &b"GET / HTTP/1.1\r\n\r\n"[..], // no Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        b"\x01\x02\x03\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    ] {
        let (status, conn, n) = raw_status(raw);
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(raw));
        assert_eq!((conn, n), (close.clone(), 1));
    }
    assert_eq!(raw_status(b"GET / HTTP/3.0\r\nHost: t\r\n\r\n").0, 505);
    // HTTP/1.0 needs no Host.
    assert_eq!(raw_status(b"GET / HTTP/1.0\r\n\r\n").0, 200);
    // An unfinished request at end of stream gets no answer.
    assert!(respond(&mut site(), b"GET / HTTP/1.1\r\nHo", &Limits::default()).is_empty());
}

#[test]
fn size_limits() {
    let l = Limits::default();
    let close = Some("close".to_string());
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(l.max_request_line)
    );
    assert_eq!(raw_status(long.as_bytes()), (414, close.clone(), 1));
    // Just under: an ordinary 404.
    let path = "a".repeat(l.max_request_line - "GET / HTTP/1.1".len());
    let fits = format!("GET /{path} HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(raw_status(fits.as_bytes()).0, 404);
    // A request line that never ends is cut off at the limit, not read forever.
    let endless = format!("GET /{}", "a".repeat(100_000));
    assert_eq!(raw_status(endless.as_bytes()).0, 414);
    let many: String = (0..l.max_headers)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    assert_eq!(raw_status(raw.as_bytes()), (431, close.clone(), 1));
    let ok: String = (0..l.max_headers - 1)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect();
    assert_eq!(
        raw_status(format!("GET / HTTP/1.1\r\nHost: t\r\n{ok}\r\n").as_bytes()).0,
        200
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "v".repeat(l.max_header_bytes)
    );
    assert_eq!(raw_status(big.as_bytes()), (431, close, 1));
}

#[test]
fn shared_blobs_give_the_same_bytes() {
    let limits = Limits {
        chunk: 7000,
        ..Limits::default()
    };
    let etag = get("/big.bin").header("ETag").unwrap().to_string();
    let requests = [
        "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
        "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n".into(),
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=123-200000\r\n\r\n".into(),
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-7001\r\n\r\n".into(),
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=300000-\r\n\r\n".into(),
        format!("GET /big.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n"),
        "GET /empty.txt HTTP/1.1\r\nHost: t\r\n\r\n".into(),
        "GET /link-to-guide HTTP/1.1\r\nHost: t\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: t\r\n\r\n".into(),
        "GET /bad.txt HTTP/1.1\r\nHost: t\r\n\r\n".into(),
    ];
    let input = requests.concat();
    let mut plain = site();
    let mut shared = site();
    shared.share_blobs = true;
    let a = respond(&mut plain, input.as_bytes(), &limits);
    let b = respond(&mut shared, input.as_bytes(), &limits);
    let heads: Vec<bool> = requests.iter().map(|r| r.starts_with("HEAD")).collect();
    let rs = parse_all(&b, &heads);
    assert_eq!(rs.len(), requests.len());
    assert_eq!(rs[2].body, pattern(300_000)[123..=200_000]);
    assert_eq!(rs.last().unwrap().status, 500);
    assert!(a == b, "same bytes with and without shared blobs");
    assert_eq!((plain.log.len(), shared.log.len()), (1, 1));
}

/// Delivers its input one byte per read; records writes.
struct Trickle<'a> {
    input: &'a [u8],
    output: Vec<u8>,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.input.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(slot)) => {
                *slot = b;
                self.input = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

impl std::io::Write for Trickle<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn requests_arriving_a_byte_at_a_time() {
    let input = "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\nGET /docs/ HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n\r\n";
    let mut s = Trickle {
        input: input.as_bytes(),
        output: Vec::new(),
    };
    let stats = gitfs_http::handle_connection(&mut s, &mut site(), &Limits::default()).unwrap();
    assert_eq!(stats.requests, 2);
    let rs = parse_all(&s.output, &[]);
    assert_eq!((rs[0].body.as_slice(), rs[1].status), (&b"body{}"[..], 206));
    assert_eq!(
        respond(&mut site(), input.as_bytes(), &Limits::default()),
        s.output
    );
}

#[test]
fn garbage_never_panics_and_is_answered_in_http() {
    let methods = ["GET", "HEAD", "POST", "get", "GET\x01"];
    let segs = [
        "docs",
        "..",
        ".",
        "%2e%2E",
        "%2F",
        "%00",
        "%",
        "%zz",
        "",
        "style.css",
        "big.bin",
        "link-to-guide",
        "escape",
        "loop-a",
        "\u{e9}",
        "index.html",
        "vendor",
        "?q",
        "#f",
    ];
    let versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", "HTTX/1.1"];
    let headers = [
        "Host: t",
        "Host: u",
        "Range: bytes=0-5",
        "Range: bytes=-3",
        "Range: bytes=9999999-",
        "Range: bytes=5-1,2-3",
        "If-None-Match: *",
        "If-None-Match: W/\"x\"",
        "If-Range: \"x\"",
        "Connection: close",
        "Content-Length: 2",
        "Content-Length: z",
        "Transfer-Encoding: chunked",
        "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT",
        "Bad Header",
        ": empty",
    ];
    let mut x = gitfs_testkit::Xorshift::new(0x9e37_79b9_7f4a_7c15);
    let mut next = move |n: usize| (x.next_u64() % n as u64) as usize;
    let mut c = site();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3000 {
        let mut input = Vec::new();
        for _ in 0..1 + next(3) {
            let mut target = String::from(if next(8) == 0 { "http://h" } else { "" });
            for _ in 0..next(5) {
                target.push('/');
                target.push_str(segs[next(segs.len())]);
            }
            if target.is_empty() || next(4) == 0 {
                target.push('/');
            }
            let mut req = format!(
                "{} {target} {}\r\n",
                methods[next(methods.len())],
                versions[next(versions.len())]
            );
            for _ in 0..next(5) {
                req.push_str(headers[next(headers.len())]);
                req.push_str("\r\n");
            }
            req.push_str("\r\n");
            let mut bytes = req.into_bytes();
            // Now and then a byte flipped or the request cut short.
            match next(10) {
                0 => {
                    let i = next(bytes.len());
                    bytes[i] ^= 1 << next(8);
                }
                1 => bytes.truncate(next(bytes.len())),
                _ => {}
            }
            input.extend_from_slice(&bytes);
        }
        let out = respond(&mut c, &input, &Limits::default());
        assert!(
            out.is_empty() || out.starts_with(b"HTTP/1.1 "),
            "{:?}",
            String::from_utf8_lossy(&input)
        );
        if out.len() >= 12 {
            seen.insert(String::from_utf8_lossy(&out[9..12]).into_owned());
        }
    }
    // The inputs reach past the parser, not only its errors.
    assert!(seen.len() >= 8, "statuses seen: {seen:?}");
    eprintln!("statuses seen: {seen:?}");
}
