//! Booting the unikernel as a web server: the kernel built with the `http` feature, a
//! host forward bound to 127.0.0.1 only, and the wait for the guest's listening line
//! (the host side of the forward accepts at once, long before the guest listens).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::artifacts::{self, Artifacts};
use crate::boot_opts::BootOpts;
use crate::cmdline::GUEST_HTTP_PORT;
use crate::error::{Error, Result};
pub use crate::relay::free_port;
use crate::vm::{Vm, VmConfig};

/// What the app prints once its listener is up.
pub const LISTENING_PREFIX: &str = "gitfs http listening port=";

/// The boot settings for a web-serving VM with `image` from the command line's `boot`
/// options, forwarded from `port` (0: a free one); `bench`: the kernel with the
/// benchmark peer. Returns the port.
pub fn web_config(
    boot: &BootOpts,
    image: &Path,
    port: u16,
    bench: bool,
) -> Result<(VmConfig, u16)> {
    let mut config = boot.config(Some(image), &[])?;
    if boot.kernel.is_none() {
        let root = artifacts::repo_root();
        let a = if bench {
            Artifacts::find_or_build_bench(&root)?
        } else {
            Artifacts::find_or_build_http(&root)?
        };
        if let Some(arts) = config.artifacts.as_mut() {
            arts.kernel = a.kernel;
        }
    }
    let port = if port == 0 { free_port()? } else { port };
    Ok((http_config(config, port)?, port))
}

/// `config` turned into a web-serving boot: the http kernel (unless the config names
/// its own artifacts), the forward to `host_port`, `--http` for the app, one vCPU.
pub fn http_config(mut config: VmConfig, host_port: u16) -> Result<VmConfig> {
    if config.artifacts.is_none() {
        config.artifacts = Some(Artifacts::find_or_build_http(&artifacts::repo_root())?);
    }
    config.http_port = Some(host_port);
    // Hermit 0.11 with two vCPUs stalls network traffic for seconds at a time.
    config.cpus = 1;
    if !config.app_args.iter().any(|a| a == "--http") {
        config.app_args.push("--http".into());
        config.app_args.push(GUEST_HTTP_PORT.to_string());
    }
    Ok(config)
}

/// Boots and waits for the ready line, then for the listening line.
pub fn boot_http(config: &VmConfig) -> Result<Vm> {
    if let Some(d) = &config.disk {
        if !Path::new(d).is_file() {
            return Err(Error::InvalidOption(format!(
                "disk image {} is not a file",
                d.display()
            )));
        }
    }
    let mut vm = Vm::boot(config)?;
    wait_listening(&mut vm, config.boot_timeout)?;
    Ok(vm)
}

/// Reads console lines until the listening line (kills QEMU on timeout or failure).
pub fn wait_listening(vm: &mut Vm, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            vm.kill();
            return Err(Error::Timeout {
                what: "the guest's HTTP listener",
                timeout,
            });
        }
        match vm.console().read_line(left.min(Duration::from_millis(500))) {
            Ok(line) if line.contains(LISTENING_PREFIX) => return Ok(()),
            Ok(line) if line.starts_with("gitfs error:") => {
                let exit = vm.wait_exit(Duration::from_secs(10))?;
                return Err(Error::ExitedEarly {
                    exit,
                    transcript: line,
                    stderr: vm.stderr().trim_end().to_string(),
                });
            }
            Ok(_) | Err(Error::Timeout { .. }) => {}
            Err(Error::ConsoleClosed { .. }) => {
                let exit = vm.wait_exit(Duration::from_secs(10))?;
                return Err(Error::ExitedEarly {
                    exit,
                    transcript: vm.transcript().trim_end().to_string(),
                    stderr: vm.stderr().trim_end().to_string(),
                });
            }
            Err(e) => {
                vm.kill();
                return Err(e);
            }
        }
    }
}
