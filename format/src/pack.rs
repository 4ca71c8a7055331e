//! Git PACK v2: file header, entry headers, and zlib inflate over `miniz_oxide`.
//!
//! Reference: gitformat-pack(5). Entry offsets are absolute offsets inside the PACK
//! (the PACK's first byte is offset 0), as in the IDX.

use alloc::boxed::Box;
use alloc::vec::Vec;

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use crate::{Error, ObjectId, ObjectKind, Result};

pub const PACK_MAGIC: &[u8; 4] = b"PACK";
pub const PACK_HEADER_LEN: usize = 12;
/// The SHA-1 trailer after the last entry.
pub const PACK_TRAILER_LEN: usize = 20;
/// Longest possible entry header: type/size varint (10 bytes for a u64) plus a
/// REF base id (20) or an OFS distance (10).
pub const MAX_ENTRY_HEADER_LEN: usize = 32;

pub const CODE_OFS_DELTA: u8 = 6;
pub const CODE_REF_DELTA: u8 = 7;

/// Deflate cannot expand better than about 1032:1; an announced size above this bound
/// for the bytes at hand is a lie, so we refuse it before allocating.
const MAX_INFLATE_RATIO: u64 = 1032;

/// The 12-byte PACK v2 header for `count` entries.
pub fn pack_header(count: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(PACK_MAGIC);
    h[4..8].copy_from_slice(&2u32.to_be_bytes());
    h[8..].copy_from_slice(&count.to_be_bytes());
    h
}

/// Checks a PACK header and returns its entry count.
pub fn parse_pack_header(buf: &[u8]) -> Result<u32> {
    let h = buf.get(..PACK_HEADER_LEN).ok_or(Error::Truncated)?;
    if &h[..4] != PACK_MAGIC {
        return Err(Error::BadPack("bad magic"));
    }
    let version = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    if version != 2 && version != 3 {
        return Err(Error::BadPack("unsupported version"));
    }
    Ok(u32::from_be_bytes([h[8], h[9], h[10], h[11]]))
}

/// What a PACK entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Base(ObjectKind),
    /// A delta against the entry at `base_offset` (absolute, inside the PACK).
    OfsDelta {
        base_offset: u64,
    },
    RefDelta {
        base: ObjectId,
    },
}

impl EntryKind {
    /// The type code of the entry header (1-4, 6, 7).
    pub fn code(&self) -> u8 {
        match self {
            EntryKind::Base(k) => k.pack_code(),
            EntryKind::OfsDelta { .. } => CODE_OFS_DELTA,
            EntryKind::RefDelta { .. } => CODE_REF_DELTA,
        }
    }
}

/// A parsed entry header. `size` is the inflated size of the entry's data: the object
/// for a base, the delta for a delta. The zlib stream starts `header_len` bytes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryHeader {
    pub kind: EntryKind,
    pub size: u64,
    pub header_len: usize,
}

/// Parses the entry header at the start of `buf`; `entry_offset` is the entry's own
/// offset in the PACK (needed to make OFS distances absolute).
pub fn parse_entry_header(buf: &[u8], entry_offset: u64) -> Result<EntryHeader> {
    let mut pos = 0usize;
    let first = *buf.first().ok_or(Error::Truncated)?;
    pos += 1;
    let code = (first >> 4) & 7;
    let mut size = u64::from(first & 0x0f);
    let mut shift = 4u32;
    let mut byte = first;
    while byte & 0x80 != 0 {
        byte = *buf.get(pos).ok_or(Error::Truncated)?;
        pos += 1;
        let part = u64::from(byte & 0x7f);
        if shift >= 64 || (shift > 57 && part >> (64 - shift) != 0) {
            return Err(Error::BadPack("entry size overflows"));
        }
        size |= part << shift;
        shift += 7;
    }
    let kind = match code {
        1..=4 => {
            EntryKind::Base(ObjectKind::from_pack_code(code).ok_or(Error::BadPack("bad type"))?)
        }
        CODE_OFS_DELTA => {
            let (distance, n) = parse_ofs_distance(buf.get(pos..).ok_or(Error::Truncated)?)?;
            pos += n;
            if distance == 0 || distance > entry_offset {
                return Err(Error::BadPack("OFS delta base out of range"));
            }
            EntryKind::OfsDelta {
                base_offset: entry_offset - distance,
            }
        }
        CODE_REF_DELTA => {
            let raw = buf.get(pos..pos + 20).ok_or(Error::Truncated)?;
            pos += 20;
            EntryKind::RefDelta {
                base: ObjectId::from_slice(raw).ok_or(Error::Truncated)?,
            }
        }
        _ => return Err(Error::BadPack("bad entry type")),
    };
    Ok(EntryHeader {
        kind,
        size,
        header_len: pos,
    })
}

