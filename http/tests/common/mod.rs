#![allow(dead_code)]

use gitfs_http::mem::MemContent;

/// One parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut it = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = it.next().map(|(_, v)| v.as_str());
        assert!(it.next().is_none(), "{name} sent twice");
        first
    }
}

/// Splits a byte stream into responses. `head_only[i]` says whether response i answers
/// a HEAD (no body even with a Content-Length).
pub fn parse_all(mut bytes: &[u8], head_only: &[bool]) -> Vec<Resp> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut hs);
        let n = match r.parse(bytes).expect("valid response") {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("truncated response head"),
        };
        assert_eq!(r.version, Some(1), "HTTP/1.1 responses");
        let status = r.code.unwrap();
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse::<usize>().unwrap());
        let no_body = status == 304 || head_only.get(out.len()).copied().unwrap_or(false);
        let body_len = if no_body {
            0
        } else {
            len.expect("Content-Length")
        };
        assert!(bytes.len() >= n + body_len, "body cut short");
        let body = bytes[n..n + body_len].to_vec();
        bytes = &bytes[n + body_len..];
        out.push(Resp {
            status,
            headers,
            body,
        });
    }
    out
}

pub const TIME: u64 = 1_700_000_000;
pub const TIME_STR: &str = "Tue, 14 Nov 2023 22:13:20 GMT";

/// Bytes that differ at every offset, so a range off by one shows.
pub fn pattern(len: usize) -> Vec<u8> {
    gitfs_testkit::noise(len, 0x1234_5678)
}

/// The tree most tests use.
pub fn site() -> MemContent {
    let mut c = MemContent::new(TIME);
    c.file("index.html", b"<h1>home</h1>")
        .file("style.css", b"body{}")
        .file("docs/guide.md", b"# Guide\n")
        .file("docs/a b&<c>.txt", b"odd name")
        .file("docs/sub/deep.json", b"{}")
        .exec("bin/run.sh", b"#!/bin/sh\necho hi\n")
        .file("big.bin", &pattern(300_000))
        .file("empty.txt", b"")
        .file("img/logo.png", b"\x89PNG....")
        .symlink("link-to-guide", "docs/guide.md")
        .symlink("docs/up", "../style.css")
        .symlink("docs/self-dir", "sub")
        .symlink("docs/chain", "up")
        .symlink("escape", "../outside")
        .symlink("escape2", "docs/../../x")
        .symlink("absolute", "/etc/passwd")
        // Would name a file of the tree if taken as relative to the root.
        .symlink("absolute-inside", "/style.css")
        .symlink("loop-a", "loop-b")
        .symlink("loop-b", "loop-a")
        .symlink("dangling", "nope")
        .symlink("through-file", "style.css/x")
        .submodule("vendor/lib")
        .file("bad.txt", b"will not verify")
        .corrupt("bad.txt");
    c
}
