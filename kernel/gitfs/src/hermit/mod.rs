//! Hardware glue for the Hermit unikernel (x86_64 only): clock, PCI, DMA, virtio-blk,
//! a virtio-console channel, and (feature `net`) the raw socket calls a server needs.
//! The application runs in ring 0 next to the kernel, so it may use port I/O and
//! read the page tables itself.

mod blk;
pub mod channel;
pub mod mount;
mod clock;
pub mod com2;
mod hal;
#[cfg(feature = "net")]
pub mod net;
mod paging;
mod pci;
mod port;

pub use blk::{open as open_disk, OpenError, VirtioDisk, MAX_REQUEST};
pub use clock::uptime_ms;
