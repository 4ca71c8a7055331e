//! `gitfs-bench serve`: what serving costs, measured end to end under TCG.
//!
//! Boot-to-ready time and memory against the number of files (generated directories
//! turned into images by the real `imager`, cached under `target/bench/`), fetch latency
//! for small files and throughput for a 10 MiB file through the console, each next to the
//! same read through the host library (`gitfs_format::Image` on the image file).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use gitfs_format::{EntryMode, FileDevice, Image, ObjectId, ObjectKind};
use gitfs_qemu::{artifacts, Session, Transport, VmConfig};
use gitfs_testkit::Xorshift;

use crate::stats::{median, ms, percentile};

#[derive(Args)]
pub struct Opts {
    /// File counts of the boot-time images (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000"
    )]
    files: Vec<usize>,
    /// Boots per image (the median is shown).
    #[arg(long, default_value_t = 3)]
    boots: usize,
    /// Small-file fetches for the latency row.
    #[arg(long, default_value_t = 200)]
    fetches: usize,
    /// Size of the large file in MiB (0 skips the throughput rows).
    #[arg(long, default_value_t = 10)]
    big_mib: usize,
    /// Where generated images are cached.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// The imager binary (default: target/release/imager, built or brought up to date
    /// with cargo).
    #[arg(long, value_name = "PATH")]
    imager: Option<PathBuf>,
}

/// Bumped when the generated content or the image layout changes, so cached images
/// are remade (2: trees written together, before the blobs).
const GENERATION: u32 = 2;

pub fn run(opts: &Opts, base: &VmConfig) -> Result<()> {
    let root = artifacts::repo_root();
    let cache = opts
        .cache
        .clone()
        .unwrap_or_else(|| root.join("target").join("bench"));
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let imager = crate::imager(opts.imager.as_deref())?;
    let mhz = gitfs_qemu::cmdline::host_cpu_mhz();
    println!(
        "gitfs serving benchmark: QEMU TCG, 1 vCPU, -m {}, host CPU {} MHz passed as -freq",
        base.memory,
        mhz.map_or("unknown".to_string(), |m| m.to_string())
    );
    println!();
    boot_table(opts, base, &imager, &cache)?;
    println!();
    fetch_table(opts, base, &imager, &cache)?;
    Ok(())
}

// ---------------------------------------------------------------- images

/// Path of the i-th generated file: 100 files per directory, 10 directories per parent.
fn gen_path(i: usize) -> String {
    format!("d{:03}/e{}/file-{i:06}.txt", i / 1000, (i / 100) % 10)
}

/// Small distinct text contents, 20 to a few hundred bytes.
fn gen_text(i: usize) -> Vec<u8> {
    format!("generated file {i}\n")
        .repeat(1 + i % 13)
        .into_bytes()
}

/// Makes `cache/NAME.img` from a directory filled by `fill`, unless it is cached.
fn cached_image(
    cache: &Path,
    imager: &Path,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let img = cache.join(format!("{name}-g{GENERATION}.img"));
    if img.is_file() {
        return Ok(img);
    }
    let src = cache.join(format!("{name}-src"));
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src)?;
    eprintln!("generating {} (cached for later runs)", img.display());
    fill(&src).with_context(|| format!("generating {}", src.display()))?;
    let st = Command::new(imager)
        .arg("make")
        .arg(&src)
        .arg(&img)
        .args(["--force", "--quiet", "--date", "2024-01-01T00:00:00Z"])
        .status()
        .with_context(|| format!("running {}", imager.display()))?;
    let _ = std::fs::remove_dir_all(&src);
    if !st.success() {
        bail!("imager make failed ({st})");
    }
    Ok(img)
}

fn write_file(root: &Path, rel: &str, data: &[u8]) -> Result<()> {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))
}

fn files_image(cache: &Path, imager: &Path, n: usize) -> Result<PathBuf> {
    cached_image(cache, imager, &format!("files-{n}"), |dir| {
        (0..n).try_for_each(|i| write_file(dir, &gen_path(i), &gen_text(i)))
    })
}

