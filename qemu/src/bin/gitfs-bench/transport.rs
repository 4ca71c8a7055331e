//! `gitfs-bench transport`: the virtio-console channel next to the serial console
//! (COM1), same image, same run: a large file, small files one by one and pipelined,
//! and the export of a real source tree next to `git archive | tar -x` on the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use gitfs_console::Request;
use gitfs_qemu::channel::Backend;
use gitfs_qemu::session::Response;
use gitfs_qemu::{artifacts, export, Session, Transport, VmConfig};

use crate::serve::{
    fetch_image, host_get, host_open, ping_times, session_on, small_path, BIG, SMALL_FILES,
};
use crate::stats::{ms, percentile};

#[derive(Args)]
pub struct Opts {
    /// Size of the large file in MiB.
    #[arg(long, default_value_t = 10)]
    big_mib: usize,
    /// Small-file fetches per transport.
    #[arg(long, default_value_t = 200)]
    fetches: usize,
    /// A directory to export (repeatable; default: the Rust standard library source of
    /// the pinned nightly, `library/` of its rust-src component).
    #[arg(long, value_name = "DIR")]
    corpus: Vec<PathBuf>,
    /// Leave the serial console out of the export table (it takes minutes).
    #[arg(long)]
    no_serial_export: bool,
}

/// One way to reach the kernel: a transport and, for the channel, its chardev backend.
#[derive(Clone, Copy)]
struct Lane {
    name: &'static str,
    transport: Transport,
    backend: Backend,
}

/// COM1, then the virtio channel on a socket and on FIFOs (QEMU drops console output in
/// both cases, so both carry the same credit flow control).
const LANES: [Lane; 3] = [
    Lane {
        name: "serial (COM1)",
        transport: Transport::Serial,
        backend: Backend::Socket,
    },
    Lane {
        name: "virtio, socket",
        transport: Transport::Virtio,
        backend: Backend::Socket,
    },
    Lane {
        name: "virtio, FIFOs",
        transport: Transport::Virtio,
        backend: Backend::Pipe,
    },
];

fn boot(base: &VmConfig, img: &Path, lane: Lane) -> Result<Session> {
    let mut c = base.clone();
    c.channel = Some(lane.backend);
    let mut s = session_on(&c, img, lane.transport)?;
    ensure!(
        s.transport() == lane.transport,
        "{}: got {:?}",
        lane.name,
        s.transport()
    );
    s.set_idle_timeout(Duration::from_secs(300));
    Ok(s)
}

fn mbps(bytes: f64, d: Duration) -> f64 {
    bytes / d.as_secs_f64().max(1e-9) / 1e6
}

/// What one lane measured on the fetch image.
struct Fetch {
    ping_p50: f64,
    first_big: Duration,
    again_big: Duration,
    guest_work: Duration,
    small: Vec<f64>,
    pipelined: Duration,
}

