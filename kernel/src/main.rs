//! gitfs unikernel entry point: prints the ready line, then serves console requests.
//! On the host it serves a disk image file given as the first argument (for trying the
//! protocol without QEMU).

use std::io::{self, Write};
use std::process::exit;

use gitfs_kernel::service::{ready_line, Service};
use gitfs_kernel::VERSION;

#[cfg(target_os = "hermit")]
fn open_disk() -> (Option<Vec<u8>>, String, Option<u64>) {
    (None, "no block driver yet".into(), gitfs_kernel::hermit::uptime_ms())
}

#[cfg(not(target_os = "hermit"))]
fn open_disk() -> (Option<gitfs_kernel::blockdev::FileDevice>, String, Option<u64>) {
    match std::env::args_os().nth(1) {
        Some(path) => match gitfs_kernel::blockdev::FileDevice::open(path.as_ref()) {
            Ok(d) => (Some(d), String::new(), None),
            Err(e) => (None, format!("{}: {e}", path.to_string_lossy()), None),
        },
        None => (None, "no disk image path given".into(), None),
    }
}

fn main() {
    let (disk, reason, boot_ms) = open_disk();
    let disk_bytes = disk.as_ref().map(gitfs_format::BlockDevice::len);
    let mut out = io::stdout().lock();
    let mut service = Service::new(disk, &reason);
    let code = writeln!(out, "{}", ready_line(VERSION, boot_ms, disk_bytes))
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