pub const SMALL_FILES: usize = 1000;
pub const BIG: &str = "big.bin";

/// 1000 small files of 64 B to 4 KiB (random bytes) and one large random file.
pub fn fetch_image(cache: &Path, imager: &Path, big_mib: usize) -> Result<PathBuf> {
    cached_image(cache, imager, &format!("fetch-{big_mib}m"), |dir| {
        let mut rng = Xorshift::new(0x5eed_1234_abcd_0001);
        for i in 0..SMALL_FILES {
            let len = 64 + (rng.next_u64() % 4032) as usize;
            write_file(dir, &small_path(i), &rng.bytes(len))?;
        }
        write_file(dir, BIG, &rng.bytes(big_mib << 20))
    })
}

pub fn small_path(i: usize) -> String {
    format!("small/s{:02}/f{i:04}.bin", i / 100)
}

// ---------------------------------------------------------------- host library

pub fn host_open(img: &Path) -> Result<Image<FileDevice>> {
    Image::open(FileDevice::open(img).with_context(|| img.display().to_string())?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", img.display()))
}

/// Host equivalent of the kernel's boot: open (header + IDX) and walk every tree.
fn host_walk(img: &Path) -> Result<(Duration, u64)> {
    let t = Instant::now();
    let mut image = host_open(img)?;
    let root = image.header().tree;
    let mut stack = vec![root];
    let mut files = 0u64;
    while let Some(id) = stack.pop() {
        let entries = image
            .tree(&id)
            .map_err(|e| anyhow::anyhow!("tree {id}: {e}"))?;
        for e in entries {
            match e.kind() {
                Some(EntryMode::Tree) => stack.push(e.id),
                Some(EntryMode::File | EntryMode::Executable) => files += 1,
                _ => {}
            }
        }
    }
    Ok((t.elapsed(), files))
}

/// Host equivalent of `@get`: path lookup, read, SHA-1 check.
pub fn host_get(image: &mut Image<FileDevice>, path: &str) -> Result<Vec<u8>> {
    let (_, id): (EntryMode, ObjectId) = image
        .lookup(path.as_bytes())
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?
        .with_context(|| format!("{path}: not in the image"))?;
    let obj = image
        .read_verified(&id)
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    if obj.kind != ObjectKind::Blob {
        bail!("{path}: not a blob");
    }
    Ok(obj.data)
}

// ---------------------------------------------------------------- tables

/// Milliseconds of `n` `@ping` round trips, sorted.
pub fn ping_times(s: &mut Session, n: usize) -> Result<Vec<f64>> {
    let mut ping = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        s.ping()?;
        ping.push(ms(t.elapsed()));
    }
    ping.sort_by(f64::total_cmp);
    Ok(ping)
}

/// A session on `img` over the serial console (this benchmark's subject).
fn session(base: &VmConfig, img: &Path) -> Result<Session> {
    session_on(base, img, Transport::Serial)
}

/// A session on `img` over `transport`.
pub fn session_on(base: &VmConfig, img: &Path, transport: Transport) -> Result<Session> {
    let mut c = base.clone();
    c.disk = Some(img.to_path_buf());
    c.app_args.retain(|a| a != "--no-disk");
    Session::boot_with(&c, transport).with_context(|| format!("booting with {}", img.display()))
}