pub fn run(opts: &Opts, base: &VmConfig) -> Result<()> {
    let root = artifacts::repo_root();
    let cache = root.join("target").join("bench");
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let imager = crate::imager(None)?;
    ensure!(opts.big_mib > 0, "--big-mib must be at least 1");
    let img = fetch_image(&cache, &imager, opts.big_mib)?;
    let n = opts.fetches.clamp(1, SMALL_FILES);
    let paths: Vec<String> = (0..n)
        .map(|k| small_path((k * 7 + 3) % SMALL_FILES))
        .collect();
    let mut host_img = host_open(&img)?;
    let big = host_get(&mut host_img, BIG)?;
    let mut small_bytes = 0;
    let mut host_small = Vec::new();
    for p in &paths {
        let data = host_get(&mut host_img, p)?;
        small_bytes += data.len();
        host_small.push(data);
    }
    println!(
        "Transports: the framed protocol on the serial console (COM1, escaped) and on the \
         virtio-console channel (raw, pipelined; chardev on a Unix socket or on FIFOs), \
         QEMU TCG, 1 vCPU, -m {}, same image",
        base.memory
    );
    println!();
    let mut rows = Vec::new();
    for lane in LANES {
        let mut s = boot(base, &img, lane)?;
        let mut row = fetch_rows(&mut s, &paths, &big, &host_small)?;
        let exit = s.quit()?;
        ensure!(
            exit == gitfs_qemu::Exit::Success,
            "{}: stop ended with {exit}",
            lane.name
        );
        // The guest's work alone: a 1-byte range of the big file in a fresh boot still
        // reads, inflates and hashes all of it, and sends almost nothing.
        let mut s = boot(base, &img, lane)?;
        let start = Instant::now();
        ensure!(s.range(BIG, 0, 1)? == big[..1], "{BIG}: first byte differs");
        row.guest_work = start.elapsed();
        s.quit()?;
        rows.push(row);
    }
    let size = big.len() as f64;
    let serial = &rows[0];
    println!(
        "| measure | {} | socket vs COM1 | FIFOs vs COM1 |",
        LANES.map(|l| l.name).join(" | ")
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |label: &str, cells: Vec<String>, ratios: [f64; 2]| {
        println!(
            "| {label} | {} | {:.0}x | {:.0}x |",
            cells.join(" | "),
            ratios[0],
            ratios[1]
        );
    };
    let speed = |label: &str, f: fn(&Fetch) -> Duration| {
        let cells = rows
            .iter()
            .map(|r| format!("{:.1} MB/s ({:.0} ms)", mbps(size, f(r)), ms(f(r))))
            .collect();
        let base = f(serial).as_secs_f64();
        row(
            label,
            cells,
            [1, 2].map(|i| base / f(&rows[i]).as_secs_f64().max(1e-9)),
        );
    };
    let mib = opts.big_mib;
    speed(
        &format!("{mib} MiB file, first @get (read + inflate + SHA-1 + transfer)"),
        |f| f.first_big,
    );
    speed(
        &format!("{mib} MiB file, @get again (kept in memory: transfer)"),
        |f| f.again_big,
    );
    speed(
        &format!("{mib} MiB file, guest work only (@range 0 1 in a fresh boot)"),
        |f| f.guest_work,
    );
    let lat = |label: &str, f: &dyn Fn(&Fetch) -> f64| {
        let cells = rows.iter().map(|r| format!("{:.2} ms", f(r))).collect();
        let base = f(serial);
        row(label, cells, [1, 2].map(|i| base / f(&rows[i]).max(1e-9)));
    };
    lat("@ping p50", &|f| f.ping_p50);
    let avg = small_bytes / n;
    lat(
        &format!("small file (avg {avg} B) one at a time, p50"),
        &|f| percentile(&f.small, 50.0),
    );
    lat(
        &format!("small file (avg {avg} B) one at a time, p99"),
        &|f| percentile(&f.small, 99.0),
    );
    lat(&format!("{n} small files pipelined, per file"), &|f| {
        ms(f.pipelined) / n as f64
    });
    println!();
    println!(
        "The serial console pipelines nothing (its echo must precede each response): its \
         pipelined row is the same requests one at a time."
    );
    println!();
    export_table(opts, base, &imager)
}

fn fetch_rows(s: &mut Session, paths: &[String], big: &[u8], small: &[Vec<u8>]) -> Result<Fetch> {
    let ping = ping_times(s, 50)?;
    // The first read pays the guest's work (read, inflate, SHA-1) and the transfer; the
    // blob then stays in memory, so the second pays the transfer alone.
    let t = Instant::now();
    let got = s.get(BIG)?;
    let first_big = t.elapsed();
    ensure!(got == big, "{BIG}: bytes differ from the host library's");
    let t = Instant::now();
    let got = s.get(BIG)?;
    let again_big = t.elapsed();
    ensure!(got == big, "{BIG}: bytes differ on the second read");
    let mut lat = Vec::new();
    for (p, want) in paths.iter().zip(small) {
        let t = Instant::now();
        let got = s.get(p)?;
        lat.push(ms(t.elapsed()));
        ensure!(&got == want, "{p}: bytes differ from the host library's");
    }
    lat.sort_by(f64::total_cmp);
    let t = Instant::now();
    let mut wrong = None;
    s.get_each(paths, |i, blob| {
        if blob?.data != small[i] {
            wrong = Some(i);
        }
        Ok::<(), gitfs_qemu::Error>(())
    })?;
    let pipelined = t.elapsed();
    if let Some(i) = wrong {
        bail!("{}: pipelined bytes differ", paths[i]);
    }
    Ok(Fetch {
        ping_p50: percentile(&ping, 50.0),
        first_big,
        again_big,
        guest_work: Duration::ZERO,
        small: lat,
        pipelined,
    })
}

/// The default corpus: the pinned nightly's standard library source.
fn default_corpus() -> Result<PathBuf> {
    // kernel/ pins the nightly in its rust-toolchain.toml.
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(artifacts::repo_root().join("kernel"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .context("running rustc --print sysroot")?;
    ensure!(out.status.success(), "rustc --print sysroot failed");
    let sysroot = PathBuf::from(String::from_utf8(out.stdout)?.trim());
    let lib = sysroot.join("lib/rustlib/src/rust/library");
    ensure!(
        lib.is_dir(),
        "{} missing (the rust-src component, `just setup` installs it)",
        lib.display()
    );
    Ok(lib)
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .args(["-c", "core.autocrlf=false", "-c", "core.quotePath=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.org")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.org")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running git {args:?}"))?;
    ensure!(out.status.success(), "git {args:?} failed");
    Ok(out.stdout)
}

/// Files, bytes of a tree on the host.
fn tree_size(dir: &Path) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let ft = e.file_type()?;
        if ft.is_dir() {
            let (f, b) = tree_size(&e.path())?;
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += e.metadata()?.len();
        }
    }
    Ok((files, bytes))
}

