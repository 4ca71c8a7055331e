//! Hardware glue for the Hermit unikernel (x86_64 only): clock, PCI, DMA, virtio-blk.
//! The application runs in ring 0 next to the kernel, so it may use port I/O and
//! read the page tables itself.

mod clock;

pub use clock::uptime_ms;
