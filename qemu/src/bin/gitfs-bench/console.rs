//! `gitfs-bench console`: which transport moves bulk bytes out of the unikernel fastest
//! (results in `docs/console-protocol.md`). One TCG boot of the diagnostic console; the same pseudo-random bytes
//! (SplitMix64 from seed 0, as `kernel/src/diag/bench.rs`) sent as
//! - the escaped framing of `@get` on COM1 (stdout, `escbench`),
//! - hex text on COM1 (`hexbench`),
//! - raw bytes written by the app to COM2 (`com2bench`, polled per byte and per 16-byte
//!   FIFO), received here through a FIFO like QEMU's stdout (`-serial pipe:PATH`), a Unix
//!   socket (`-serial unix:PATH`) or a file (`-serial file:PATH`), see `--com2`.
//!
//! Every byte received is compared with the host's own copy of the stream.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::{Args, ValueEnum};
use gitfs_console::Response;
use gitfs_qemu::{Artifacts, Session, VmConfig};

use crate::stats::median;

#[derive(Args)]
pub struct Opts {
    /// Payload bytes per transfer.
    #[arg(long, default_value_t = 4 << 20)]
    bytes: u64,
    /// Rounds of all transports (interleaved; median, min and max shown when > 1).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// How QEMU hands COM2's bytes to this program.
    #[arg(long, value_enum, default_value_t = Backend::Pipe)]
    com2: Backend,
}

/// QEMU character backends for COM2.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// A FIFO read by a thread: what QEMU's stdout pipe is for COM1.
    Pipe,
    /// A Unix socket QEMU connects to, read by a thread.
    Socket,
    /// A file, read back after the guest's summary line (no reader while sending).
    File,
}

/// The benchmark stream; must match `kernel/src/diag/bench.rs`.
fn pattern(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    let mut state = 0u64;
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Escaped,
    Hex,
    Com2Polled,
    Com2Fifo,
}

const METHODS: [Method; 4] = [
    Method::Escaped,
    Method::Hex,
    Method::Com2Polled,
    Method::Com2Fifo,
];

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Escaped => "(a) escaped framing on COM1 (stdout, as @get)",
            Method::Hex => "(c) hex text on COM1 (stdout)",
            Method::Com2Polled => "(b) raw on COM2, THRE polled per byte",
            Method::Com2Fifo => "(b) raw on COM2, THRE polled per 16 bytes",
        }
    }
}

struct Sample {
    /// Bytes on the wire (escaping, hex digits, header and trailer included).
    wire: u64,
    /// Host: request sent to last payload byte received.
    host_secs: f64,
    /// Guest: first to last write, from its summary line.
    guest_secs: f64,
}

/// Bytes arriving from the guest's COM2: a reader thread's chunks, or a file.
enum Com2Rx {
    Stream(Receiver<Vec<u8>>),
    File { path: PathBuf, read: u64 },
}