fn boot_table(opts: &Opts, base: &VmConfig, imager: &Path, cache: &Path) -> Result<()> {
    println!(
        "Boot to ready (median of {} boots; guest figures from the ready line)",
        opts.boots
    );
    println!();
    println!(
        "| files | dirs | image | spawn->ready | guest boot_ms | tree_bytes | tree B/file | heap_bytes | host open+walk |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &opts.files {
        let img = files_image(cache, imager, n)?;
        let size = std::fs::metadata(&img)?.len();
        let (mut host, mut guest) = (Vec::new(), Vec::new());
        let mut last = None;
        for _ in 0..opts.boots.max(1) {
            let mut s = session(base, &img)?;
            host.push(ms(s.vm().boot_time().unwrap_or_default()));
            let r = s.ready().clone();
            if let Some(b) = r.num("boot_ms") {
                guest.push(b as f64);
            }
            let exit = s.quit()?;
            if exit != gitfs_qemu::Exit::Success {
                bail!("{}: stop ended with {exit}", img.display());
            }
            last = Some(r);
        }
        let r = last.context("no boot")?;
        let files = r.num("files").unwrap_or(0);
        if files != n as u64 {
            bail!(
                "{}: the kernel reports {files} files, generated {n}",
                img.display()
            );
        }
        let tree = r.num("tree_bytes");
        let per_file = tree.map(|t| t as f64 / files.max(1) as f64);
        let (walk, walked) = host_walk(&img)?;
        if walked != files {
            bail!("host walk found {walked} files, kernel {files}");
        }
        let opt = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
        println!(
            "| {n} | {} | {:.1} MiB | {:.0} ms | {} | {} | {} | {} | {:.0} ms |",
            opt(r.num("dirs")),
            size as f64 / (1 << 20) as f64,
            median(&mut host),
            if guest.is_empty() {
                "?".into()
            } else {
                format!("{:.0} ms", median(&mut guest))
            },
            opt(tree),
            per_file.map_or("?".into(), |b| format!("{b:.1}")),
            opt(r.num("heap_bytes")),
            ms(walk),
        );
    }
    Ok(())
}

fn fetch_table(opts: &Opts, base: &VmConfig, imager: &Path, cache: &Path) -> Result<()> {
    let img = fetch_image(cache, imager, opts.big_mib)?;
    let mut s = session(base, &img)?;
    s.set_idle_timeout(Duration::from_secs(120));
    let mut host_img = host_open(&img)?;
    let n = opts.fetches.clamp(1, SMALL_FILES);
    // Spread over the directories; a stride coprime with 1000 visits distinct files.
    let paths: Vec<String> = (0..n)
        .map(|k| small_path((k * 7 + 3) % SMALL_FILES))
        .collect();

    // Per-request overhead of the console alone.
    let ping = ping_times(&mut s, 50)?;
    // The same request padded to 200 bytes (trailing blanks are trimmed): the cost of
    // request bytes going in (each is echoed by the kernel as four bytes).
    let mut padded_line = b"@ping".to_vec();
    padded_line.resize(200, b' ');
    let mut padded = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        match s.raw(&padded_line)? {
            gitfs_qemu::session::Response::Ok { .. } => {}
            other => bail!("padded ping: {other:?}"),
        }
        padded.push(ms(t.elapsed()));
    }
    padded.sort_by(f64::total_cmp);

    let (mut guest, mut host, mut bytes) = (Vec::new(), Vec::new(), 0usize);
    for p in &paths {
        let t = Instant::now();
        let data = s.get(p)?;
        guest.push(ms(t.elapsed()));
        let t = Instant::now();
        let h = host_get(&mut host_img, p)?;
        host.push(ms(t.elapsed()));
        if h != data {
            bail!("{p}: console and host library disagree");
        }
        bytes += data.len();
    }
    guest.sort_by(f64::total_cmp);
    host.sort_by(f64::total_cmp);
    // The same requests for one byte: lookup, read, inflate and SHA-1 of the whole blob
    // in the guest, the same request bytes in, almost no payload out.
    let mut one = Vec::new();
    for p in &paths {
        let t = Instant::now();
        s.range(p, 0, 1)?;
        one.push(ms(t.elapsed()));
    }
    one.sort_by(f64::total_cmp);
    // Path lookup in the in-memory tree only: no disk, no inflate, 40 bytes out.
    let mut dig = Vec::new();
    for p in &paths {
        let t = Instant::now();
        s.digest(p)?;
        dig.push(ms(t.elapsed()));
    }
    dig.sort_by(f64::total_cmp);

    println!("Fetch through the console vs the host library on the same image");
    println!();
    println!("| read | console p50 | console p99 | host lib p50 | host lib p99 |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| @ping (no file work) x50 | {:.2} ms | {:.2} ms | - | - |",
        percentile(&ping, 50.0),
        percentile(&ping, 99.0)
    );
    println!(
        "| @ping padded to 200 request bytes x20 | {:.2} ms | {:.2} ms | - | - |",
        percentile(&padded, 50.0),
        percentile(&padded, 99.0)
    );
    println!(
        "| small file x{n} (avg {} B) | {:.2} ms | {:.2} ms | {:.3} ms | {:.3} ms |",
        bytes / n,
        percentile(&guest, 50.0),
        percentile(&guest, 99.0),
        percentile(&host, 50.0),
        percentile(&host, 99.0)
    );
    println!(
        "| same files, @range 0 1 (guest work, ~no payload) | {:.2} ms | {:.2} ms | - | - |",
        percentile(&one, 50.0),
        percentile(&one, 99.0)
    );
    println!(
        "| same files, @digest (tree lookup only, no disk read) | {:.2} ms | {:.2} ms | - | - |",
        percentile(&dig, 50.0),
        percentile(&dig, 99.0)
    );
    if opts.big_mib > 0 {
        big_rows(&mut s, &mut host_img, opts.big_mib)?;
    }
    let exit = s.quit()?;
    if exit != gitfs_qemu::Exit::Success {
        bail!("stop ended with {exit}");
    }
    Ok(())
}

