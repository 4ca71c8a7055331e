//! Read throughput of `Image` over an in-memory image made by stock git.
//!
//! `cargo run --release -p gitfs-format --example read_bench -- REPO [REV]`
//! packs every object reachable from REV (default HEAD) with
//! `git pack-objects --delta-base-offset --window=50 --depth=50`, wraps PACK + IDX in
//! an image, and prints a table: open, read all objects in PACK order and in id order
//! (with the default delta-base cache and without), and a full verify.

use std::process::{Command, Stdio};
use std::time::Instant;

use gitfs_format::{Header, Image, ObjectId};

fn git(repo: &str, args: &[&str], input: Option<Vec<u8>>) -> Vec<u8> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .spawn()
        .expect("git");
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data).unwrap());
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    out.stdout
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let repo = args.get(1).expect("usage: read_bench REPO [REV]").as_str();
    let rev = args.get(2).map(String::as_str).unwrap_or("HEAD");
    let commit = ObjectId::from_hex(git(repo, &["rev-parse", rev], None).trim_ascii()).unwrap();
    let tree = ObjectId::from_hex(
        git(repo, &["rev-parse", &format!("{rev}^{{tree}}")], None).trim_ascii(),
    )
    .unwrap();
    let objects = git(repo, &["rev-list", "--objects", rev], None);
    let tmp = std::env::temp_dir().join(format!("gitfs-read-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let base = tmp.join("p");
    let sha = git(
        repo,
        &[
            "pack-objects",
            "-q",
            "--delta-base-offset",
            "--window=50",
            "--depth=50",
            base.to_str().unwrap(),
        ],
        Some(objects),
    );
    let sha = String::from_utf8(sha).unwrap();
    let pack = std::fs::read(format!("{}-{}.pack", base.display(), sha.trim())).unwrap();
    let idx = std::fs::read(format!("{}-{}.idx", base.display(), sha.trim())).unwrap();
    let _ = std::fs::remove_dir_all(&tmp);
    let count = u32::from_be_bytes(pack[8..12].try_into().unwrap());
    let h = Header::new(
        commit,
        tree,
        rev,
        count.into(),
        pack.len() as u64,
        idx.len() as u64,
    )
    .unwrap();
    let mut image = h.encode();
    image.resize(h.pack.offset as usize, 0);
    image.extend_from_slice(&pack);
    image.resize(h.idx.offset as usize, 0);
    image.extend_from_slice(&idx);
    image.resize(h.image_len as usize, 0);

    println!(
        "repo {repo} rev {rev}: {count} objects, PACK {} KiB, IDX {} KiB",
        pack.len() >> 10,
        idx.len() >> 10
    );
    println!(
        "{:<34} {:>10} {:>12} {:>10} {:>10}",
        "operation", "ms", "MiB/s out", "inflates", "cache hits"
    );
    let t = Instant::now();
    let img = Image::open(image.clone()).unwrap();
    println!("{:<34} {:>10.2}", "open", t.elapsed().as_secs_f64() * 1e3);
    let offsets = img.entry_offsets().to_vec();
    let ids: Vec<ObjectId> = (0..img.index().len() as u32)
        .map(|p| img.index().id_at(p).unwrap())
        .collect();
    drop(img);
    for (order, by_offset) in [("PACK order", true), ("id order", false)] {
        for (cache_name, cache) in [("32 MiB cache", 32usize << 20), ("no cache", 0)] {
            let mut img = Image::open_with(image.clone(), cache).unwrap();
            let t = Instant::now();
            let mut bytes = 0usize;
            if by_offset {
                for &off in &offsets {
                    bytes += img.read_at_offset(off).unwrap().data.len();
                }
            } else {
                for id in &ids {
                    bytes += img.read(id).unwrap().data.len();
                }
            }
            let s = t.elapsed().as_secs_f64();
            let st = img.cache_stats();
            println!(
                "{:<34} {:>10.1} {:>12.1} {:>10} {:>10}",
                format!("read all, {order}, {cache_name}"),
                s * 1e3,
                bytes as f64 / s / (1 << 20) as f64,
                st.inflated,
                st.hits
            );
        }
    }
    let mut img = Image::open(image).unwrap();
    let t = Instant::now();
    let r = img.verify().unwrap();
    println!(
        "{:<34} {:>10.1}   ({} objects, {} deltas)",
        "verify",
        t.elapsed().as_secs_f64() * 1e3,
        r.objects,
        r.deltas
    );
}
