//! gitfs for Hermit apps: mount a gitfs image (one Git commit on a virtio-blk disk,
//! made by `imager`) read-only, then read it with plain `std::fs`.
//!
//! ```no_run
//! fn main() -> std::io::Result<()> {
//!     gitfs::mount()?; // the first virtio-blk disk, at /git (or $GITFS_MOUNT)
//!     let page = std::fs::read_to_string("/git/index.html")?;
//!     println!("{}", page.len());
//!     Ok(())
//! }
//! ```
//!
//! Depending on this crate also links the Hermit kernel (`libhermit.a`, built from the
//! registry's `hermit-kernel` 0.11.0 with the patches in `kernel/hermit-build/patches`;
//! feature `net` adds TCP and DHCPv4 for `std::net`). Do not depend on the `hermit`
//! crate as well.
//!
//! Every byte read through `std::fs` comes from a blob whose SHA-1 was checked against
//! its Git id; a corrupt object is an I/O error (`EIO`), never wrong bytes. An open file
//! holds its whole verified content in memory until it is closed.
//!
//! The same reader serves apps that use it directly ([`fs::Fs`]) and `std::fs`
//! ([`volume::Volume`] behind the kernel mount); both are target-independent and
//! tested on the host. Hermit-only glue (PCI, DMA, virtio-blk, the mount call) is in
//! `hermit/`.

pub mod blob_cache;
pub mod blockdev;
pub mod fs;
pub mod tree;
pub mod volume;

#[cfg(target_os = "hermit")]
pub mod hermit;

mod mount;
pub use mount::{
    error_kind, is_empty_listing, mode, mount, os_error, read_link, Mount, MountError, Mounted,
};
#[cfg(target_os = "hermit")]
pub use mount::{mounted, Disk};

/// Where [`mount`] puts the image unless [`MOUNT_ENV`] says otherwise.
pub const DEFAULT_MOUNT_POINT: &str = "/git";
/// Environment variable naming the mount point (Hermit apps get environment variables
/// from the kernel command line: `env=GITFS_MOUNT=/srv`).
pub const MOUNT_ENV: &str = "GITFS_MOUNT";
/// Files larger than this are refused at open with `EFBIG` unless
/// [`Mount::max_file_bytes`] says otherwise (a file is held in memory while open).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;
