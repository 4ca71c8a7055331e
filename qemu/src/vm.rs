//! A running QEMU with the gitfs kernel: boot, talk, stop; never left behind.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::accel::{self, Accel, AccelMode};
use crate::artifacts::{self, Artifacts};
use crate::channel::{Backend, ChannelEnd, ChannelIo};
use crate::cmdline::{self, QemuArgs, Serial};
use crate::console::Console;
use crate::error::{Error, Result};
pub use crate::exit::Exit;
use crate::relay::Relay;

/// The app's first line starts with this.
pub const READY_PREFIX: &str = "gitfs ready";
/// Loader errors start with this.
pub const LOADER_ERROR_PREFIX: &str = "gitfs-loader: error:";
/// Overrides the QEMU binary (tests use a fake).
pub const QEMU_ENV: &str = "GITFS_QEMU";

/// Clock fix for the guest: the host's frequency unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Freq {
    #[default]
    Host,
    Mhz(u32),
    /// Let the kernel measure (wrong by up to 2x under TCG).
    None,
}

/// How to boot. Plain data; `Default` is 256M, 1 CPU, TCG, no disk.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// `None`: find or build under the repository root.
    pub artifacts: Option<Artifacts>,
    pub qemu: PathBuf,
    pub memory: String,
    pub cpus: u32,
    pub accel: AccelMode,
    pub freq: Freq,
    pub kernel_args: Vec<String>,
    pub app_args: Vec<String>,
    pub disk: Option<PathBuf>,
    /// Serve the guest's HTTP port on 127.0.0.1:PORT (needs the http kernel build),
    /// through a [`Relay`] in front of QEMU's own forward.
    pub http_port: Option<u16>,
    /// Attach the virtio-console program channel on this chardev backend (see
    /// [`crate::channel`]); the kernel serves on it when it has a driver
    /// (`channel=virtio` in its ready line).
    pub channel: Option<Backend>,
    /// Appended to QEMU's command line as they are (for example a second `-serial`).
    pub extra_args: Vec<String>,
    pub boot_timeout: Duration,
    pub request_timeout: Duration,
    pub stop_timeout: Duration,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            artifacts: None,
            qemu: std::env::var_os(QEMU_ENV)
                .map_or_else(|| PathBuf::from("qemu-system-x86_64"), PathBuf::from),
            memory: "256M".into(),
            cpus: 1,
            accel: AccelMode::Tcg,
            freq: Freq::Host,
            kernel_args: Vec::new(),
            app_args: Vec::new(),
            disk: None,
            http_port: None,
            channel: None,
            extra_args: Vec::new(),
            // TCG boots in well under a second, but the machine is shared and loaded.
            boot_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(30),
        }
    }
}

impl VmConfig {
    /// The QEMU arguments for this config with a resolved accelerator.
    pub fn qemu_args(&self, accel: Accel, serial: Serial) -> Result<QemuArgs> {
        let a = match &self.artifacts {
            Some(a) => a.clone(),
            None => Artifacts::find_or_build(&artifacts::repo_root())?,
        };
        let args = QemuArgs {
            qemu: self.qemu.clone(),
            loader: a.loader,
            kernel: a.kernel,
            memory: self.memory.clone(),
            cpus: self.cpus,
            accel,
            freq_mhz: match self.freq {
                Freq::Host => cmdline::host_cpu_mhz(),
                Freq::Mhz(m) => Some(m),
                Freq::None => None,
            },
            kernel_args: self.kernel_args.clone(),
            app_args: self.app_args.clone(),
            disk: self.disk.clone(),
            serial,
            http_port: self.http_port,
            channel: None,
        };
        args.validate()?;
        if let Some(d) = &args.disk {
            if !d.is_file() {
                return Err(Error::InvalidOption(format!(
                    "disk image {} is not a file",
                    d.display()
                )));
            }
        }
        Ok(args)
    }

