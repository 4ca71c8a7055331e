//! `gitfs-qemu`: boot the gitfs unikernel under QEMU and use it: a console, files by
//! path, a web server, any app on an image. The benchmarks are `gitfs-bench`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use gitfs_qemu::channel::Backend;
use gitfs_qemu::{
    artifacts, run_interactive, BootOpts, Error, Exit, Session, Transport, Vm, VmConfig,
};

mod http_cmd;

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
    /// Boot with IMAGE, fetch PATH and write its exact bytes to stdout (a symlink: its
    /// target), then stop the unikernel.
    ///
    /// With --out-dir, any number of PATHs are written below DIR at their own paths
    /// (directories created, exec bits and symbolic links kept, an existing file kept
    /// unless --force), in one boot.
    Get {
        image: PathBuf,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        /// Write to this file instead of stdout (one PATH).
        #[arg(short, long, value_name = "FILE", conflicts_with = "out_dir")]
        output: Option<PathBuf>,
        /// Write every PATH below this directory.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// With --out-dir: replace files and links that exist.
        #[arg(long, requires = "out_dir")]
        force: bool,
        #[command(flatten)]
        session: SessionOpts,
    },
    /// Boot with IMAGE and list a directory (the root by default).
    Ls {
        image: PathBuf,
        path: Option<String>,
        /// Long format, as `git ls-tree -l`: mode, kind, size, object id, name.
        #[arg(short, long)]
        long: bool,
        #[command(flatten)]
        session: SessionOpts,
    },
    /// Boot with IMAGE and show kind, mode, size and object id of PATH.
    Stat {
        image: PathBuf,
        path: String,
        #[command(flatten)]
        session: SessionOpts,
    },
    /// Boot with IMAGE and show what the unikernel serves: commit, counts, boot figures.
    Info {
        image: PathBuf,
        #[command(flatten)]
        session: SessionOpts,
    },
    /// Boot with IMAGE and write its tree (or the directory --path) into DIR, as
    /// `git archive | tar -x` would: exec bits, symbolic links as links, submodules as
    /// empty directories, any bytes in names. DIR is created if missing and must be
    /// empty unless --force; nothing is written outside it (an image naming an entry
    /// `..` or `a/b` is refused).
    Export {
        image: PathBuf,
        dir: PathBuf,
        /// The directory of the image to write (default: the whole tree).
        #[arg(long, value_name = "SUBDIR")]
        path: Option<String>,
        /// Write into a non-empty DIR, replacing files and links that stand in the way.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        session: SessionOpts,
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

/// How commands that talk to the unikernel boot it and which channel they use.
#[derive(Args)]
struct SessionOpts {
    #[command(flatten)]
    boot: BootOpts,
    /// Channel for requests.
    #[arg(long, value_enum, default_value = "auto")]
    transport: Transport,
    /// QEMU chardev backend of the virtio channel: a Unix socket or a pair of FIFOs.
    #[arg(long, value_enum, default_value = "socket", value_name = "BACKEND")]
    channel: Backend,
}

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
        Ok(self.boot.config(self.disk.as_deref(), app_args)?)
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
        Cmd::Get {
            image,
            paths,
            output,
            out_dir,
            force,
            session,
        } => {
            if out_dir.is_none() && paths.len() != 1 {
                bail!(
                    "{} paths: give --out-dir DIR to write them all",
                    paths.len()
                );
            }
            with_session(&session, &image, |s| {
                if let Some(dir) = &out_dir {
                    let paths: Vec<&[u8]> = paths.iter().map(|p| p.as_bytes()).collect();
                    gitfs_qemu::export::get_into(s, &paths, dir, force)?;
                    return Ok(());
                }
                let data = s.get(paths[0].as_bytes())?;
                match &output {
                    Some(f) => std::fs::write(f, &data)
                        .with_context(|| format!("writing {}", f.display()))?,
                    None => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&data)
                            .and_then(|()| out.flush())
                            .context("writing to stdout")?;
                    }
                }
                Ok(())
            })
        }
        Cmd::Ls {
            image,
            path,
            long,
            session,
        } => with_session(&session, &image, |s| {
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
        Cmd::Stat {
            image,
            path,
            session,
        } => with_session(&session, &image, |s| {
            let r = s.stat(path.as_bytes())?;
            let size = r.size.map_or("-".to_string(), |n| n.to_string());
            println!("path: {}", if path.is_empty() { "/" } else { &path });
            println!("kind: {}", r.kind);
            println!("mode: {:06o}", r.mode);
            println!("size: {size}");
            println!("id:   {}", hex(&r.id));
            Ok(())
        }),
        Cmd::Info { image, session } => with_session(&session, &image, |s| {
            for (k, v) in s.info()? {
                println!("{k}={v}");
            }
            Ok(())
        }),
        Cmd::Export {
            image,
            dir,
            path,
            force,
            session,
        } => with_session(&session, &image, |s| {
            let sub = path.as_deref().unwrap_or("").as_bytes();
            let t = Instant::now();
            let n = gitfs_qemu::export::export(s, sub, &dir, force)?;
            eprintln!(
                "gitfs-qemu: wrote {} files ({} bytes), {} symlinks, {} directories to {} in {:.1} s",
                n.files,
                n.bytes,
                n.symlinks,
                n.dirs,
                dir.display(),
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }),
        Cmd::Serve { image, port, boot } => http_cmd::serve(&boot, &image, port),
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
    opts: &SessionOpts,
    image: &Path,
    work: impl FnOnce(&mut Session) -> Result<()>,
) -> Result<ExitCode> {
    if !image.is_file() {
        bail!("{}: no such image file", image.display());
    }
    let mut config = opts.boot.config(Some(image), &[])?;
    // Large files take a while over the serial console; the limit is on silence.
    config.request_timeout = Duration::from_secs(60);
    config.channel = Some(opts.channel);
    let mut session = match Session::boot_with(&config, opts.transport) {
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
