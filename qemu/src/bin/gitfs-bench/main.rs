//! `gitfs-bench`: the benchmarks of the unikernel under QEMU, each next to a peer
//! measured in the same run; `just bench` runs them all and prints their tables.
//! The product commands are `gitfs-qemu`'s.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{ensure, Context, Result};
use clap::{Parser, Subcommand};
use gitfs_qemu::BootOpts;

mod boot_time;
mod console;
mod http;
mod serve;
mod stats;
mod std_fs;
mod transport;

/// Benchmark the gitfs unikernel under QEMU (TCG unless told otherwise): boot time,
/// serving over the console, console transports, HTTP, std::fs on a mount.
#[derive(Parser)]
#[command(name = "gitfs-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot N times to the ready line; prints median and spread, image sizes.
    BootTime {
        /// Number of boots.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Disk image attached read-only as virtio-blk (without it the app gets
        /// `--no-disk`).
        #[arg(long, value_name = "IMAGE")]
        disk: Option<PathBuf>,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Serving: boot time and memory for 1k/10k/100k-file images, fetch latency and
    /// throughput through the console next to the host library. Generated images are
    /// cached under target/bench/.
    Serve {
        #[command(flatten)]
        opts: serve::Opts,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Console transports: escaped framing and hex on COM1, raw bytes on COM2.
    Console {
        #[command(flatten)]
        opts: console::Opts,
    },
    /// The HTTP server: 16 MiB downloads, small-file requests per second and latency,
    /// kept-alive and new connections, 1 and 8 clients, next to the benchmark peer.
    Http {
        /// Small-file requests per row.
        #[arg(long, default_value_t = 400)]
        requests: usize,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Transports: the virtio-console channel next to the serial console in the same
    /// run (a large file, small files one by one and pipelined), and the export of a
    /// real source tree next to `git archive | tar -x`.
    Transport {
        #[command(flatten)]
        opts: transport::Opts,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// std::fs on a gitfs mount: the `fsprobe` app reads every file with `fs::read` and
    /// with the library's direct read in one boot; open+metadata p50/p99.
    StdFs {
        #[command(flatten)]
        opts: std_fs::Opts,
        #[command(flatten)]
        boot: BootOpts,
    },
}

/// The imager binary: `given`, else the release build, brought up to date by cargo
/// first (one freshness rule: cargo's).
pub fn imager(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let root = gitfs_qemu::artifacts::repo_root();
    let st = Command::new("cargo")
        .args(["build", "--release", "-q", "-p", "gitfs-imager"])
        .current_dir(&root)
        .status()
        .context("running cargo")?;
    ensure!(st.success(), "building the imager failed ({st})");
    Ok(root.join("target/release/imager"))
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gitfs-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    match Cli::parse().command {
        Cmd::BootTime { runs, disk, boot } => {
            boot_time::run(&boot.config(disk.as_deref(), &[])?, runs)?
        }
        Cmd::Serve { opts, boot } => serve::run(&opts, &boot.config(None, &[])?)?,
        Cmd::Console { opts } => console::run(&opts)?,
        Cmd::Http { requests, boot } => return http::bench(&boot, requests),
        Cmd::Transport { opts, boot } => transport::run(&opts, &boot.config(None, &[])?)?,
        Cmd::StdFs { opts, boot } => std_fs::run(&opts, &boot.config(None, &[])?)?,
    }
    Ok(ExitCode::SUCCESS)
}
