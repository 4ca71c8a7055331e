//! gitfs unikernel application logic, independent of the target.
//!
//! Everything here builds and is unit-tested on the host; the Hermit-only hardware glue
//! (PCI, DMA, virtio-blk) lives in `hermit/` and is compiled only for Hermit.

pub mod blob_cache;
pub mod blockdev;
pub mod diag;
pub mod fs;
pub mod heap;
pub mod server;
pub mod tree;
#[cfg(feature = "http")]
pub mod web;

#[cfg(target_os = "hermit")]
pub mod hermit;

/// Crate version, reported in the ready line.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
