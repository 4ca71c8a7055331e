//! `gitfs-bench std-fs`: what `std::fs` on a gitfs mount costs next to the
//! library's direct read, in the same boot of the `fsprobe` test app, on real corpora.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use gitfs_qemu::{artifacts, Vm, VmConfig};

#[derive(Args)]
pub struct Opts {
    /// Passes over every file per corpus; the fastest counts.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A source (Git repository or directory) to measure instead of the default (this
    /// repository's HEAD); repeatable.
    #[arg(long, value_name = "SOURCE")]
    corpus: Vec<PathBuf>,
}

struct Row {
    name: String,
    files: u64,
    bytes: u64,
    std_ms: f64,
    direct_ms: f64,
    p50_us: f64,
    p99_us: f64,
    /// The mount's own calls made directly, without the kernel.
    volume_ms: f64,
    /// Mean µs per file of each call `fs::read` makes.
    calls_us: [f64; 4],
}

pub fn run(opts: &Opts, base: &VmConfig) -> Result<()> {
    let root = artifacts::repo_root();
    let cache = root.join("target").join("bench");
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let imager = crate::imager(None)?;
    let mut corpora: Vec<(String, PathBuf)> = Vec::new();
    if opts.corpus.is_empty() {
        corpora.push(("gitfs source (HEAD)".into(), root.clone()));
    } else {
        for c in &opts.corpus {
            corpora.push((c.display().to_string(), c.clone()));
        }
    }
    let elf = artifacts::find_or_build_app(&root, "fsprobe").context("preparing fsprobe")?;
    println!(
        "std::fs on a gitfs mount (fsprobe app, QEMU TCG, 1 vCPU, -m {}): every file read \
         with fs::read and with the library's direct read in the same boot, blob cache \
         emptied before each pass; best of {} passes",
        base.memory, opts.rounds
    );
    println!();
    println!(
        "| corpus | files | MB | std::fs read | direct read | ratio | open+metadata p50 | p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for (i, (name, src)) in corpora.iter().enumerate() {
        let image = cache.join(format!("std-fs-{i}.img"));
        let st = Command::new(&imager)
            .arg("make")
            .arg(src)
            .arg(&image)
            .args(["--force", "--quiet"])
            .status()
            .context("running imager")?;
        if !st.success() {
            bail!("{name}: imager make failed ({st})");
        }
        let row = measure(base, &elf, &image, name, opts.rounds)?;
        println!(
            "| {} | {} | {:.1} | {:.0} ms | {:.0} ms | {:.2}x | {:.0} µs | {:.0} µs |",
            row.name,
            row.files,
            row.bytes as f64 / 1e6,
            row.std_ms,
            row.direct_ms,
            row.std_ms / row.direct_ms,
            row.p50_us,
            row.p99_us
        );
        rows.push(row);
    }
    println!();
    println!(
        "Where the time goes, µs per file: the direct read; the mount's calls (open, \
         fstat, read, close) made directly on the volume, without the kernel; and each \
         system call of fs::read, from the app"
    );
    println!();
    println!("| corpus | direct | volume calls | open | fstat | read | close |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let per_file = |ms: f64| ms * 1e3 / row.files.max(1) as f64;
        let [open, fstat, read, close] = row.calls_us;
        println!(
            "| {} | {:.0} | {:.0} | {open:.0} | {fstat:.0} | {read:.0} | {close:.0} |",
            row.name,
            per_file(row.direct_ms),
            per_file(row.volume_ms),
        );
    }
    Ok(())
}

fn measure(base: &VmConfig, elf: &Path, image: &Path, name: &str, rounds: usize) -> Result<Row> {
    let mut config = base.clone();
    config.disk = Some(image.to_path_buf());
    config.app_args.clear();
    config.request_timeout = Duration::from_secs(300);
    if let Some(a) = config.artifacts.as_mut() {
        a.kernel = elf.to_path_buf();
    }
    let mut vm = Vm::boot(&config).with_context(|| format!("{name}: booting fsprobe"))?;
    let answer = vm.request(&format!("bench\t{rounds}"))?;
    vm.stop().context("stopping fsprobe")?;
    let Some(fields) = answer.strip_prefix("ok ") else {
        bail!("{name}: fsprobe answered {answer:?}");
    };
    let get = |key: &str| -> Result<f64> {
        fields
            .split(' ')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name}: no {key} in {answer:?}"))
    };
    Ok(Row {
        name: name.to_string(),
        files: get("files")? as u64,
        bytes: get("bytes")? as u64,
        std_ms: get("std_ms")?,
        direct_ms: get("direct_ms")?,
        p50_us: get("open_meta_p50_us")?,
        p99_us: get("open_meta_p99_us")?,
        volume_ms: get("volume_ms")?,
        calls_us: [
            get("open_us")?,
            get("fstat_us")?,
            get("read_us")?,
            get("close_us")?,
        ],
    })
}