fn export_table(opts: &Opts, base: &VmConfig, imager: &Path) -> Result<()> {
    let corpora = if opts.corpus.is_empty() {
        vec![default_corpus()?]
    } else {
        opts.corpus.clone()
    };
    let work = artifacts::repo_root().join("target/bench/export");
    println!(
        "Export of a source tree: `gitfs-qemu export` (boot, every directory listed, every \
         file fetched and written; boot included) next to `git archive HEAD | tar -x` on \
         the host, same commit"
    );
    println!();
    println!(
        "| corpus | files | MB | git archive \\| tar -x | virtio, socket | virtio, FIFOs | boot (socket) | serial (COM1) | socket vs COM1 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut breakdowns = Vec::new();
    for (i, src) in corpora.iter().enumerate() {
        let _ = std::fs::remove_dir_all(&work);
        let repo = work.join(format!("repo-{i}"));
        std::fs::create_dir_all(&repo)?;
        // A repository of the corpus, so git and the image hold the same commit.
        let gd = repo.join("git");
        let gd_arg = format!("--git-dir={}", gd.display());
        let wt_arg = format!("--work-tree={}", src.display());
        git(&repo, &["init", "-q", "--bare", &gd.to_string_lossy()])?;
        git(&repo, &[&gd_arg, &wt_arg, "add", "-A", "-f"])?;
        git(&repo, &[&gd_arg, &wt_arg, "commit", "-q", "-m", "corpus"])?;
        let img = work.join(format!("corpus-{i}.img"));
        let st = Command::new(imager)
            .arg("make")
            .arg(&gd)
            .arg(&img)
            .args(["--force", "--quiet"])
            .status()
            .context("running imager")?;
        ensure!(st.success(), "imager make {} failed", gd.display());

        let git_out = work.join(format!("git-{i}"));
        std::fs::create_dir_all(&git_out)?;
        let t = Instant::now();
        let mut archive = Command::new("git")
            .arg(&gd_arg)
            .args(["archive", "HEAD"])
            .stdout(Stdio::piped())
            .spawn()
            .context("git archive")?;
        let tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&git_out)
            .stdin(archive.stdout.take().context("git archive stdout")?)
            .status()
            .context("tar")?;
        ensure!(
            archive.wait()?.success() && tar.success(),
            "git archive | tar -x failed"
        );
        let git_time = t.elapsed();
        let (files, bytes) = tree_size(&git_out)?;

        let timed = |lane: Lane| -> Result<(Duration, Duration)> {
            let out = work.join(format!("export-{i}-{}", lane.name.replace([' ', ','], "")));
            let start = Instant::now();
            let mut s = boot(base, &img, lane)?;
            let boot = start.elapsed();
            export::export(&mut s, b"", &out, false)?;
            ensure!(s.quit()? == gitfs_qemu::Exit::Success, "export: bad stop");
            let total = start.elapsed();
            ensure!(
                tree_size(&out)? == (files, bytes),
                "{}: export differs from git archive in size",
                src.display()
            );
            let _ = std::fs::remove_dir_all(&out);
            Ok((total, boot))
        };
        let (socket, boot_time) = timed(LANES[1])?;
        let (fifos, _) = timed(LANES[2])?;
        let serial = if opts.no_serial_export {
            None
        } else {
            Some(timed(LANES[0])?.0)
        };
        let split = where_export_time_goes(base, &img, &git_out)?;
        breakdowns.push((src.display().to_string(), socket, boot_time, split));
        let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
        println!(
            "| {} | {files} | {:.1} | {} | {} | {} | {} | {} | {} |",
            src.display(),
            bytes as f64 / 1e6,
            secs(git_time),
            secs(socket),
            secs(fifos),
            secs(boot_time),
            serial.map_or("-".into(), secs),
            serial.map_or("-".into(), |d| format!(
                "{:.0}x",
                d.as_secs_f64() / socket.as_secs_f64().max(1e-9)
            )),
        );
    }
    println!();
    println!(
        "Where the export's time goes (socket; each pass in a boot of its own, blobs \
         read cold): boot; the guest's work for every file (`@range 0 1`, pipelined: \
         lookup, disk read, inflate, SHA-1, almost no payload); the transfer (`@get` of \
         every file, pipelined, minus that work); the rest (listing, writing files on \
         the host)."
    );
    println!();
    println!("| corpus | export | boot | guest work | transfer | rest |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, total, boot, (work, get)) in breakdowns {
        let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            secs(total),
            secs(boot),
            secs(work),
            secs(get.saturating_sub(work)),
            secs(total.saturating_sub(boot + get)),
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Every file below `dir`, as paths relative to it.
fn files_below(dir: &Path) -> Result<Vec<Vec<u8>>> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                todo.push(e.path());
            } else {
                let rel = e.path();
                let rel = rel.strip_prefix(dir)?;
                out.push(rel.as_os_str().as_bytes().to_vec());
            }
        }
    }
    Ok(out)
}

/// (guest work, pipelined @get) for every file of the exported tree, each in a fresh
/// boot on the socket channel.
fn where_export_time_goes(
    base: &VmConfig,
    img: &Path,
    tree: &Path,
) -> Result<(Duration, Duration)> {
    let paths = files_below(tree)?;
    let pass = |requests: Vec<Request>| -> Result<Duration> {
        let mut s = boot(base, img, LANES[1])?;
        let start = Instant::now();
        s.pipeline(&requests, |i, resp| match resp {
            Response::Ok { .. } => Ok(()),
            Response::Err { message, .. } => bail!("{}: {message}", show(&paths[i])),
        })?;
        let took = start.elapsed();
        s.quit()?;
        Ok(took)
    };
    let work = pass(
        paths
            .iter()
            .map(|p| Request::Range {
                offset: 0,
                len: 1,
                path: p.clone(),
            })
            .collect(),
    )?;
    let get = pass(paths.iter().map(|p| Request::Get(p.clone())).collect())?;
    Ok((work, get))
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}
