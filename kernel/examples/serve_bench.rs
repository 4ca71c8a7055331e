//! Request-loop benchmark on the host: how fast our code frames and decodes, to compare
//! with the serial console (about 1 MB/s under TCG): the console must be the bottleneck.
//!
//! `cargo +nightly-2025-03-15 run --release --manifest-path kernel/Cargo.toml \
//!   --target x86_64-unknown-linux-gnu --example serve_bench`

use std::time::Instant;

use gitfs::fs::Fs;
use gitfs::tree::testimage::{noise, Entry, Repo};
use gitfs_console::{encode_request, Decoder, Request, Response};
use gitfs_kernel::server::serve;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p) as usize]
}

fn main() {
    let big = noise(10 << 20, 1);
    let mut entries = vec![Entry::file("big.bin", &big)];
    for i in 0..1000 {
        entries.push(Entry::file(
            format!("small/f{i:04}.txt"),
            format!("small file {i}\n").repeat(20).as_bytes(),
        ));
    }
    let repo = Repo::new(&entries).expect("repository");
    let mut fs = Fs::open(repo.image().expect("image")).expect("open");

    // First read: inflate + SHA-1 + framing; then the cached blob: framing only.
    let line = encode_request(&Request::Get(b"big.bin".to_vec()));
    println!("| step | MB/s |");
    println!("|---|---:|");
    for label in [
        "serve @get 10 MiB (inflate + verify + frame)",
        "serve @get 10 MiB (cached blob, frame only)",
    ] {
        let mut out = Vec::with_capacity(11 << 20);
        let t = Instant::now();
        serve(&mut fs, &line[..], &mut out);
        let secs = t.elapsed().as_secs_f64();
        println!("| {label} | {:.0} |", big.len() as f64 / secs / 1e6);
        if label.contains("cached") {
            let t = Instant::now();
            let (_, r) = Decoder::new().feed(&out);
            let secs = t.elapsed().as_secs_f64();
            match r {
                Some(Ok(Response::Ok { payload, .. })) => assert!(payload == big),
                other => panic!("bad response {other:?}"),
            }
            println!(
                "| host decode 10 MiB | {:.0} |",
                big.len() as f64 / secs / 1e6
            );
        }
    }

    let mut framed = Vec::with_capacity(11 << 20);
    let t = Instant::now();
    let mut framer = gitfs_console::Framer::new(big.len() as u64);
    for c in big.chunks(gitfs_kernel::server::CHUNK) {
        framer.chunk(c, &mut framed);
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(framer.finish().map(|_| ()), Ok(()));
    println!(
        "| escape + CRC-32 only, 10 MiB | {:.0} |",
        big.len() as f64 / secs / 1e6
    );

    let mut lat = Vec::new();
    for i in 0..1000 {
        let line = encode_request(&Request::Get(format!("small/f{i:04}.txt").into_bytes()));
        let mut out = Vec::new();
        let t = Instant::now();
        serve(&mut fs, &line[..], &mut out);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!();
    println!("| small-file @get (280 B), in-loop time | p50 us | p99 us |");
    println!("|---|---:|---:|");
    println!(
        "| 1000 files | {:.1} | {:.1} |",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
}
