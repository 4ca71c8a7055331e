//! gitfs unikernel application logic, independent of the target.
//!
//! Everything here builds and is unit-tested on the host. The image reader and the
//! Hermit-only hardware glue (PCI, DMA, virtio-blk) are the `gitfs` crate's, shared
//! with every other Hermit app that reads an image.

pub mod diag;
pub mod heap;
pub mod server;
#[cfg(feature = "http")]
pub mod web;

/// Crate version, reported in the ready line.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
