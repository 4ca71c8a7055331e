//! `gitfs-qemu`: boot the gitfs unikernel under QEMU for people and benchmarks.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use gitfs_qemu::{
    artifacts, run_interactive, AccelMode, Artifacts, Error, Exit, Freq, Session, Vm, VmConfig,
};

mod http_cmd;
mod serve_bench;
mod std_fs_bench;

/// Boot the gitfs Hermit unikernel (our loader + the kernel app) under QEMU.
///
/// The loader and kernel images are built on first use (or when their sources are newer)
/// with the pinned nightly; GITFS_LOADER / GITFS_KERNEL point at other images instead.
/// TCG (software emulation) is the default and always works; KVM is optional.
#[derive(Parser)]
#[command(name = "gitfs-qemu", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot and attach this terminal to the serial console.
    ///
    /// Type requests (`help`, `ping`, `echo TEXT`, `quit`). Ctrl-A X kills QEMU,
    /// Ctrl-A H lists QEMU's other console keys. Exits 0 when the app exits 0.
    Run {
        #[command(flatten)]
        vm: VmOpts,
        /// Arguments for the application (after `--`).
        #[arg(last = true)]
        app_args: Vec<String>,
    },
    /// Smoke test: boot, `ping`, `echo`, `quit`; prints timings.
    Ping {
        #[command(flatten)]
        vm: VmOpts,
    },
    /// Benchmark: boot N times to the ready line; prints median and spread, image sizes.
    BootTime {
        #[command(flatten)]
        vm: VmOpts,
        /// Number of boots.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Boot with IMAGE, fetch PATH and write its exact bytes to stdout (a symlink: its
    /// target), then stop the unikernel.
    Get {
        image: PathBuf,
        path: String,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Boot with IMAGE and list a directory (the root by default).
    Ls {
        image: PathBuf,
        path: Option<String>,
        /// Long format, as `git ls-tree -l`: mode, kind, size, object id, name.
        #[arg(short, long)]
        long: bool,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Boot with IMAGE and show kind, mode, size and object id of PATH.
    Stat {
        image: PathBuf,
        path: String,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Boot with IMAGE and show what the unikernel serves: commit, counts, boot figures.
    Info {
        image: PathBuf,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Benchmark serving: boot time and memory for 1k/10k/100k-file images, fetch latency
    /// and throughput through the console next to the host library. Generated images are
    /// cached under target/bench/.
    BenchServe {
        #[command(flatten)]
        opts: serve_bench::Opts,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Benchmark std::fs on a gitfs mount: the `fsprobe` app reads every file with
    /// `fs::read` and with the library's direct read in one boot; open+metadata p50/p99.
    BenchStdFs {
        #[command(flatten)]
        opts: std_fs_bench::Opts,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Serve IMAGE over HTTP on 127.0.0.1 (kernel built with the `http` feature, QEMU
    /// user networking restricted to the one forward); prints the URL; Ctrl-C stops.
    Serve {
        image: PathBuf,
        /// Host port on 127.0.0.1 (0: a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Benchmark the HTTP server: 16 MiB downloads, small-file requests per second and
    /// latency, kept-alive and new connections, 1 and 8 clients.
    BenchHttp {
        /// Small-file requests per row.
        #[arg(long, default_value_t = 400)]
        requests: usize,
        #[command(flatten)]
        boot: BootOpts,
    },
    /// Boot a Hermit app that reads a gitfs image with std::fs: an example app of this
    /// repository (`walk`, `webserver`) or any app ELF linked with the `gitfs` crate.
    /// What the app prints goes to stdout (kernel log lines left out); exits 0 when the
    /// app exits 0.
    App {
        /// `walk`, `webserver`, or the path of a Hermit app ELF.
        app: String,
        /// gitfs image attached as the virtio-blk disk.
        #[arg(long, value_name = "IMAGE")]
        disk: Option<PathBuf>,
        /// Forward 127.0.0.1:PORT on the host to the app's port 8080 (needs an app built
        /// with networking, such as `webserver`).
        #[arg(long)]
        port: Option<u16>,
        /// Seconds without any output after which the app is stopped.
        #[arg(long, default_value_t = 120)]
        idle_timeout: u64,
        #[command(flatten)]
        boot: BootOpts,
        /// Arguments for the app (after `--`).
        #[arg(last = true)]
        app_args: Vec<String>,
    },
    /// Print the QEMU command line that `run` would use.
    Command {
        #[command(flatten)]
        vm: VmOpts,
        #[arg(last = true)]
        app_args: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum AccelArg {
    Tcg,
    Kvm,
    /// KVM when /dev/kvm exists and a probe boot works (verdict cached), else TCG.
    Auto,
}

/// The app's flag for booting without a disk.
const NO_DISK: &str = "--no-disk";

#[derive(Args)]
struct VmOpts {
    /// Disk image attached read-only as virtio-blk (without it the app gets `--no-disk`).
    #[arg(long, value_name = "IMAGE")]
    disk: Option<PathBuf>,
    #[command(flatten)]
    boot: BootOpts,
}

impl VmOpts {
    fn config(&self, app_args: &[String]) -> Result<VmConfig> {
        self.boot.config(self.disk.as_deref(), app_args)
    }
}

#[derive(Args)]
struct BootOpts {
    /// Accelerator.
    #[arg(long, value_enum, default_value = "tcg")]
    accel: AccelArg,
    /// Guest memory (QEMU -m syntax).
    #[arg(long, default_value = "256M")]
    memory: String,
    /// Virtual CPUs.
    #[arg(long, default_value_t = 1)]
    cpus: u32,
    /// CPU frequency in MHz given to the kernel (default: the host's, from /proc/cpuinfo;
    /// 0: let the kernel measure, which is wrong by up to 2x under TCG).
    #[arg(long, value_name = "MHZ")]
    freq: Option<u32>,
    /// Extra kernel argument (repeatable), before `--` on the kernel command line.
    #[arg(long = "kernel-arg", value_name = "ARG", allow_hyphen_values = true)]
    kernel_args: Vec<String>,
    /// Loader image instead of the built one (also GITFS_LOADER).
    #[arg(long, value_name = "ELF32")]
    loader: Option<PathBuf>,
    /// Kernel app image instead of the built one (also GITFS_KERNEL).
    #[arg(long, value_name = "ELF")]
    kernel: Option<PathBuf>,
    /// Seconds to wait for the ready line.
    #[arg(long, default_value_t = 60)]
    boot_timeout: u64,
}

impl BootOpts {
    fn config(&self, disk: Option<&Path>, app_args: &[String]) -> Result<VmConfig> {
        let root = artifacts::repo_root();
        let built = if self.loader.is_none() || self.kernel.is_none() {
            Some(Artifacts::find_or_build(&root).context("preparing the boot images")?)
        } else {
            None
        };
        let pick = |given: &Option<PathBuf>, f: fn(&Artifacts) -> &PathBuf| {
            given
                .clone()
                .or_else(|| built.as_ref().map(|a| f(a).clone()))
                .unwrap_or_default()
        };
        let artifacts = Artifacts {
            loader: pick(&self.loader, |a| &a.loader),
            kernel: pick(&self.kernel, |a| &a.kernel),
        };
        for p in [&artifacts.loader, &artifacts.kernel] {
            if !p.is_file() {
                bail!("{} is not a file", p.display());
            }
        }
        let mut app_args = app_args.to_vec();
        if disk.is_none() && !app_args.iter().any(|a| a == NO_DISK) {
            app_args.push(NO_DISK.into());
        }
        Ok(VmConfig {
            artifacts: Some(artifacts),
            memory: self.memory.clone(),
            cpus: self.cpus,
            accel: match self.accel {
                AccelArg::Tcg => AccelMode::Tcg,
                AccelArg::Kvm => AccelMode::Kvm,
                AccelArg::Auto => AccelMode::Auto,
            },
            freq: match self.freq {
                None => Freq::Host,
                Some(0) => Freq::None,
                Some(m) => Freq::Mhz(m),
            },
            kernel_args: self.kernel_args.clone(),
            app_args,
            disk: disk.map(Path::to_path_buf),
            boot_timeout: Duration::from_secs(self.boot_timeout),
            ..VmConfig::default()
        })
    }
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever the error carries (console transcripts have newlines);
            // a cause already named by the message before it is not repeated.
            let mut msg = String::new();
            for cause in e.chain() {
                let text = cause.to_string();
                let text = text.trim_end().replace('\n', " / ");
                if msg.contains(&text) {
                    continue;
                }
                if !msg.is_empty() {
                    msg.push_str(": ");
                }
                msg.push_str(&text);
            }
            eprintln!("gitfs-qemu: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run { vm, app_args } => {
            let config = vm.config(&app_args)?;
            eprintln!("gitfs-qemu: console attached; `quit` stops the app, Ctrl-A X kills QEMU");
            let exit = run_interactive(&config)?;
            if exit == Exit::Other(0) {
                eprintln!("gitfs-qemu: QEMU quit from its console (Ctrl-A X)");
            } else {
                eprintln!("gitfs-qemu: {exit}");
            }
            Ok(exit_code(exit))
        }
        Cmd::Ping { vm } => ping(&vm.config(&[])?),
        Cmd::BootTime { vm, runs } => boot_time(&vm.config(&[])?, runs),
        Cmd::Get {
            image,
            path,
            output,
            boot,
        } => with_session(&boot, &image, |s| {
            let data = s.get(path.as_bytes())?;
            match &output {
                Some(f) => {
                    std::fs::write(f, &data).with_context(|| format!("writing {}", f.display()))?
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&data)
                        .and_then(|()| out.flush())
                        .context("writing to stdout")?;
                }
            }
            Ok(())
        }),
        Cmd::Ls {
            image,
            path,
            long,
            boot,
        } => with_session(&boot, &image, |s| {
            let records = s.ls(path.as_deref().unwrap_or("").as_bytes())?;
            let mut out = std::io::stdout().lock();
            for r in &records {
                if long {
                    let size = r.size.map_or("-".to_string(), |n| n.to_string());
                    write!(
                        out,
                        "{:06o} {:<9} {size:>10} {} ",
                        r.mode,
                        r.kind,
                        hex(&r.id)
                    )?;
                }
                out.write_all(&r.name)?;
                if !long && r.kind == gitfs_qemu::session::EntryKind::Dir {
                    out.write_all(b"/")?;
                }
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }),
        Cmd::Stat { image, path, boot } => with_session(&boot, &image, |s| {
            let r = s.stat(path.as_bytes())?;
            let size = r.size.map_or("-".to_string(), |n| n.to_string());
            println!("path: {}", if path.is_empty() { "/" } else { &path });
            println!("kind: {}", r.kind);
            println!("mode: {:06o}", r.mode);
            println!("size: {size}");
            println!("id:   {}", hex(&r.id));
            Ok(())
        }),
        Cmd::Info { image, boot } => with_session(&boot, &image, |s| {
            for (k, v) in s.info()? {
                println!("{k}={v}");
            }
            Ok(())
        }),
        Cmd::BenchServe { opts, boot } => {
            serve_bench::run(&opts, &boot.config(None, &[])?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::BenchStdFs { opts, boot } => {
            std_fs_bench::run(&opts, &boot.config(None, &[])?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Serve { image, port, boot } => http_cmd::serve(&boot, &image, port),
        Cmd::BenchHttp { requests, boot } => http_cmd::bench(&boot, requests),
        Cmd::App {
            app,
            disk,
            port,
            idle_timeout,
            boot,
            app_args,
        } => run_app(&boot, &app, disk.as_deref(), port, idle_timeout, app_args),
        Cmd::Command { vm, app_args } => {
            let config = vm.config(&app_args)?;
            let accel = config.resolve_accel()?;
            let args = config.qemu_args(accel, gitfs_qemu::cmdline::Serial::MonStdio)?;
            let mut words = vec![args.qemu.to_string_lossy().into_owned()];
            for a in args.argv() {
                words.push(gitfs_qemu::cmdline::shell_quote(&a.to_string_lossy()));
            }
            println!("{}", words.join(" "));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Boots with `image`, runs `work` on the session, stops the unikernel. Errors are one
/// line: the unikernel's own `gitfs error: ...` for a refused image, the error response
/// for a refused request.
fn with_session(
    boot: &BootOpts,
    image: &Path,
    work: impl FnOnce(&mut Session) -> Result<()>,
) -> Result<ExitCode> {
    if !image.is_file() {
        bail!("{}: no such image file", image.display());
    }
    let mut config = boot.config(Some(image), &[])?;
    // Large files take a while over the serial console; the limit is on silence.
    config.request_timeout = Duration::from_secs(60);
    let mut session = match Session::boot(&config) {
        Ok(s) => s,
        Err(Error::ExitedEarly {
            transcript, exit, ..
        }) => {
            let why = transcript
                .lines()
                .find(|l| l.contains("gitfs error:") || l.contains("gitfs-loader: error:"))
                .map_or_else(
                    || format!("the unikernel stopped at boot ({exit})"),
                    |l| l.trim().to_string(),
                );
            bail!("{}: {why}", image.display());
        }
        Err(e) => return Err(e).context("booting the unikernel"),
    };
    let result = work(&mut session);
    let exit = session.quit();
    result?;
    match exit.context("stopping the unikernel")? {
        Exit::Success => Ok(ExitCode::SUCCESS),
        other => bail!("the unikernel ended with {other}"),
    }
}

/// `app`: boots `app` (a name from `artifacts::APP_NAMES` or an ELF path) and copies its
/// output to stdout.
fn run_app(
    boot: &BootOpts,
    app: &str,
    disk: Option<&Path>,
    port: Option<u16>,
    idle_timeout: u64,
    app_args: Vec<String>,
) -> Result<ExitCode> {
    if let Some(d) = disk {
        if !d.is_file() {
            bail!("{}: no such image file", d.display());
        }
    }
    let elf = if artifacts::APP_NAMES.contains(&app) && !Path::new(app).exists() {
        artifacts::find_or_build_app(&artifacts::repo_root(), app)
            .with_context(|| format!("preparing the {app} app"))?
    } else {
        let p = PathBuf::from(app);
        if !p.is_file() {
            bail!(
                "{app}: not an example app ({}) nor an ELF file",
                artifacts::APP_NAMES.join(", ")
            );
        }
        p
    };
    let mut config = boot.config(disk, &[])?;
    // A plain app gets exactly the arguments it was given.
    config.app_args = app_args;
    if let Some(a) = config.artifacts.as_mut() {
        a.kernel = elf;
    }
    if let Some(p) = port {
        config.http_port = Some(if p == 0 {
            gitfs_qemu::http::free_port()?
        } else {
            p
        });
    }
    let mut vm = Vm::spawn(&config).context("starting QEMU")?;
    if let Some(p) = config.http_port {
        eprintln!("gitfs-qemu: http://127.0.0.1:{p}/ reaches the app's port 8080");
    }
    let mut out = std::io::stdout().lock();
    let exit = vm.copy_app_output(&mut out, Duration::from_secs(idle_timeout))?;
    match exit {
        Exit::Success => Ok(ExitCode::SUCCESS),
        Exit::LoaderFailure => bail!("the loader failed: {}", vm.transcript().trim_end()),
        other => {
            eprintln!("gitfs-qemu: the app ended with {other}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn exit_code(exit: Exit) -> ExitCode {
    match exit {
        Exit::Success => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

fn ping(config: &VmConfig) -> Result<ExitCode> {
    let mut vm = Vm::boot(config).context("booting")?;
    println!(
        "ready after {:.0} ms: {}",
        ms(vm.boot_time().unwrap_or_default()),
        vm.ready_line().unwrap_or_default()
    );
    let t = Instant::now();
    let pong = vm.request("ping")?;
    println!("ping -> {pong} ({:.1} ms)", ms(t.elapsed()));
    if pong != "pong" {
        bail!("unexpected answer to ping: {pong:?}");
    }
    let text = "hello from the host";
    let back = vm.request(&format!("echo {text}"))?;
    if back != text {
        bail!("echo came back as {back:?}");
    }
    println!("echo ok");
    let exit = vm.stop()?;
    println!("stop: {exit}");
    Ok(exit_code(exit))
}

fn boot_time(config: &VmConfig, runs: usize) -> Result<ExitCode> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let Some(a) = &config.artifacts else {
        bail!("no images");
    };
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let accel = config.resolve_accel()?;
    println!(
        "boot to ready line, {runs} runs, accel {accel}, -m {}",
        config.memory
    );
    let mut host = Vec::with_capacity(runs);
    let mut guest = Vec::new();
    for i in 0..runs {
        let vm = Vm::boot(config).with_context(|| format!("boot {}", i + 1))?;
        let t = vm.boot_time().unwrap_or_default();
        let boot_ms = vm
            .ready_line()
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("boot_ms="))
            })
            .and_then(|v| v.parse::<f64>().ok());
        let exit = vm.stop()?;
        if exit != Exit::Success {
            bail!("boot {}: stop ended with {exit}", i + 1);
        }
        host.push(ms(t));
        guest.extend(boot_ms);
    }
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}",
        "", "median", "min", "max", "spread"
    );
    let row = |name: &str, v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let (lo, hi) = (v[0], v[v.len() - 1]);
        println!(
            "{name:<28} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            median(v),
            lo,
            hi,
            hi - lo
        );
    };
    row("spawn -> ready line (ms)", &mut host);
    if guest.len() == runs {
        row("guest-reported boot_ms", &mut guest);
    }
    println!("{:<28} {:>9} bytes", "kernel image", size(&a.kernel));
    println!("{:<28} {:>9} bytes", "loader image", size(&a.loader));
    Ok(ExitCode::SUCCESS)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}
