//! gitfs unikernel entry point: opens the disk, prints the ready line, then serves
//! console requests (see `protocol`). A missing disk is fatal unless the application
//! argument `--no-disk` is given (`-append "... -- --no-disk"`).
//! On the host it serves a disk image file given as an argument (to try the protocol
//! without QEMU).

use std::io::{self, Write};
use std::process::exit;

use gitfs_kernel::service::{ready_line, Service};
use gitfs_kernel::VERSION;

#[cfg(target_os = "hermit")]
fn open_disk(path: Option<&str>) -> Result<impl gitfs_format::BlockDevice, String> {
    let _ = path;
    gitfs_kernel::hermit::open_disk().map_err(|e| e.to_string())
}

#[cfg(not(target_os = "hermit"))]
fn open_disk(path: Option<&str>) -> Result<impl gitfs_format::BlockDevice, String> {
    let path = path.ok_or("no disk image path given")?;
    gitfs_kernel::blockdev::FileDevice::open(path.as_ref()).map_err(|e| format!("{path}: {e}"))
}

fn boot_ms() -> Option<u64> {
    #[cfg(target_os = "hermit")]
    return gitfs_kernel::hermit::uptime_ms();
    #[cfg(not(target_os = "hermit"))]
    None
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let allow_no_disk = args.iter().any(|a| a == "--no-disk");
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str);
    let (disk, reason) = match open_disk(path) {
        Ok(d) => (Some(d), String::new()),
        Err(e) if allow_no_disk => (None, e),
        Err(e) => {
            println!("gitfs error: no disk: {e}");
            exit(1);
        }
    };
    let disk_bytes = disk.as_ref().map(gitfs_format::BlockDevice::len);
    let mut out = io::stdout().lock();
    let mut service = Service::new(disk, &reason);
    let code = writeln!(out, "{}", ready_line(VERSION, boot_ms(), disk_bytes))
        .and_then(|()| out.flush())
        .and_then(|()| service.run(io::stdin().lock(), &mut out));
    match code {
        Ok(code) => exit(code),
        Err(e) => {
            eprintln!("gitfs error: console: {e}");
            exit(1);
        }
    }
}