/// Git's OFS distance encoding: big-endian base-128 where each continuation adds one
/// (so every distance has exactly one encoding).
fn parse_ofs_distance(buf: &[u8]) -> Result<(u64, usize)> {
    let mut pos = 0usize;
    let mut byte = *buf.first().ok_or(Error::Truncated)?;
    pos += 1;
    let mut value = u64::from(byte & 0x7f);
    while byte & 0x80 != 0 {
        byte = *buf.get(pos).ok_or(Error::Truncated)?;
        pos += 1;
        value = value
            .checked_add(1)
            .and_then(|v| v.checked_mul(128))
            .map(|v| v | u64::from(byte & 0x7f))
            .ok_or(Error::BadPack("OFS distance overflows"))?;
    }
    Ok((value, pos))
}

/// Appends an entry header's type/size varint (`code` 1-4, 6 or 7).
pub fn encode_entry_header(code: u8, size: u64, out: &mut Vec<u8>) {
    let mut byte = ((code & 7) << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
}

/// Appends an OFS delta distance (entry offset minus base offset, > 0).
pub fn encode_ofs_distance(distance: u64, out: &mut Vec<u8>) {
    let mut tmp = [0u8; 10];
    let mut pos = tmp.len() - 1;
    let mut v = distance;
    tmp[pos] = (v & 0x7f) as u8;
    v >>= 7;
    while v != 0 {
        v -= 1;
        pos -= 1;
        tmp[pos] = 0x80 | (v & 0x7f) as u8;
        v >>= 7;
    }
    out.extend_from_slice(&tmp[pos..]);
}

/// Refuses an announced inflated size that `available` compressed bytes cannot produce.
pub fn check_inflated_size(size: u64, available: u64) -> Result<usize> {
    let bound = available
        .saturating_mul(MAX_INFLATE_RATIO)
        .saturating_add(64);
    if size > bound {
        return Err(Error::BadPack(
            "inflated size larger than the data can hold",
        ));
    }
    usize::try_from(size).map_err(|_| Error::TooLarge)
}

/// First output allocation of an [`Inflater`]: the buffer then doubles as data
/// actually inflates, so a lying size header costs no memory.
const INITIAL_OUTPUT: usize = 64 * 1024;

/// Streaming zlib inflate into an output of exactly the announced size.
pub struct Inflater {
    state: Box<DecompressorOxide>,
    out: Vec<u8>,
    out_pos: usize,
    size: usize,
    done: bool,
}

impl Inflater {
    /// `size` must already be checked (see [`check_inflated_size`]).
    pub fn new(size: usize) -> Self {
        Self::with_input_len(size, 0)
    }

    /// For a whole stream of `input_len` bytes: the output is allocated once when the
    /// announced size is within what that input plausibly inflates to (stored or lightly
    /// compressed data: no doubling, no copies), else it grows as with [`Inflater::new`].
    pub fn with_input_len(size: usize, input_len: usize) -> Self {
        let plausible = input_len.saturating_mul(4).max(INITIAL_OUTPUT);
        Inflater {
            state: Box::default(),
            out: alloc::vec![0u8; size.min(plausible)],
            out_pos: 0,
            size,
            done: false,
        }
    }

    /// Feeds input; returns how many bytes were consumed. `more` says whether further
    /// input may follow `input`. Once [`is_done`](Self::is_done), the stream is
    /// complete and had exactly the announced size.
    pub fn feed(&mut self, input: &[u8], more: bool) -> Result<usize> {
        // zlib's Adler-32 is not checked: every object is checked against its id (SHA-1
        // of the content) and `verify` checks the PACK checksum over every byte, so it
        // adds nothing; it cost more than half of inflating a stored 10 MiB blob under
        // TCG (93 -> 38 ms).
        let mut flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
            | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
            | inflate_flags::TINFL_FLAG_IGNORE_ADLER32;
        if more {
            flags |= inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
        }
        let mut in_pos = 0usize;
        while !self.done {
            let rest = input.get(in_pos..).unwrap_or(&[]);
            let (status, consumed, written) =
                decompress(&mut self.state, rest, &mut self.out, self.out_pos, flags);
            in_pos = in_pos.saturating_add(consumed).min(input.len());
            self.out_pos = self
                .out_pos
                .checked_add(written)
                .filter(|&p| p <= self.out.len())
                .ok_or(Error::BadPack("inflate overran"))?;
            match status {
                TINFLStatus::Done => {
                    if self.out_pos != self.size {
                        return Err(Error::BadPack("inflated data shorter than announced"));
                    }
                    self.done = true;
                }
                TINFLStatus::NeedsMoreInput if more => break,
                TINFLStatus::NeedsMoreInput => return Err(Error::Truncated),
                TINFLStatus::HasMoreOutput if self.out.len() < self.size => {
                    let grown = self.out.len().saturating_mul(2).clamp(1, self.size);
                    self.out.resize(grown, 0);
                }
                TINFLStatus::HasMoreOutput => {
                    return Err(Error::BadPack("inflated data longer than announced"))
                }
                _ => return Err(Error::BadPack("bad zlib stream")),
            }
        }
        Ok(in_pos)
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The inflated data (complete once done).
    pub fn into_data(self) -> Vec<u8> {
        let mut out = self.out;
        out.truncate(self.out_pos);
        out
    }
}

/// Inflates one complete zlib stream from the start of `input` to exactly `size`
/// bytes; returns the data and how many input bytes the stream used.
pub fn inflate_exact(input: &[u8], size: u64) -> Result<(Vec<u8>, usize)> {
    let n = check_inflated_size(size, input.len() as u64)?;
    let mut inf = Inflater::with_input_len(n, input.len());
    let used = inf.feed(input, false)?;
    if !inf.is_done() {
        return Err(Error::Truncated);
    }
    Ok((inf.into_data(), used))
}

/// Inflates at most `max` bytes from the start of a zlib stream (to read delta size
/// headers without inflating the whole delta).
pub fn inflate_prefix(input: &[u8], max: usize) -> Result<Vec<u8>> {
    let mut state: Box<DecompressorOxide> = Box::default();
    let mut out = alloc::vec![0u8; max];
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _, written) = decompress(&mut state, input, &mut out, 0, flags);
    match status {
        TINFLStatus::Done | TINFLStatus::HasMoreOutput | TINFLStatus::NeedsMoreInput => {
            out.truncate(written.min(max));
            Ok(out)
        }
        _ => Err(Error::BadPack("bad zlib stream")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniz_oxide::deflate::compress_to_vec_zlib;

    #[test]
    fn entry_header_round_trip() {
        for &(code, size) in &[
            (1u8, 0u64),
            (3, 15),
            (3, 16),
            (2, 1 << 20),
            (3, u64::MAX),
            (4, 12345678901),
        ] {
            let mut out = Vec::new();
            encode_entry_header(code, size, &mut out);
            let h = parse_entry_header(&out, 0).unwrap();
            assert_eq!(h.size, size);
            assert_eq!(h.header_len, out.len());
            assert_eq!(h.kind.code(), code);
        }
    }

    #[test]
    fn ofs_round_trip() {
        for &d in &[1u64, 127, 128, 16511, 16512, 1 << 40, u64::MAX / 2] {
            let mut out = Vec::new();
            encode_entry_header(CODE_OFS_DELTA, 100, &mut out);
            encode_ofs_distance(d, &mut out);
            let h = parse_entry_header(&out, d + 5).unwrap();
            assert_eq!(h.kind, EntryKind::OfsDelta { base_offset: 5 });
            assert_eq!(h.header_len, out.len());
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(parse_entry_header(&[], 0), Err(Error::Truncated));
        assert_eq!(parse_entry_header(&[0x95], 0), Err(Error::Truncated));
        assert!(parse_entry_header(&[0x00], 0).is_err()); // type 0
        assert!(parse_entry_header(&[0x50], 0).is_err()); // type 5
        assert!(parse_entry_header(&[0x60, 0x05], 3).is_err()); // base before PACK start
        assert!(parse_entry_header(&[0x60, 0x00], 3).is_err()); // distance 0
        assert_eq!(parse_entry_header(&[0x70, 1, 2], 0), Err(Error::Truncated));
        let long = [0xffu8; 16];
        assert!(parse_entry_header(&long, 0).is_err());
        let mut ofs = alloc::vec![0x60u8];
        ofs.extend_from_slice(&[0xff; 12]);
        ofs.push(0);
        assert!(parse_entry_header(&ofs, u64::MAX).is_err());
        assert_eq!(parse_pack_header(&pack_header(7)), Ok(7));
        assert!(parse_pack_header(b"PACK\0\0\0\x04\0\0\0\0").is_err());
        assert!(parse_pack_header(b"PACK").is_err());
    }

    #[test]
    fn inflate_enforces_size() {
        let data = b"hello hello hello hello";
        let mut z = compress_to_vec_zlib(data, 6);
        let used_len = z.len();
        z.extend_from_slice(b"trailing");
        let (out, used) = inflate_exact(&z, data.len() as u64).unwrap();
        assert_eq!(out, data);
        assert_eq!(used, used_len);
        assert!(inflate_exact(&z, data.len() as u64 - 1).is_err());
        assert!(inflate_exact(&z, data.len() as u64 + 1).is_err());
        assert!(inflate_exact(&z[..used_len - 3], data.len() as u64).is_err());
        assert!(inflate_exact(&z, 1 << 40).is_err());
        let empty = compress_to_vec_zlib(b"", 6);
        assert_eq!(inflate_exact(&empty, 0).unwrap(), (Vec::new(), empty.len()));
        assert_eq!(inflate_prefix(&z, 5).unwrap(), b"hello");
        // Output sized once for data that barely compresses, grown for data that does.
        for data in [
            (0..300_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect::<Vec<u8>>(),
            alloc::vec![0u8; 1 << 20],
        ] {
            let z = compress_to_vec_zlib(&data, 6);
            assert_eq!(
                inflate_exact(&z, data.len() as u64).unwrap(),
                (data, z.len())
            );
        }
        // The Adler-32 trailer is not what guards the content (object ids do).
        let mut bad = z.clone();
        bad[used_len - 1] ^= 1;
        assert_eq!(inflate_exact(&bad, data.len() as u64).unwrap().0, data);
        // A damaged stream is still refused.
        let mut bad = z.clone();
        bad[2] ^= 0xFF;
        assert!(inflate_exact(&bad, data.len() as u64).map(|(d, _)| d) != Ok(data.to_vec()));
    }

    #[test]
    fn inflate_streams_in_pieces() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i * 7 % 251) as u8 ^ (i >> 9) as u8)
            .collect();
        let z = compress_to_vec_zlib(&data, 6);
        let mut inf = Inflater::new(data.len());
        let mut pos = 0;
        while !inf.is_done() {
            let end = (pos + 1000).min(z.len());
            pos += inf.feed(&z[pos..end], end < z.len()).unwrap();
        }
        assert_eq!(pos, z.len());
        assert_eq!(inf.into_data(), data);
    }
}
