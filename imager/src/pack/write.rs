//! Compression and the PACK v2 byte stream.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use gitfs_format::pack::{encode_entry_header, encode_ofs_distance, CODE_OFS_DELTA};
use gitfs_format::ObjectId;

use super::{Object, PackError, Planned, Progress, MAX_LEVEL};
use crate::hash::Hasher;

/// What was written: enough for the IDX and for reporting.
#[derive(Clone, Debug)]
pub struct PackSummary {
    /// (id, offset in the PACK, CRC-32 of the whole entry), in write order.
    pub entries: Vec<(ObjectId, u64, u32)>,
    /// SHA-1 of the PACK content, also its last 20 bytes.
    pub checksum: [u8; 20],
    /// Total PACK length including the trailer.
    pub len: u64,
    pub deltas: usize,
}

/// A reusable zlib-stream compressor. libdeflate, not miniz_oxide: on real corpora
/// (Python's HTML docs, Rust's library source) its level 8 is 1.3-1.5% smaller than
/// miniz_oxide's 6 in 0.75-1.1x the time, and its levels 10-12 (`max` uses 11) are
/// 3.5-4% smaller still; any zlib inflater (git's, the guest's miniz_oxide) reads it.
pub struct Deflater {
    c: libdeflater::Compressor,
}

impl Deflater {
    /// `level` is libdeflate's, 0 (stored) to 12; larger values are clamped.
    pub fn new(level: u8) -> Self {
        let lvl =
            libdeflater::CompressionLvl::new(i32::from(level.min(MAX_LEVEL))).unwrap_or_default();
        Deflater {
            c: libdeflater::Compressor::new(lvl),
        }
    }

    /// Appends the zlib stream of `input` to `out`.
    pub fn deflate(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.c.zlib_compress_bound(input.len()), 0);
        // The bound is libdeflate's own worst case, so this cannot run out of room.
        let n = self
            .c
            .zlib_compress(input, &mut out[start..])
            .expect("zlib_compress_bound is enough room");
        out.truncate(start + n);
    }
}

/// The scratch file compressed entries go to as they are made, in any order; the
/// PACK is then written from it in its own order. A file, not memory: the image's
/// bytes never need to fit in RAM.
pub struct Scratch {
    file: File,
    end: Mutex<u64>,
}

impl Scratch {
    pub fn new(file: File) -> Self {
        Scratch {
            file,
            end: Mutex::new(0),
        }
    }

    /// Reserves room for `data` at the end and writes it there; returns its offset.
    fn append(&self, data: &[u8]) -> io::Result<u64> {
        let at = {
            let mut end = self.end.lock().unwrap_or_else(|e| e.into_inner());
            let at = *end;
            *end += data.len() as u64;
            at
        };
        self.file.write_all_at(data, at)?;
        Ok(at)
    }

    fn read(&self, at: u64, len: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.resize(len as usize, 0);
        self.file.read_exact_at(buf, at)
    }
}

/// One thread's buffer in front of the scratch file (few, large writes).
pub(super) struct Spool<'a> {
    scratch: &'a Scratch,
    buf: Vec<u8>,
    /// Plan positions whose bytes are in `buf`, with their offsets in it.
    pending: Vec<(usize, u64)>,
}

/// Bytes a spool gathers before writing them out.
const SPOOL_BYTES: usize = 1 << 20;

impl<'a> Spool<'a> {
    pub(super) fn new(scratch: &'a Scratch) -> Self {
        Spool {
            scratch,
            buf: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Queues the compressed bytes of `plan[k]`; their offset is set when written.
    pub(super) fn push(
        &mut self,
        k: usize,
        z: &[u8],
        plan: &mut [Planned],
    ) -> Result<(), PackError> {
        self.pending.push((k, self.buf.len() as u64));
        self.buf.extend_from_slice(z);
        if self.buf.len() >= SPOOL_BYTES {
            self.flush(plan)?;
        }
        Ok(())
    }

    pub(super) fn flush(&mut self, plan: &mut [Planned]) -> Result<(), PackError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let at = self.scratch.append(&self.buf).map_err(PackError::Scratch)?;
        for (k, off) in self.pending.drain(..) {
            plan[k].z_off = at + off;
        }
        self.buf.clear();
        Ok(())
    }
}

/// Writes a whole PACK v2 for `objects` to `out` in `order` (bases before deltas),
/// copying each entry's compressed bytes from `scratch`.
pub fn write_pack<W: Write>(
    objects: &[Object<'_>],
    plan: &[Planned],
    order: &[usize],
    scratch: &Scratch,
    out: &mut W,
    progress: &dyn Progress,
) -> Result<PackSummary, PackError> {
    progress.start("writing", order.len() as u64);
    let mut w = HashWriter {
        inner: out,
        sha: Hasher::default(),
        len: 0,
    };
    let mut head = Vec::with_capacity(12);
    head.extend_from_slice(b"PACK");
    head.extend_from_slice(&2u32.to_be_bytes());
    head.extend_from_slice(&(order.len() as u32).to_be_bytes());
    w.write_all(&head).map_err(PackError::Write)?;
    let mut offsets = vec![u64::MAX; objects.len()];
    let mut entries = Vec::with_capacity(order.len());
    let mut deltas = 0;
    let mut z = Vec::new();
    for &i in order {
        let p = &plan[i];
        scratch
            .read(p.z_off, p.z_len, &mut z)
            .map_err(PackError::Scratch)?;
        let offset = w.len;
        offsets[i] = offset;
        head.clear();
        match p.base {
            Some(b) => {
                deltas += 1;
                encode_entry_header(CODE_OFS_DELTA, p.payload_len, &mut head);
                // Bases are always written first (write_order guarantees it).
                encode_ofs_distance(offset - offsets[b], &mut head);
            }
            None => encode_entry_header(objects[i].kind.pack_code(), p.payload_len, &mut head),
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.update(&z);
        w.write_all(&head).map_err(PackError::Write)?;
        w.write_all(&z).map_err(PackError::Write)?;
        entries.push((objects[i].id, offset, crc.finalize()));
        if entries.len() % 1024 == 0 {
            progress.inc(1024);
        }
    }
    let checksum = w.sha.digest();
    w.inner.write_all(&checksum).map_err(PackError::Write)?;
    progress.finish();
    Ok(PackSummary {
        entries,
        checksum,
        len: w.len + 20,
        deltas,
    })
}

struct HashWriter<'a, W: Write> {
    inner: &'a mut W,
    sha: Hasher,
    len: u64,
}

impl<W: Write> HashWriter<'_, W> {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.sha.update(b);
        self.len += b.len() as u64;
        self.inner.write_all(b)
    }
}
