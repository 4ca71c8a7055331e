//! Make, verify and inspect gitfs images.
//!
//! `make` turns a [`source`] snapshot into an image: the [`pack`] pipeline picks
//! deltas and writes the PACK, [`image`] wraps it with the header and IDX.
//! [`inspect`] reads images back for `verify`, `info`, `ls` and `cat`.

pub mod date;
pub mod hash;
pub mod image;
pub mod inspect;
pub mod make;
pub mod pack;
pub mod progress;
pub mod source;
