//! COM1 output (polled), error exit through isa-debug-exit, and the `log` backend.

use core::arch::asm;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

const COM1: u16 = 0x3F8;
/// isa-debug-exit port; QEMU exits with `(value << 1) | 1`.
const DEBUG_EXIT: u16 = 0xF4;
/// 32 -> QEMU exit status 65: an app cannot produce it (it gives 3 or 1).
pub const LOADER_FAILURE: u32 = 32;

static VERBOSE: AtomicBool = AtomicBool::new(false);

unsafe fn outb(port: u16, value: u8) {
    asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags));
}

unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags));
    value
}

pub struct Com1;

impl Write for Com1 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            // Bounded wait: a missing UART must not hang the loader.
            for _ in 0..100_000 {
                if unsafe { inb(COM1 + 5) } & 0x20 != 0 {
                    break;
                }
            }
            unsafe { outb(COM1, b) };
        }
        Ok(())
    }
}

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
    if on {
        // Only fails if a logger is already set, which is harmless.
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(log::LevelFilter::Info);
    }
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Prints a loader line when `loader.log` is on the command line.
macro_rules! vlog {
    ($($arg:tt)*) => {
        if $crate::serial::verbose() {
            use core::fmt::Write as _;
            let _ = writeln!($crate::serial::Com1, "gitfs-loader: {}", format_args!($($arg)*));
        }
    };
}
pub(crate) use vlog;

/// Prints `gitfs-loader: error: ...` and makes QEMU exit with status 65.
pub fn fail(msg: fmt::Arguments) -> ! {
    let _ = writeln!(Com1, "gitfs-loader: error: {msg}");
    unsafe {
        asm!("out dx, eax", in("dx") DEBUG_EXIT, in("eax") LOADER_FAILURE, options(nomem, nostack));
        // Without the isa-debug-exit device there is nothing better than halting.
        loop {
            asm!("cli; hlt", options(nomem, nostack));
        }
    }
}

struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        verbose()
    }
    fn log(&self, record: &log::Record) {
        if verbose() {
            let _ = writeln!(Com1, "gitfs-loader: [{}] {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}
