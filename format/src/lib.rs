//! The gitfs image format, shared by the host imager and the unikernel.
//!
//! `no_std` + `alloc`: everything here must build for `x86_64-unknown-hermit` with
//! the kernel's pinned toolchain (rustc 1.87) and must never panic on bad input.
#![no_std]

extern crate alloc;

pub mod delta;
mod oid;

pub use oid::{object_id, ObjectId, ObjectKind};
