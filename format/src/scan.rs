//! Sequential PACK walk, independent of the IDX (for verifiers): every entry's
//! offset, header, CRC32 of its raw bytes and inflated data, then the trailer check.

use alloc::vec::Vec;

use crate::device::read_vec;
use crate::pack::{
    self, EntryHeader, Inflater, MAX_ENTRY_HEADER_LEN, PACK_HEADER_LEN, PACK_TRAILER_LEN,
};
use crate::{BlockDevice, Crc32, Error, Result, Section};

/// Device reads are this large (the kernel pays per request).
const CHUNK: u64 = 1 << 20;

/// One PACK entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedEntry {
    /// Offset inside the PACK.
    pub offset: u64,
    pub header: EntryHeader,
    /// Raw entry bytes (header + compressed data), as the IDX's CRC covers them.
    pub packed_len: u64,
    pub crc32: u32,
    /// Inflated data: the object for a base entry, the delta for a delta entry.
    pub data: Vec<u8>,
}

/// Iterator over the entries of the PACK in `section` of a device.
pub struct PackScan<'a, D: BlockDevice + ?Sized> {
    dev: &'a mut D,
    section: Section,
    /// End of the entries (start of the SHA-1 trailer), PACK-relative.
    data_end: u64,
    count: u32,
    remaining: u32,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    sha: sha1_smol::Sha1,
    failed: bool,
}

impl<'a, D: BlockDevice + ?Sized> PackScan<'a, D> {
    pub fn new(dev: &'a mut D, section: Section) -> Result<Self> {
        let min = (PACK_HEADER_LEN + PACK_TRAILER_LEN) as u64;
        if section.len < min {
            return Err(Error::Truncated);
        }
        let head = read_vec(dev, section.offset, PACK_HEADER_LEN as u64)?;
        let count = pack::parse_pack_header(&head)?;
        let mut sha = sha1_smol::Sha1::new();
        sha.update(&head);
        Ok(PackScan {
            dev,
            section,
            data_end: section.len - PACK_TRAILER_LEN as u64,
            count,
            remaining: count,
            pos: PACK_HEADER_LEN as u64,
            buf: Vec::new(),
            buf_start: PACK_HEADER_LEN as u64,
            sha,
            failed: false,
        })
    }

    /// Entry count from the PACK header.
    pub fn count(&self) -> u32 {
        self.count
    }

    fn buf_end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    /// Buffers from `at` (PACK-relative) at least `want` bytes or up to the data end.
    fn fill(&mut self, at: u64, want: u64) -> Result<()> {
        let have_all =
            at >= self.buf_start && self.buf_end() >= at.saturating_add(want).min(self.data_end);
        if have_all && at < self.buf_end() {
            return Ok(());
        }
        let len = CHUNK.max(want).min(self.data_end.saturating_sub(at));
        if len == 0 {
            return Err(Error::Truncated);
        }
        self.buf = read_vec(self.dev, self.section.offset + at, len)?;
        self.buf_start = at;
        Ok(())
    }

    fn next_entry(&mut self) -> Result<ScannedEntry> {
        let offset = self.pos;
        self.fill(offset, MAX_ENTRY_HEADER_LEN as u64)?;
        let rel = (offset - self.buf_start) as usize;
        let header = pack::parse_entry_header(&self.buf[rel..], offset)?;
        let raw_head = &self.buf[rel..rel + header.header_len];
        let mut crc = Crc32::new();
        crc.update(raw_head);
        self.sha.update(raw_head);
        let mut p = offset + header.header_len as u64;
        let size = pack::check_inflated_size(header.size, self.data_end.saturating_sub(p))?;
        let mut inf = Inflater::new(size);
        while !inf.is_done() {
            self.fill(p, 1)?;
            let rel = (p - self.buf_start) as usize;
            let more = self.buf_end() < self.data_end;
            let avail = &self.buf[rel..];
            let used = inf.feed(avail, more)?;
            crc.update(&avail[..used]);
            self.sha.update(&avail[..used]);
            p += used as u64;
            if !inf.is_done() && used < avail.len() {
                return Err(Error::BadPack("inflate stalled"));
            }
        }
        self.pos = p;
        Ok(ScannedEntry {
            offset,
            header,
            packed_len: p - offset,
            crc32: crc.finish(),
            data: inf.into_data(),
        })
    }

    /// After the last entry: checks that the trailer follows directly and equals the
    /// SHA-1 of the PACK; returns it.
    pub fn finish(self) -> Result<[u8; 20]> {
        if self.failed || self.remaining != 0 {
            return Err(Error::BadPack("scan not complete"));
        }
        if self.pos != self.data_end {
            return Err(Error::BadPack(
                "data between the last entry and the trailer",
            ));
        }
        let trailer = read_vec(
            self.dev,
            self.section.offset + self.data_end,
            PACK_TRAILER_LEN as u64,
        )?;
        let sum = self.sha.digest().bytes();
        if trailer[..] != sum[..] {
            return Err(Error::BadPack("PACK checksum mismatch"));
        }
        Ok(sum)
    }
}

impl<D: BlockDevice + ?Sized> Iterator for PackScan<'_, D> {
    type Item = Result<ScannedEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.remaining == 0 {
            return None;
        }
        let r = self.next_entry();
        match r {
            Ok(_) => self.remaining -= 1,
            Err(_) => self.failed = true,
        }
        Some(r)
    }
}
