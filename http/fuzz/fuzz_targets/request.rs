//! The HTTP server on any bytes a client could send (one or several pipelined
//! requests), over a small in-memory tree: it answers, never panics, and every response
//! starts with a status line.
#![no_main]

use gitfs_http::mem::MemContent;
use gitfs_http::{respond, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut content = MemContent::new(1_700_000_000);
    content
        .file("index.html", b"<p>hi</p>")
        .file("docs/read me.md", b"# read me\n")
        .exec("bin/run.sh", b"#!/bin/sh\n")
        .symlink("link", "docs/read me.md")
        .symlink("up", "../../etc/passwd");
    let limits = Limits {
        max_requests: 16,
        ..Limits::default()
    };
    let out = respond(&mut content, input, &limits);
    assert!(out.is_empty() || out.starts_with(b"HTTP/1.1 "), "{out:?}");
});
