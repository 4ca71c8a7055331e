//! Git delta format (gitformat-pack "Deltified representation"): apply and encode.
//!
//! A delta is two size varints (base size, result size) followed by commands:
//! `1xxxxxxx` copies a range of the base (offset and size bytes selected by the low
//! bits; size 0 means 0x10000), `0nnnnnnn` inserts the next n bytes; 0 is reserved.

mod apply;
mod encode;

pub use apply::{apply, sizes};
pub use encode::DeltaIndex;
