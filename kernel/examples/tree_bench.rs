//! Path-tree benchmark on the host: boot-time tree build and its memory per file.
//!
//! Run from the repository root (so the kernel's Hermit cargo config is not picked up):
//! `cargo +nightly-2025-03-15 run --release --manifest-path kernel/Cargo.toml \
//!   --target x86_64-unknown-linux-gnu --example tree_bench [FILES...]`
//! Images come from generated repositories (stock git: fast-import, pack-objects,
//! index-pack), laid out like a source tree: 3 directory levels, 100 files per leaf.

use std::time::Instant;

use gitfs::tree::testimage::{Entry, Repo};
use gitfs::tree::Tree;
use gitfs_format::Image;

fn entries(files: usize) -> Vec<Entry> {
    (0..files)
        .map(|i| {
            let (leaf, n) = (i / 100, i % 100);
            let path = format!(
                "pkg_{:02}/module_{:02}/part_{}/file_{n:03}.rs",
                leaf / 100,
                (leaf / 10) % 10,
                leaf % 10
            );
            let body = format!("// file {i}\npub fn f{i}() -> usize {{ {i} }}\n");
            Entry::file(path, body.as_bytes())
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("FILES must be a number"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 20_000, 100_000]
    } else {
        sizes
    };
    println!(
        "| files | dirs | nodes | image MiB | open ms | tree build ms | tree bytes | bytes/file | lookup us |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for files in sizes {
        let list = entries(files);
        let paths: Vec<Vec<u8>> = list.iter().map(|e| e.path.clone()).collect();
        let repo = Repo::new(&list).expect("repository");
        let img = repo.image().expect("image");
        let image_mib = img.len() as f64 / (1 << 20) as f64;
        let mut open_ms = Vec::new();
        let mut build_ms = Vec::new();
        let mut tree = None;
        for _ in 0..5 {
            let t0 = Instant::now();
            let mut image = Image::open(img.as_slice()).expect("open");
            let t1 = Instant::now();
            let t = Tree::build(&mut image).expect("tree");
            let t2 = Instant::now();
            open_ms.push((t1 - t0).as_secs_f64() * 1e3);
            build_ms.push((t2 - t1).as_secs_f64() * 1e3);
            tree = Some(t);
        }
        let tree = tree.expect("built");
        let t0 = Instant::now();
        for p in &paths {
            tree.lookup(p).expect("every generated path resolves");
        }
        let lookup_us = t0.elapsed().as_secs_f64() * 1e6 / paths.len() as f64;
        let c = tree.counts();
        println!(
            "| {} | {} | {} | {image_mib:.1} | {:.1} | {:.1} | {} | {:.1} | {lookup_us:.2} |",
            c.files,
            c.dirs,
            tree.len(),
            median(open_ms),
            median(build_ms),
            tree.heap_bytes(),
            tree.heap_bytes() as f64 / c.files as f64,
        );
    }
}
