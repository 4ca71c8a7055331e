//! `gitfs-bench http`: throughput and latency of the unikernel's web server under TCG,
//! one vCPU, next to the benchmark peer on the same kernel in the same run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use gitfs_qemu::http::{boot_http, web_config};
use gitfs_qemu::{artifacts, BootOpts, Vm};

use gitfs_testkit::noise;

use crate::stats::{median, ms, percentile};

const BIG: &str = "big.bin";
const BIG_LEN: usize = 16 << 20;
const SMALL_FILES: usize = 64;
const SMALL_LEN: usize = 1024;

/// A directory image with one 16 MiB file of noise and small text files (cached).
fn bench_image(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/bench/http");
    let image = dir.join("http.img");
    if image.is_file() {
        return Ok(image);
    }
    let src = dir.join("src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(src.join("small"))?;
    std::fs::write(src.join(BIG), noise(BIG_LEN, 42))?;
    for i in 0..SMALL_FILES {
        let line = format!("small file {i}\n");
        let body: String = line.repeat(SMALL_LEN / line.len() + 1)[..SMALL_LEN].into();
        std::fs::write(src.join(format!("small/{i}.txt")), body)?;
    }
    let tmp = dir.join("http.img.tmp");
    let st = Command::new(crate::imager(None)?)
        .arg("make")
        .arg(&src)
        .arg(&tmp)
        .status()
        .context("running the imager")?;
    ensure!(st.success(), "imager make failed ({st})");
    std::fs::rename(&tmp, &image)?;
    Ok(image)
}

/// A minimal HTTP/1.1 client: GET on a kept-alive connection, body by Content-Length.
struct Client {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(port: u16) -> Client {
        Client { port, conn: None }
    }

    fn get(&mut self, path: &str, keep_alive: bool, body: &mut Vec<u8>) -> Result<()> {
        if self.conn.is_none() || !keep_alive {
            let s = TcpStream::connect(("127.0.0.1", self.port))?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::with_capacity(256 * 1024, s));
        }
        let Some(conn) = self.conn.as_mut() else {
            bail!("no connection");
        };
        let close = if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        };
        write!(
            conn.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: bench\r\n{close}\r\n"
        )?;
        let mut line = String::new();
        let mut len = None;
        conn.read_line(&mut line)?;
        ensure!(line.starts_with("HTTP/1.1 200"), "{path}: {}", line.trim());
        loop {
            line.clear();
            ensure!(conn.read_line(&mut line)? > 0, "{path}: connection closed");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse::<usize>().ok();
                }
            }
        }
        let len = len.context("no Content-Length")?;
        body.clear();
        body.resize(len, 0);
        conn.read_exact(body)?;
        if !keep_alive {
            self.conn = None;
        }
        Ok(())
    }
}

struct Lat {
    total: Duration,
    count: usize,
    /// Requests that failed (connection reset): not in `samples`.
    failed: usize,
    samples: Vec<Duration>,
}

/// Percentile `p` (0-1) of sorted latencies, in ms.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    let sorted_ms: Vec<f64> = sorted.iter().map(|&d| ms(d)).collect();
    percentile(&sorted_ms, p * 100.0)
}

/// `clients` threads doing `each` small GETs; every body checked for length.
fn small_run(port: u16, clients: usize, each: usize, keep_alive: bool) -> Result<Lat> {
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            thread::spawn(move || -> Result<(Vec<Duration>, usize)> {
                let mut cl = Client::new(port);
                let mut body = Vec::new();
                let mut out = Vec::with_capacity(each);
                let mut failed = 0;
                for i in 0..each {
                    let path = format!("/small/{}.txt", (c * 7 + i) % SMALL_FILES);
                    let t = Instant::now();
                    // A reset connection counts as a failure; the next request reconnects.
                    if let Err(e) = cl.get(&path, keep_alive, &mut body) {
                        if std::env::var_os("GITFS_BENCH_ERRORS").is_some() {
                            eprintln!("{path}: {e:#}");
                        }
                        failed += 1;
                        cl.conn = None;
                        continue;
                    }
                    out.push(t.elapsed());
                    ensure!(body.len() == SMALL_LEN, "{path}: {} bytes", body.len());
                }
                Ok((out, failed))
            })
        })
        .collect();
    let mut samples = Vec::new();
    let mut failed = 0;
    for h in handles {
        let (s, f) = h.join().map_err(|_| anyhow::anyhow!("client panicked"))??;
        samples.extend(s);
        failed += f;
    }
    samples.sort();
    Ok(Lat {
        total: start.elapsed(),
        count: samples.len(),
        failed,
        samples,
    })
}

/// `clients` concurrent downloads of the big file: (total MB/s, failed downloads);
/// bodies checked by SHA-1.
fn big_run(port: u16, clients: usize, want: &str) -> Result<(f64, usize)> {
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let want = want.to_string();
            thread::spawn(move || -> Result<bool> {
                let mut body = Vec::new();
                if let Err(e) = Client::new(port).get(&format!("/{BIG}"), false, &mut body) {
                    if std::env::var_os("GITFS_BENCH_ERRORS").is_some() {
                        eprintln!("/{BIG}: {e:#}");
                    }
                    return Ok(false);
                }
                let got = sha1_smol::Sha1::from(&body).digest().to_string();
                ensure!(got == want, "{BIG}: wrong bytes");
                Ok(true)
            })
        })
        .collect();
    let mut ok = 0;
    for h in handles {
        ok += usize::from(h.join().map_err(|_| anyhow::anyhow!("client panicked"))??);
    }
    let rate = (ok * BIG_LEN) as f64 / start.elapsed().as_secs_f64() / 1e6;
    Ok((rate, clients - ok))
}

