//! The one error type of the crate.

use core::fmt;

use crate::ObjectId;

pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong reading or writing an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The block device failed.
    Io,
    /// Neither a gitfs nor a docteur image.
    BadMagic,
    UnsupportedVersion(u16),
    HeaderChecksum,
    /// A header field is out of range or inconsistent.
    BadHeader(&'static str),
    /// Data ends before a structure it announces.
    Truncated,
    /// A section marked required whose kind this reader does not know.
    UnsupportedSection(u32),
    BadPack(&'static str),
    BadIdx(&'static str),
    BadDelta(&'static str),
    /// A commit, tree or tag that does not parse.
    BadObject(&'static str),
    NotFound(ObjectId),
    /// An object whose SHA-1 is not its id.
    Corrupt(ObjectId),
    /// A delta chain longer than the configured limit (or a cycle).
    ChainTooDeep,
    /// A size that does not fit in memory or in the format.
    TooLarge,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io => write!(f, "block device I/O error"),
            Error::BadMagic => write!(f, "not a gitfs image (bad magic)"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported image version {v}"),
            Error::HeaderChecksum => write!(f, "image header checksum mismatch"),
            Error::BadHeader(why) => write!(f, "bad image header: {why}"),
            Error::Truncated => write!(f, "truncated data"),
            Error::UnsupportedSection(k) => write!(f, "unsupported required section kind {k}"),
            Error::BadPack(why) => write!(f, "bad PACK: {why}"),
            Error::BadIdx(why) => write!(f, "bad IDX: {why}"),
            Error::BadDelta(why) => write!(f, "bad delta: {why}"),
            Error::BadObject(why) => write!(f, "bad object: {why}"),
            Error::NotFound(id) => write!(f, "object {id} not found"),
            Error::Corrupt(id) => write!(f, "object {id} is corrupt (SHA-1 mismatch)"),
            Error::ChainTooDeep => write!(f, "delta chain too deep"),
            Error::TooLarge => write!(f, "size too large"),
        }
    }
}

impl core::error::Error for Error {}
