//! The gitfs image format, shared by the host imager and the unikernel.
//!
//! `no_std` + `alloc`: everything here must build for `x86_64-unknown-hermit` with
//! the kernel's pinned toolchain (rustc 1.87) and must never panic on bad input.
//!
//! Layout of an image: a small [`header`], then a standard Git PACK v2 ([`pack`]) and
//! its IDX v2 ([`idx`]), each on a 4096-byte boundary. [`image::Image`] reads objects
//! from any [`BlockDevice`]. See `docs/image-format.md`.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod civil;
pub mod delta;
mod device;
mod error;
pub mod header;
pub mod idx;
pub mod image;
pub mod object;
mod oid;
pub mod pack;
pub mod pct;
pub mod scan;

pub use device::BlockDevice;
#[cfg(all(feature = "std", unix))]
pub use device::FileDevice;
pub use error::{Error, Result};
pub use header::{Header, Layout, Section, SectionEntry};
pub use idx::{crc32, Crc32, IdxEntry, Index};
pub use image::{CacheStats, Image, Object, VerifyReport};
pub use object::{
    is_plain_name, signature_time, Commit, EntryMode, TreeEntry, TreeEntryRef, TreeIter,
};
pub use oid::{object_id, write_header, ObjectId, ObjectKind};
pub use pack::{EntryHeader, EntryKind};
pub use scan::{PackScan, ScannedEntry};
