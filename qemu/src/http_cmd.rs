//! `serve`: the unikernel as a web server on 127.0.0.1 until Ctrl-C.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use gitfs_qemu::http::{boot_http, web_config};
use gitfs_qemu::{BootOpts, Error};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Boots, prints the URL, relays the guest's lines to stderr until Ctrl-C or QEMU ends.
pub fn serve(boot: &BootOpts, image: &Path, port: u16) -> Result<std::process::ExitCode> {
    let (config, port) = web_config(boot, image, port, false)?;
    // SAFETY: the handler only stores to an atomic.
    let handler = on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t;
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    let mut vm = boot_http(&config).context("booting the web server")?;
    if let Some(r) = vm.ready_line() {
        eprintln!("{r}");
    }
    println!("http://127.0.0.1:{port}/");
    eprintln!("gitfs-qemu: serving {}; Ctrl-C stops", image.display());
    let _ = std::io::stdout().flush();
    while !STOP.load(Ordering::SeqCst) {
        match vm.console().read_line(Duration::from_millis(200)) {
            Ok(line) => eprintln!("{line}"),
            Err(Error::Timeout { .. }) => {}
            Err(Error::ConsoleClosed { .. }) => {
                let exit = vm.wait_exit(Duration::from_secs(5))?;
                eprintln!("gitfs-qemu: the unikernel stopped: {exit}");
                return Ok(std::process::ExitCode::FAILURE);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let _ = vm.console().send_line("quit");
    // Kills the process group when the app does not quit in time.
    let exit = vm.wait_exit(Duration::from_secs(5));
    vm.kill();
    eprintln!(
        "gitfs-qemu: stopped ({})",
        exit.map_or_else(|e| e.to_string(), |x| x.to_string())
    );
    Ok(std::process::ExitCode::SUCCESS)
}

// ---- benchmark ----
