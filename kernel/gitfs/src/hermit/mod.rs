//! Hardware glue for the Hermit unikernel (x86_64 only): clock, PCI, DMA, virtio-blk.
//! The application runs in ring 0 next to the kernel, so it may use port I/O and
//! read the page tables itself.

mod blk;
pub mod mount;
mod clock;
pub mod com2;
mod hal;
mod paging;
mod pci;
mod port;

pub use blk::{open as open_disk, OpenError, VirtioDisk, MAX_REQUEST};
pub use clock::uptime_ms;
