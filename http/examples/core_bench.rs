//! Host CPU cost of the server core (no sockets): requests per second through
//! `respond` with pipelined keep-alive requests, and body throughput.
//! `cargo run --release -p gitfs-http --example core_bench`

use std::time::Instant;

use gitfs_http::mem::MemContent;
use gitfs_http::{respond, Limits};

fn run(name: &str, c: &mut MemContent, request: &str, count: usize) {
    let input = request.repeat(count);
    let limits = Limits {
        max_requests: u64::MAX,
        ..Limits::default()
    };
    // Best of 3.
    let mut best = f64::MAX;
    let mut out_len = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let out = respond(c, input.as_bytes(), &limits);
        best = best.min(t.elapsed().as_secs_f64());
        out_len = out.len();
    }
    println!(
        "| {name} | {count} | {:.2} | {:.0} | {:.0} |",
        best * 1e6 / count as f64,
        count as f64 / best,
        out_len as f64 / best / 1e6
    );
}

fn main() {
    let mut c = MemContent::new(1_700_000_000);
    c.file("small.txt", &[b'x'; 1024]);
    c.file("big.bin", &vec![7u8; 16 << 20]);
    for i in 0..1000 {
        c.file(&format!("dir/file-{i:04}.txt"), b"1");
    }
    c.file("site/index.html", b"<h1>hi</h1>");
    println!("| request | count | us/request | requests/s | MB/s out |");
    println!("|---|---|---|---|---|");
    let h = "Host: bench\r\nUser-Agent: bench/1\r\nAccept: */*\r\n";
    run(
        "GET 1 KiB file",
        &mut c,
        &format!("GET /small.txt HTTP/1.1\r\n{h}\r\n"),
        20_000,
    );
    run(
        "HEAD 1 KiB file",
        &mut c,
        &format!("HEAD /small.txt HTTP/1.1\r\n{h}\r\n"),
        20_000,
    );
    let etag = "\"0000000000000000000000000000000000000000\"";
    run(
        "GET, If-None-Match not matching",
        &mut c,
        &format!("GET /small.txt HTTP/1.1\r\n{h}If-None-Match: {etag}\r\n\r\n"),
        20_000,
    );
    run(
        "GET dir/ index.html",
        &mut c,
        &format!("GET /site/ HTTP/1.1\r\n{h}\r\n"),
        20_000,
    );
    run(
        "GET 404",
        &mut c,
        &format!("GET /missing/file HTTP/1.1\r\n{h}\r\n"),
        20_000,
    );
    run(
        "GET listing, 1000 entries",
        &mut c,
        &format!("GET /dir/ HTTP/1.1\r\n{h}\r\n"),
        200,
    );
    run(
        "GET 16 MiB file",
        &mut c,
        &format!("GET /big.bin HTTP/1.1\r\n{h}\r\n"),
        10,
    );
    run(
        "GET 1 MiB range of 16 MiB",
        &mut c,
        &format!("GET /big.bin HTTP/1.1\r\n{h}Range: bytes=4194304-5242879\r\n\r\n"),
        100,
    );
}
