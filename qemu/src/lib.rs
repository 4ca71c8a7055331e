//! QEMU harness for the gitfs unikernel: finds or builds the loader and kernel images,
//! assembles the QEMU command line, boots, drives the serial console and stops cleanly.
//!
//! ```no_run
//! use gitfs_qemu::{Vm, VmConfig, Exit};
//! let mut vm = Vm::boot(&VmConfig::default())?;
//! assert_eq!(vm.request("ping")?, "pong");
//! assert_eq!(vm.stop()?, Exit::Success);
//! # Ok::<(), gitfs_qemu::Error>(())
//! ```

pub mod accel;
pub mod artifacts;
pub mod boot_opts;
pub mod channel;
pub mod cmdline;
pub mod console;
pub mod error;
pub mod exit;
pub mod export;
pub mod http;
pub mod relay;
pub mod session;
pub mod vm;

pub use accel::{Accel, AccelMode};
pub use artifacts::Artifacts;
pub use boot_opts::{BootOpts, NO_DISK};
pub use console::Console;
pub use error::{Error, Result};
pub use session::{blob_id, Blob, Ready, Session, Slice, Transport};
pub use vm::{run_interactive, Exit, Freq, Vm, VmConfig};