/// A thread forwarding everything read from `r` until it ends.
/// Chunks read, in a thread, from what `open` gives there (it may block until QEMU
/// connects); the channel closes at the end of the stream or when `open` gives nothing.
fn reader<R: Read>(open: impl FnOnce() -> Option<R> + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Some(mut r) = open() else { return };
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(k) = r.read(&mut buf) {
            if k == 0 || tx.send(buf[..k].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

fn mkfifo(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        bail!(
            "mkfifo {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Temporary paths, removed when dropped.
struct TempPaths(Vec<PathBuf>);

impl Drop for TempPaths {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The QEMU arguments for COM2 and the receiving end.
fn com2_setup(backend: Backend, tmp: &mut TempPaths) -> Result<(Vec<String>, Com2Rx)> {
    let base = PathBuf::from(format!("/tmp/gitfs-com2-{}", std::process::id()));
    let with = |ext: &str| {
        let mut p = base.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    match backend {
        Backend::Pipe => {
            let (inp, out) = (with(".in"), with(".out"));
            for p in [&inp, &out] {
                let _ = std::fs::remove_file(p);
                mkfifo(p)?;
                tmp.0.push(p.clone());
            }
            // QEMU opens both ends read-write, so neither open blocks; ours is read-only
            // and waits for QEMU in the thread.
            let rx = reader(move || File::open(&out).ok());
            let arg = format!("pipe:{}", base.display());
            Ok((vec!["-serial".into(), arg], Com2Rx::Stream(rx)))
        }
        Backend::Socket => {
            let sock = with(".sock");
            let _ = std::fs::remove_file(&sock);
            let listener =
                UnixListener::bind(&sock).with_context(|| format!("binding {}", sock.display()))?;
            tmp.0.push(sock.clone());
            // QEMU connects at start-up; the thread ends when QEMU closes the socket.
            let rx = reader(move || listener.accept().ok().map(|(conn, _)| conn));
            let arg = format!("unix:{}", sock.display());
            Ok((vec!["-serial".into(), arg], Com2Rx::Stream(rx)))
        }
        Backend::File => {
            let path = with(".bin");
            let _ = std::fs::remove_file(&path);
            tmp.0.push(path.clone());
            let arg = format!("file:{}", path.display());
            Ok((vec!["-serial".into(), arg], Com2Rx::File { path, read: 0 }))
        }
    }
}

impl Com2Rx {
    /// Exactly `n` bytes, each chunk waited for at most `idle` (a file: what it holds
    /// beyond the bytes already taken; call once the guest says it is done).
    fn take(&mut self, n: usize, idle: Duration) -> Result<Vec<u8>> {
        let rx = match self {
            Com2Rx::Stream(rx) => rx,
            Com2Rx::File { path, read } => {
                let mut f = File::open(&*path)?;
                let mut all = Vec::new();
                f.read_to_end(&mut all)?;
                let got = all.get(*read as usize..).unwrap_or_default().to_vec();
                ensure!(
                    got.len() == n,
                    "COM2 file holds {} new bytes, {n} expected",
                    got.len()
                );
                *read += n as u64;
                return Ok(got);
            }
        };
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let chunk = rx
                .recv_timeout(idle)
                .with_context(|| format!("COM2: {} of {n} bytes, then nothing", got.len()))?;
            got.extend_from_slice(&chunk);
        }
        ensure!(
            got.len() == n,
            "COM2 sent {} bytes, {n} expected",
            got.len()
        );
        Ok(got)
    }
}

/// `secs=` from a guest summary line, checking its name and byte count.
fn guest_secs(line: &str, name: &str, bytes: u64) -> Result<f64> {
    let want = format!("{name} bytes={bytes} ");
    ensure!(line.starts_with(&want), "unexpected guest line {line:?}");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("secs="))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no secs= in {line:?}"))
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// The next line that is not a kernel log line.
fn app_line(s: &mut Session) -> Result<String> {
    Ok(s.vm().read_response()?)
}

/// The guest's summary line after a transfer of `n` bytes that took the host
/// `host_secs`.
fn finish(s: &mut Session, name: &str, n: u64, host_secs: f64) -> Result<Sample> {
    let line = app_line(s)?;
    Ok(Sample {
        wire: field(&line, "wire")
            .and_then(|w| w.parse().ok())
            .unwrap_or(0),
        host_secs,
        guest_secs: guest_secs(&line, name, n)?,
    })
}

fn run_one(s: &mut Session, com2: &mut Com2Rx, m: Method, want: &[u8]) -> Result<Sample> {
    let n = want.len() as u64;
    let idle = Duration::from_secs(60);
    match m {
        Method::Escaped => {
            let start = Instant::now();
            let resp = s.raw(format!("escbench {n}").as_bytes())?;
            let host_secs = start.elapsed().as_secs_f64();
            let Response::Ok { payload, .. } = resp else {
                bail!("escbench: {resp:?}");
            };
            ensure!(payload == want, "escbench payload differs from the stream");
            finish(s, "escbench", n, host_secs)
        }
        Method::Hex => {
            let start = Instant::now();
            s.vm().send(&format!("hexbench {n}"))?;
            let head = app_line(s)?;
            ensure!(head == format!("hexbench {n}"), "hexbench header {head:?}");
            let mut data = Vec::with_capacity(want.len());
            while data.len() < want.len() {
                let line = s.vm().console().read_line_bytes(idle)?;
                ensure!(line.len() % 2 == 0, "odd hex line of {} digits", line.len());
                for pair in line.chunks(2) {
                    let digit = |d: u8| (d as char).to_digit(16).map(|v| v as u8);
                    match (digit(pair[0]), digit(pair[1])) {
                        (Some(h), Some(l)) => data.push(h << 4 | l),
                        _ => bail!("bad hex digits {pair:?}"),
                    }
                }
            }
            let host_secs = start.elapsed().as_secs_f64();
            ensure!(data == want, "hexbench data differs from the stream");
            finish(s, "hexbench", n, host_secs)
        }
        Method::Com2Polled | Method::Com2Fifo => {
            let mode = if m == Method::Com2Fifo {
                "fifo"
            } else {
                "poll"
            };
            let start = Instant::now();
            s.vm().send(&format!("com2bench {n} {mode}"))?;
            let (data, line, host_secs) = if let Com2Rx::File { .. } = com2 {
                // The guest's line comes once QEMU has written every byte to the file.
                let line = app_line(s)?;
                let secs = start.elapsed().as_secs_f64();
                (com2.take(want.len(), idle)?, line, secs)
            } else {
                let data = com2.take(want.len(), idle)?;
                let secs = start.elapsed().as_secs_f64();
                (data, app_line(s)?, secs)
            };
            ensure!(data == want, "COM2 bytes differ from the stream");
            let guest = guest_secs(&line, "com2bench", n)?;
            let crc = format!("{:08x}", gitfs_console::crc32(want));
            ensure!(
                field(&line, "crc") == Some(crc.as_str()),
                "guest CRC in {line:?}"
            );
            Ok(Sample {
                wire: n,
                host_secs,
                guest_secs: guest,
            })
        }
    }
}

fn mbs(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        0.0
    }
}

/// `median` or `median (min-max)` of rates.
fn rates(mut r: Vec<f64>) -> String {
    let med = median(&mut r);
    if r.len() == 1 {
        format!("{med:.3}")
    } else {
        format!("{med:.3} ({:.3}-{:.3})", r[0], r[r.len() - 1])
    }
}

pub fn run(opts: &Opts) -> Result<()> {
    ensure!(opts.rounds > 0, "--rounds must be at least 1");
    ensure!(opts.bytes <= 1 << 30, "--bytes: at most 1 GiB");
    let want = pattern(opts.bytes as usize);

    let mut tmp = TempPaths(Vec::new());
    let (serial_args, mut com2) = com2_setup(opts.com2, &mut tmp)?;

    // The transfer benchmarks are in the kernel built with the `bench` feature only.
    let artifacts = Artifacts::find_or_build_bench(&gitfs_qemu::artifacts::repo_root())
        .context("preparing the benchmark kernel")?;
    let config = VmConfig {
        artifacts: Some(artifacts),
        app_args: vec!["--diag".into(), "--no-disk".into()],
        extra_args: serial_args,
        ..VmConfig::default()
    };
    let mhz = gitfs_qemu::cmdline::host_cpu_mhz();
    let mut session = Session::boot(&config).context("booting the diagnostic console")?;
    session.set_idle_timeout(Duration::from_secs(60));

    let mut samples: Vec<(Method, Sample)> = Vec::new();
    for _ in 0..opts.rounds {
        for m in METHODS {
            let sample = run_one(&mut session, &mut com2, m, &want).with_context(|| m.label())?;
            samples.push((m, sample));
        }
    }
    session.vm().send("quit")?;
    let t = session.vm().stop_timeout();
    let exit = session.vm().wait_exit(t)?;

    println!(
        "console transports: {} bytes of pseudo-random data, QEMU TCG, 1 vCPU, host CPU {} MHz \
         passed as -freq, {} round(s), one boot, COM2 received through {}",
        opts.bytes,
        mhz.map_or("unknown".into(), |m| m.to_string()),
        opts.rounds,
        match opts.com2 {
            Backend::Pipe => "a FIFO (-serial pipe:, like COM1's stdout pipe)",
            Backend::Socket => "a Unix socket (-serial unix:)",
            Backend::File => "a file (-serial file:)",
        }
    );
    println!();
    println!("| transport | wire bytes | host MB/s | guest MB/s |");
    println!("|---|---:|---:|---:|");
    for m in METHODS {
        let mine: Vec<&Sample> = samples
            .iter()
            .filter(|(k, _)| *k == m)
            .map(|(_, s)| s)
            .collect();
        let host = rates(mine.iter().map(|s| mbs(opts.bytes, s.host_secs)).collect());
        let guest = rates(mine.iter().map(|s| mbs(opts.bytes, s.guest_secs)).collect());
        println!("| {} | {} | {host} | {guest} |", m.label(), mine[0].wire);
    }
    println!();
    println!(
        "MB/s = payload bytes / seconds (10^6). host: request sent to last payload byte \
         received and checked against the host's copy; guest: the app's own write time. \
         QEMU ended: {exit}."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_splitmix64_from_zero() {
        let p = pattern(12);
        assert_eq!(p[..8], 0xe220_a839_7b1d_cdafu64.to_le_bytes());
        assert_eq!(p[8..], 0x6e78_9e6a_a1b9_65f4u64.to_le_bytes()[..4]);
    }

    #[test]
    fn summary_fields() {
        let l = "com2bench bytes=5 wire=5 secs=0.500000 mb_s=0.000 mode=fifo crc=0a0b0c0d";
        assert_eq!(guest_secs(l, "com2bench", 5).unwrap(), 0.5);
        assert!(guest_secs(l, "com2bench", 6).is_err());
        assert_eq!(field(l, "crc"), Some("0a0b0c0d"));
        assert_eq!(field(l, "cr"), None);
    }
}