/// Throughput of a large file, and where its time goes: the guest's own work (read,
/// inflate, SHA-1: a 1-byte range of the same file, which still verifies the whole
/// blob) against the transfer over the serial port.
fn big_rows(s: &mut Session, host_img: &mut Image<FileDevice>, mib: usize) -> Result<()> {
    let size = (mib << 20) as f64;
    let t = Instant::now();
    let one = s.range(BIG, 0, 1)?;
    let work = t.elapsed();
    let t = Instant::now();
    let data = s.get(BIG)?;
    let total = t.elapsed();
    let t = Instant::now();
    let h = host_get(host_img, BIG)?;
    let host = t.elapsed();
    if h != data || one.first() != data.first() {
        bail!("{BIG}: console and host library disagree");
    }
    let escaped = data
        .iter()
        .filter(|&&b| matches!(b, 0x08 | 0x7f | 0x10))
        .count();
    let wire = data.len() + escaped;
    let transfer = total.saturating_sub(work);
    let mbps = |bytes: f64, d: Duration| bytes / d.as_secs_f64().max(1e-9) / 1e6;
    println!();
    println!("| {mib} MiB file | time | rate |");
    println!("|---|---:|---:|");
    println!(
        "| @get through the console | {:.0} ms | {:.2} MB/s |",
        ms(total),
        mbps(size, total)
    );
    println!(
        "| host library (lookup + read + SHA-1) | {:.1} ms | {:.0} MB/s |",
        ms(host),
        mbps(size, host)
    );
    println!(
        "| guest work only (@range 0 1: read + inflate + SHA-1, no transfer) | {:.0} ms | {:.1} MB/s |",
        ms(work),
        mbps(size, work)
    );
    println!(
        "| serial transfer (@get minus guest work; {wire} bytes on the wire) | {:.0} ms | {:.2} MB/s |",
        ms(transfer),
        mbps(wire as f64, transfer)
    );
    println!();
    println!(
        "Transfer share of @get: {:.0}%.",
        100.0 * transfer.as_secs_f64() / total.as_secs_f64().max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_unique() {
        let set: std::collections::HashSet<String> = (0..5000).map(gen_path).collect();
        assert_eq!(set.len(), 5000);
        let set: std::collections::HashSet<String> = (0..SMALL_FILES)
            .map(|k| small_path((k * 7 + 3) % SMALL_FILES))
            .collect();
        assert_eq!(set.len(), SMALL_FILES);
    }
}