/// What one server did in the benchmark.
struct Figures {
    first: (f64, usize),
    warm: (f64, usize),
    eight: (f64, usize),
    /// (label, clients, latencies) per small-file row.
    small: Vec<(&'static str, usize, Lat)>,
}

pub fn bench(boot: &BootOpts, requests: usize) -> Result<std::process::ExitCode> {
    let root = artifacts::repo_root();
    let image = bench_image(&root)?;
    let want = sha1_smol::Sha1::from(noise(BIG_LEN, 42))
        .digest()
        .to_string();
    let mut results = Vec::new();
    for peer in [false, true] {
        let (mut config, port) = web_config(boot, &image, 0, true)?;
        if peer {
            config.app_args.push("--http-peer".into());
        }
        let t = Instant::now();
        let mut vm: Vm = boot_http(&config).context("booting the web server")?;
        if !peer {
            println!(
                "HTTP under {} ({} vCPU, -m {}): boot to listening {:.2} s",
                if matches!(config.accel, gitfs_qemu::AccelMode::Kvm) {
                    "KVM"
                } else {
                    "TCG"
                },
                config.cpus,
                config.memory,
                t.elapsed().as_secs_f64()
            );
        }
        let result = measure(port, requests, &want);
        let failed = result.as_ref().map_or(true, Figures::any_failed);
        if failed {
            let t = vm.transcript();
            let lines: Vec<&str> = t.lines().collect();
            eprintln!(
                "guest console, last lines:\n{}",
                lines[lines.len().saturating_sub(10)..].join("\n")
            );
        }
        let _ = vm.console().send_line("quit");
        let _ = vm.wait_exit(Duration::from_secs(10));
        vm.kill();
        results.push(result?);
    }
    print_table(&results[0], &results[1]);
    Ok(std::process::ExitCode::SUCCESS)
}

impl Figures {
    fn any_failed(&self) -> bool {
        self.first.1 + self.warm.1 + self.eight.1 > 0
            || self.small.iter().any(|(_, _, l)| l.failed > 0)
    }
}

fn measure(port: u16, requests: usize, want: &str) -> Result<Figures> {
    let first = big_run(port, 1, want)?;
    let mut warm = Vec::new();
    let mut failed = 0;
    for _ in 0..3 {
        let (r, f) = big_run(port, 1, want)?;
        warm.push(r);
        failed += f;
    }
    let warm = (median(&mut warm), failed);
    let eight = big_run(port, 8, want)?;
    let mut small = Vec::new();
    for (keep, label) in [(true, "kept-alive"), (false, "new connection each")] {
        for clients in [1usize, 8] {
            let each = (requests / clients).max(1);
            small.push((label, clients, small_run(port, clients, each, keep)?));
        }
    }
    Ok(Figures {
        first,
        warm,
        eight,
        small,
    })
}

fn print_table(ours: &Figures, peer: &Figures) {
    println!();
    println!("| test | clients | gitfs | peer | gitfs / peer |");
    println!("|---|---|---|---|---|");
    let rate = |(r, f): (f64, usize)| {
        if f == 0 {
            format!("{r:.1} MB/s")
        } else {
            format!("{r:.1} MB/s ({f} failed)")
        }
    };
    let big_rows = [
        (
            "16 MiB download, first (gitfs: inflate + SHA-1 in the guest)",
            1,
            ours.first,
            peer.first,
        ),
        (
            "16 MiB download, median of 3 (gitfs: verified blob cached)",
            1,
            ours.warm,
            peer.warm,
        ),
        (
            "16 MiB download, 8 at once (total)",
            8,
            ours.eight,
            peer.eight,
        ),
    ];
    for (label, clients, o, p) in big_rows {
        println!(
            "| {label} | {clients} | {} | {} | {:.2} |",
            rate(o),
            rate(p),
            o.0 / p.0
        );
    }
    let lat = |l: &Lat| {
        let failed = if l.failed > 0 {
            format!(", {} failed", l.failed)
        } else {
            String::new()
        };
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms{failed}",
            l.count as f64 / l.total.as_secs_f64(),
            pct(&l.samples, 0.5),
            pct(&l.samples, 0.99)
        )
    };
    for ((label, clients, o), (_, _, p)) in ours.small.iter().zip(&peer.small) {
        println!(
            "| 1 KiB GET, {label} | {clients} | {} | {} | p50 {:.2} |",
            lat(o),
            lat(p),
            pct(&o.samples, 0.5) / pct(&p.samples, 0.5)
        );
    }
    println!();
    println!("peer: the same kernel, listener and connection threads answering from memory (--http-peer): what the platform allows.");
}
