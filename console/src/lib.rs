//! The gitfs serial console protocol, shared by the unikernel and the host harness.
//!
//! One serial line carries two faces (see `docs/console-protocol.md`):
//! - a person types `help`, `ls [PATH]`, `cat PATH`, ... and reads text;
//! - a program sends framed requests (`@get PATH`, ...) and reads framed responses: a
//!   header line `=OK <len> ...` or `=ERR <code> <message>`, then `<len>` payload bytes
//!   escaped so that they survive the Hermit 0.11 console (which turns 0x08 and 0x7F into
//!   three bytes each), then a trailer carrying a CRC-32 of the payload.
//!
//! Kernel side: [`parse_line`], [`ok_header`], [`err_header`], [`Framer`], [`Record`].
//! Host side: [`encode_request`], [`Decoder`], [`Record::parse`], [`parse_info`], and
//! with the feature `std` a `Client` over any `Read + Write` stream.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
mod client;
mod crc;
mod decode;
pub mod flow;
mod pct;
mod record;
mod request;
mod response;

#[cfg(feature = "std")]
pub use client::{Client, ClientError};
pub use crc::{crc32, Crc32};
pub use decode::{DecodeError, Decoder, Response};
pub use pct::{pct_decode, pct_encode, PctError};
pub use record::{parse_info, parse_records, Kind, Record, RecordError};
pub use request::{encode_request, parse_line, Face, ParseError, Request};
pub use response::{
    err_header, escape_into, ok_header, trailer, ErrorCode, Framer, FramerError, Framing, ESC,
    TRAILER_LEN,
};

/// Longest request line in bytes, without its newline. Longer lines are answered with
/// [`ErrorCode::TooLong`] and skipped.
pub const MAX_LINE: usize = 4096;