    /// Turns `auto` into TCG or KVM (probing KVM once per images, cached).
    pub fn resolve_accel(&self) -> Result<Accel> {
        if self.accel != AccelMode::Auto {
            return Ok(if self.accel == AccelMode::Kvm {
                Accel::Kvm
            } else {
                Accel::Tcg
            });
        }
        let probe_args = self.qemu_args(Accel::Kvm, Serial::Stdio)?;
        let qemu_path = which(&self.qemu);
        let key = accel::verdict_key(&[&qemu_path, &probe_args.loader, &probe_args.kernel]);
        let cache = accel::verdict_cache_path();
        Ok(accel::resolve(
            AccelMode::Auto,
            Path::new("/dev/kvm"),
            Some((&cache, &key)),
            || {
                let mut probe = self.clone();
                probe.boot_timeout = Duration::from_secs(10);
                match Vm::spawn_args(&probe_args, &probe) {
                    Ok(mut vm) => vm.wait_ready().is_ok(),
                    Err(_) => false,
                }
            },
        ))
    }
}

fn which(program: &Path) -> PathBuf {
    if program.components().count() > 1 {
        return program.to_path_buf();
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| program.to_path_buf())
}

/// Starts QEMU that dies with us; in a new process group unless it must read a terminal.
fn qemu_command(args: &QemuArgs, own_group: bool) -> Command {
    let mut cmd = Command::new(&args.qemu);
    cmd.args(args.argv());
    if own_group {
        cmd.process_group(0);
    }
    // SAFETY: prctl is async-signal-safe. If the harness dies without running Drop
    // (SIGKILL), the kernel kills QEMU. Note: it fires when the spawning *thread* exits.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// Runs QEMU attached to the caller's terminal (`-serial mon:stdio`: Ctrl-A X quits,
/// Ctrl-A H lists the keys) and returns how it ended.
pub fn run_interactive(config: &VmConfig) -> Result<Exit> {
    let accel = config.resolve_accel()?;
    let mut args = config.qemu_args(accel, Serial::MonStdio)?;
    let _relay = http_relay(config, &mut args)?;
    // In a group of its own QEMU could not read the terminal (SIGTTIN); it stays in ours.
    let status = qemu_command(&args, false)
        .args(&config.extra_args)
        .status()
        .map_err(|source| Error::QemuSpawn {
            program: args.qemu.clone(),
            source,
        })?;
    Ok(Exit::from_status(status))
}

/// The relay in front of QEMU's HTTP forward, when the config asks for one: people
/// connect to `config.http_port`, QEMU's forward listens on a port the relay picks.
fn http_relay(config: &VmConfig, args: &mut QemuArgs) -> Result<Option<Relay>> {
    let Some(port) = config.http_port else {
        return Ok(None);
    };
    let relay = Relay::start(port)?;
    args.http_port = Some(relay.upstream_port());
    Ok(Some(relay))
}

/// A running VM. Dropping it kills QEMU's process group.
///
/// QEMU also gets SIGKILL when the thread that started it ends (`PR_SET_PDEATHSIG`), so
/// that a harness killed without unwinding leaves nothing behind: keep a `Vm` on the
/// thread that booted it.
pub struct Vm {
    child: Child,
    console: Console,
    stderr: Arc<Mutex<Vec<u8>>>,
    exit: Option<Exit>,
    ready_line: Option<String>,
    started: Instant,
    boot_time: Option<Duration>,
    boot_timeout: Duration,
    request_timeout: Duration,
    stop_timeout: Duration,
    /// Where QEMU's virtio-console chardev meets us, if the config asked for one.
    channel: Option<ChannelEnd>,
    /// Declared last: dropped after QEMU is killed.
    relay: Option<Relay>,
}

impl Vm {
    /// Starts QEMU without waiting for anything (for watching loader errors).
    pub fn spawn(config: &VmConfig) -> Result<Vm> {
        let accel = config.resolve_accel()?;
        let mut args = config.qemu_args(accel, Serial::Stdio)?;
        let relay = http_relay(config, &mut args)?;
        let channel = match config.channel {
            Some(backend) => {
                let end = ChannelEnd::new(backend)?;
                args.channel = Some(end.chardev("gitfsch"));
                Some(end)
            }
            None => None,
        };
        let mut vm = Vm::spawn_args(&args, config)?;
        vm.relay = relay;
        vm.channel = channel;
        Ok(vm)
    }

    /// Starts QEMU and waits for the app's ready line.
    pub fn boot(config: &VmConfig) -> Result<Vm> {
        let mut vm = Vm::spawn(config)?;
        vm.wait_ready()?;
        Ok(vm)
    }

    fn spawn_args(args: &QemuArgs, config: &VmConfig) -> Result<Vm> {
        let started = Instant::now();
        let mut child = qemu_command(args, true)
            .args(&config.extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::QemuSpawn {
                program: args.qemu.clone(),
                source,
            })?;
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(i), Some(o), Some(e)) => (i, o, e),
                _ => {
                    kill_group(&mut child);
                    return Err(Error::Io {
                        context: "taking QEMU's pipes",
                        source: std::io::Error::other("pipe missing"),
                    });
                }
            };
        let err_buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&err_buf);
        thread::spawn(move || {
            let mut stderr = stderr;
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut b = sink.lock().unwrap_or_else(|p| p.into_inner());
                if b.len() < 64 * 1024 {
                    b.extend_from_slice(&chunk[..n]);
                }
            }
        });
        Ok(Vm {
            child,
            console: Console::new(stdin, stdout),
            stderr: err_buf,
            exit: None,
            ready_line: None,
            started,
            boot_time: None,
            boot_timeout: config.boot_timeout,
            request_timeout: config.request_timeout,
            stop_timeout: config.stop_timeout,
            channel: None,
            relay: None,
        })
    }

    /// QEMU's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the ready line (once); kills QEMU on timeout.
    pub fn wait_ready(&mut self) -> Result<&str> {
        if self.ready_line.is_none() {
            let deadline = self.started + self.boot_timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                // Short slices: a guest stopped by KVM neither prints nor exits.
                match self.console.read_line(left.min(Duration::from_millis(200))) {
                    Ok(line) => {
                        if let Some(pos) = line.find(READY_PREFIX) {
                            self.boot_time = Some(self.started.elapsed());
                            self.ready_line = Some(line[pos..].to_string());
                            break;
                        }
                    }
                    Err(Error::Timeout { .. }) if Instant::now() < deadline => {
                        let stderr = self.stderr();
                        if stderr.contains("KVM internal error") {
                            self.kill();
                            let head: Vec<&str> = stderr.lines().take(2).collect();
                            return Err(Error::GuestStopped {
                                stderr: head.join(" / "),
                            });
                        }
                    }
                    Err(Error::Timeout { .. }) => {
                        self.kill();
                        return Err(Error::BootTimeout {
                            timeout: self.boot_timeout,
                            transcript: self.console.transcript(),
                        });
                    }
                    Err(Error::ConsoleClosed { .. }) => {
                        let exit = self.wait_exit(self.stop_timeout)?;
                        return Err(Error::ExitedEarly {
                            exit,
                            transcript: self.console.transcript().trim_end().to_string(),
                            stderr: self.stderr().trim_end().to_string(),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(self.ready_line.as_deref().unwrap_or_default())
    }

    /// The ready line, once seen.
    pub fn ready_line(&self) -> Option<&str> {
        self.ready_line.as_deref()
    }

    /// Time from spawning QEMU to the ready line.
    pub fn boot_time(&self) -> Option<Duration> {
        self.boot_time
    }

    /// Sends one request line (after the ready line, so no input is lost).
    pub fn send(&mut self, line: &str) -> Result<()> {
        self.wait_ready()?;
        self.console.send_line(line)
    }

    /// The next app line, skipping kernel log lines (`[core][LEVEL] ...`).
    pub fn read_response(&mut self) -> Result<String> {
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.console.read_line(left)?;
            if !is_kernel_log(&line) {
                return Ok(line);
            }
        }
    }

    /// Sends a line and returns the app's one-line answer.
    pub fn request(&mut self, line: &str) -> Result<String> {
        self.send(line)?;
        self.read_response()
    }

    /// How long a request may wait for its answer (a session: without progress).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long `stop` waits for QEMU to exit before killing it.
    pub fn stop_timeout(&self) -> Duration {
        self.stop_timeout
    }

    /// Whether this VM was started with the program channel attached.
    pub fn has_channel(&self) -> bool {
        self.channel.is_some()
    }

    /// Connects the host end of the virtio-console channel (once). QEMU takes its end
    /// while it starts, so this waits only briefly.
    pub fn connect_channel(&mut self) -> Result<ChannelIo> {
        let end = self
            .channel
            .as_ref()
            .ok_or_else(|| Error::NoChannel("no virtio-console device was attached".into()))?;
        let child = &mut self.child;
        end.connect(Instant::now() + Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(None))
        })
    }

    /// Direct console access (frames, raw bytes).
    pub fn console(&mut self) -> &mut Console {
        &mut self.console
    }

    /// Asks the app to quit and returns how QEMU ended (killing it on timeout).
    pub fn stop(mut self) -> Result<Exit> {
        if self.exit.is_none() {
            self.wait_ready()?;
            // A failed write means QEMU is already gone: its status tells the rest.
            let _ = self.console.send_line("quit");
        }
        self.wait_exit(self.stop_timeout)
    }

    /// Waits for QEMU to exit, collecting console output; kills it on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Exit> {
        if let Some(e) = self.exit {
            return Ok(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // The pipe closes with the process; keep its last words.
                    self.console.drain(Duration::from_secs(2));
                    let e = Exit::from_status(status);
                    self.exit = Some(e);
                    return Ok(e);
                }
                Ok(None) => {}
                Err(source) => {
                    self.kill();
                    return Err(Error::Io {
                        context: "waiting for QEMU",
                        source,
                    });
                }
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(Error::Timeout {
                    what: "QEMU to exit",
                    timeout,
                });
            }
            self.console
                .pump(Instant::now() + Duration::from_millis(20));
            if self.console.is_closed() {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Copies what a plain app prints to `out`, line by line, until QEMU exits: kernel
    /// log lines and the kernel's statistics after the app ends are left out. Fails if
    /// the guest is silent for `idle` (QEMU is then killed).
    pub fn copy_app_output(
        &mut self,
        out: &mut dyn std::io::Write,
        idle: Duration,
    ) -> Result<Exit> {
        let mut app_done = false;
        loop {
            match self.console.read_line_bytes(idle) {
                Ok(line) => {
                    // The kernel's shutdown report follows the app's last line.
                    if line == KERNEL_EXIT_REPORT.as_bytes() {
                        app_done = true;
                    }
                    if app_done || is_kernel_log(&String::from_utf8_lossy(&line)) {
                        continue;
                    }
                    out.write_all(&line)
                        .and_then(|()| out.write_all(b"\n"))
                        .map_err(Error::io("writing the app's output"))?;
                }
                Err(Error::ConsoleClosed { .. }) => {
                    let rest = self.console.buffered().to_vec();
                    if !app_done && !rest.is_empty() {
                        out.write_all(&rest)
                            .map_err(Error::io("writing the app's output"))?;
                    }
                    out.flush().map_err(Error::io("writing the app's output"))?;
                    return self.wait_exit(self.stop_timeout);
                }
                Err(Error::Timeout { .. }) => {
                    self.kill();
                    return Err(Error::Timeout {
                        what: "the app's output",
                        timeout: idle,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Kills QEMU's process group now and reaps it.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let status = kill_group(&mut self.child);
            self.exit = Some(status.map_or(Exit::Signal(libc::SIGKILL), Exit::from_status));
        }
    }

    /// Everything the guest printed (echo removed).
    pub fn transcript(&self) -> String {
        self.console.transcript()
    }

    /// What QEMU itself printed on stderr.
    pub fn stderr(&self) -> String {
        let b = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&b).into_owned()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL to the whole group while the leader is unreaped (its pid, hence the group id,
/// cannot be reused yet), then reap.
fn kill_group(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain syscall on a group we created and whose leader is unreaped.
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
    }
    child.wait().ok()
}

/// The first line the kernel prints once the app has exited (interrupt counts and the
/// exit status follow).
pub const KERNEL_EXIT_REPORT: &str = "Number of interrupts";

/// Hermit's kernel log format: `[CORE][LEVEL] message`, level maybe in ANSI colour.
pub fn is_kernel_log(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('[') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && rest[digits..].starts_with("][")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_log_lines() {
        assert!(is_kernel_log("[0][INFO] bootargs = -freq 2000"));
        assert!(is_kernel_log("[1][\u{1b}[32mINFO\u{1b}[0m] x"));
        assert!(!is_kernel_log("pong"));
        assert!(!is_kernel_log("[x][INFO]"));
        assert!(!is_kernel_log("[]["));
        assert!(!is_kernel_log(""));
    }
}
