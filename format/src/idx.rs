//! Git IDX v2: parse, look up, and write (byte-identical to `git index-pack`).
//!
//! Layout: magic `\377tOc`, version 2, 256 cumulative big-endian fanout counts, then
//! N sorted ids, N CRC32s, N 4-byte offsets (MSB set: index into the 8-byte table),
//! the 8-byte offsets, the PACK's SHA-1 and the SHA-1 of everything before it.

use alloc::vec::Vec;

use crate::{Error, ObjectId, Result};

pub const IDX_MAGIC: [u8; 4] = [0xff, b't', b'O', b'c'];
const FANOUT_START: usize = 8;
const IDS_START: usize = FANOUT_START + 256 * 4;
/// The smallest IDX (no objects): header, fanout, two checksums.
pub const MIN_IDX_LEN: usize = IDS_START + 40;

/// CRC32 (IEEE) as git stores per PACK entry.
pub fn crc32(data: &[u8]) -> u32 {
    let mut h = Crc32::new();
    h.update(data);
    h.finish()
}

/// A streaming CRC32 (IEEE).
#[derive(Clone, Debug, Default)]
pub struct Crc32(crc32fast::Hasher);

impl Crc32 {
    pub fn new() -> Self {
        Crc32(crc32fast::Hasher::new())
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(&self) -> u32 {
        self.0.clone().finalize()
    }
}

/// The first 8 bytes of an id (at least 8 bytes long) as a big-endian number.
fn prefix(id: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&id[..8]);
    u64::from_be_bytes(k)
}

/// Orders two 20-byte ids as their bytes do, eight bytes at a time: the byte-wise
/// compare of a slice was a loop per byte, run for every tree entry at boot.
fn cmp_ids(a: &[u8], b: &[u8]) -> core::cmp::Ordering {
    let word = |id: &[u8], at: usize| prefix(&id[at..]);
    let tail = |id: &[u8]| u32::from_be_bytes([id[16], id[17], id[18], id[19]]);
    word(a, 0)
        .cmp(&word(b, 0))
        .then_with(|| word(a, 8).cmp(&word(b, 8)))
        .then_with(|| tail(a).cmp(&tail(b)))
}

fn be32(b: &[u8], at: usize) -> Result<u32> {
    let s = b
        .get(at..at.checked_add(4).ok_or(Error::Truncated)?)
        .ok_or(Error::Truncated)?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> Result<u64> {
    let s = b
        .get(at..at.checked_add(8).ok_or(Error::Truncated)?)
        .ok_or(Error::Truncated)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_be_bytes(a))
}

/// Table positions for `n` objects.
struct Tables {
    crcs: usize,
    offsets: usize,
    large: usize,
}

fn tables(n: usize) -> Result<Tables> {
    let ids_len = n.checked_mul(20).ok_or(Error::BadIdx("too many objects"))?;
    let crcs = IDS_START
        .checked_add(ids_len)
        .ok_or(Error::BadIdx("too many objects"))?;
    let offsets = crcs
        .checked_add(n * 4)
        .ok_or(Error::BadIdx("too many objects"))?;
    let large = offsets
        .checked_add(n * 4)
        .ok_or(Error::BadIdx("too many objects"))?;
    Ok(Tables {
        crcs,
        offsets,
        large,
    })
}

/// The exact length of the IDX starting at `bytes[0]` (docteur images do not record
/// it). `bytes` must hold at least [`min_measure_len`] bytes: everything up to the
/// end of the 4-byte offset table, which says how many 8-byte offsets follow.
pub fn measure(bytes: &[u8]) -> Result<u64> {
    let need = min_measure_len(bytes)?;
    let n = be32(bytes, FANOUT_START + 255 * 4)? as usize;
    let t = tables(n)?;
    if (need as u64) > bytes.len() as u64 {
        return Err(Error::Truncated);
    }
    let mut large = 0u64;
    for i in 0..n {
        if be32(bytes, t.offsets + 4 * i)? & 0x8000_0000 != 0 {
            large += 1;
        }
    }
    Ok(need as u64 + large * 8 + 40)
}

/// How many leading IDX bytes [`measure`] needs (from the header and fanout, i.e. the
/// first 1032 bytes).
pub fn min_measure_len(bytes: &[u8]) -> Result<usize> {
    check_magic(bytes)?;
    let n = be32(bytes, FANOUT_START + 255 * 4)? as usize;
    Ok(tables(n)?.large)
}

fn check_magic(bytes: &[u8]) -> Result<()> {
    if bytes.len() < 8 {
        return Err(Error::Truncated);
    }
    if bytes[..4] != IDX_MAGIC {
        return Err(Error::BadIdx("bad magic"));
    }
    if be32(bytes, 4)? != 2 {
        return Err(Error::BadIdx("unsupported version"));
    }
    Ok(())
}

/// A validated IDX v2 held in memory.
pub struct Index {
    bytes: Vec<u8>,
    n: usize,
    t: Tables,
    large_count: usize,
}

impl Index {
    /// Validates an IDX: magic, version, monotonic fanout matching the ids, strictly
    /// sorted ids, exact length, and every large-offset reference in range.
    pub fn parse(bytes: Vec<u8>) -> Result<Index> {
        check_magic(&bytes)?;
        if bytes.len() < MIN_IDX_LEN {
            return Err(Error::Truncated);
        }
        let mut prev = 0u32;
        for i in 0..256 {
            let v = be32(&bytes, FANOUT_START + 4 * i)?;
            if v < prev {
                return Err(Error::BadIdx("fanout not monotonic"));
            }
            prev = v;
        }
        let n = prev as usize;
        let t = tables(n)?;
        let rest = bytes
            .len()
            .checked_sub(40)
            .and_then(|l| l.checked_sub(t.large))
            .ok_or(Error::Truncated)?;
        if rest % 8 != 0 {
            return Err(Error::BadIdx("bad length"));
        }
        let large_count = rest / 8;
        let mut idx = Index {
            bytes,
            n,
            t,
            large_count,
        };
        idx.validate()?;
        Ok(idx)
    }

    fn validate(&mut self) -> Result<()> {
        // Ids sorted strictly and in the fanout bucket of their first byte.
        let mut bucket_start = 0usize;
        for b in 0..256usize {
            let end = be32(&self.bytes, FANOUT_START + 4 * b)? as usize;
            for pos in bucket_start..end {
                let id = self.id_bytes(pos)?;
                if id[0] as usize != b {
                    return Err(Error::BadIdx("fanout does not match ids"));
                }
                if pos > 0 && cmp_ids(self.id_bytes(pos - 1)?, id).is_ge() {
                    return Err(Error::BadIdx("ids not sorted"));
                }
            }
            bucket_start = end;
        }
        let mut used = 0usize;
        for pos in 0..self.n {
            let raw = be32(&self.bytes, self.t.offsets + 4 * pos)?;
            if raw & 0x8000_0000 != 0 {
                if (raw & 0x7fff_ffff) as usize >= self.large_count {
                    return Err(Error::BadIdx("large offset out of range"));
                }
                used += 1;
            }
        }
        if used != self.large_count {
            return Err(Error::BadIdx("bad large-offset table size"));
        }
        Ok(())
    }

    fn id_bytes(&self, pos: usize) -> Result<&[u8]> {
        let at = IDS_START + pos * 20;
        self.bytes.get(at..at + 20).ok_or(Error::Truncated)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The raw IDX bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Position of `id` in the sorted table.
    pub fn lookup(&self, id: &ObjectId) -> Option<u32> {
        let first = id.0[0] as usize;
        let lo = if first == 0 {
            0
        } else {
            be32(&self.bytes, FANOUT_START + 4 * (first - 1)).ok()? as usize
        };
        let hi = be32(&self.bytes, FANOUT_START + 4 * first).ok()? as usize;
        let (mut lo, mut hi) = (lo, hi.min(self.n));
        // Ids are SHA-1s, spread evenly: guess the position from the first 8 bytes, then
        // gallop from the guess to bracket the id and bisect the bracket. Probes stay
        // near the guess (few cache lines) and number O(log distance); a crafted IDX
        // whose guesses are wrong still costs O(log n). At a million objects these
        // lookups were half of building the path tree. Comparing 8-byte keys first also
        // spares a byte-wise compare per probe.
        let key = prefix(&id.0);
        let order_at = |pos: usize| -> Option<core::cmp::Ordering> {
            let cur = self.id_bytes(pos).ok()?;
            Some(cmp_ids(cur, &id.0))
        };
        if hi > lo.saturating_add(16) {
            let (lo_key, hi_key) = (self.key_at(lo)?, self.key_at(hi - 1)?);
            if key < lo_key || key > hi_key {
                return None;
            }
            // 32-bit fractions keep the product in a u64 (at most 2^32 entries).
            let num = (key - lo_key) >> 32;
            let den = ((hi_key - lo_key) >> 32) + 1;
            let guess = lo + (num * (hi - 1 - lo) as u64 / den) as usize;
            let mut step = 8;
            match order_at(guess)? {
                core::cmp::Ordering::Equal => return u32::try_from(guess).ok(),
                core::cmp::Ordering::Less => {
                    lo = guess + 1;
                    while let Some(p) = guess.checked_add(step).filter(|&p| p < hi) {
                        if order_at(p)? == core::cmp::Ordering::Greater {
                            hi = p;
                            break;
                        }
                        lo = p;
                        step *= 2;
                    }
                }
                core::cmp::Ordering::Greater => {
                    hi = guess;
                    while let Some(p) = guess.checked_sub(step).filter(|&p| p >= lo) {
                        if order_at(p)? == core::cmp::Ordering::Less {
                            lo = p + 1;
                            break;
                        }
                        hi = p + 1;
                        step *= 2;
                    }
                }
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match order_at(mid)? {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return u32::try_from(mid).ok(),
            }
        }
        None
    }

    /// The first 8 bytes of the id at `pos`, as a big-endian number (orders like the id).
    fn key_at(&self, pos: usize) -> Option<u64> {
        self.id_bytes(pos).ok().map(prefix)
    }

    pub fn id_at(&self, pos: u32) -> Option<ObjectId> {
        let pos = pos as usize;
        if pos >= self.n {
            return None;
        }
        ObjectId::from_slice(self.id_bytes(pos).ok()?)
    }

    /// PACK offset of the object at `pos`.
    pub fn offset_at(&self, pos: u32) -> Option<u64> {
        let pos = pos as usize;
        if pos >= self.n {
            return None;
        }
        let raw = be32(&self.bytes, self.t.offsets + 4 * pos).ok()?;
        if raw & 0x8000_0000 == 0 {
            return Some(u64::from(raw));
        }
        be64(&self.bytes, self.t.large + 8 * (raw & 0x7fff_ffff) as usize).ok()
    }

    pub fn crc_at(&self, pos: u32) -> Option<u32> {
        if pos as usize >= self.n {
            return None;
        }
        be32(&self.bytes, self.t.crcs + 4 * pos as usize).ok()
    }

    pub fn entry_at(&self, pos: u32) -> Option<IdxEntry> {
        Some(IdxEntry {
            id: self.id_at(pos)?,
            offset: self.offset_at(pos)?,
            crc32: self.crc_at(pos)?,
        })
    }

    /// The SHA-1 of the PACK this IDX describes.
    pub fn pack_checksum(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        let at = self.bytes.len() - 40;
        out.copy_from_slice(&self.bytes[at..at + 20]);
        out
    }

    /// The IDX's own trailing SHA-1.
    pub fn idx_checksum(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.bytes[self.bytes.len() - 20..]);
        out
    }

    /// Checks the trailing SHA-1 over the IDX.
    pub fn verify_checksum(&self) -> Result<()> {
        let body = &self.bytes[..self.bytes.len() - 20];
        if sha1_smol::Sha1::from(body).digest().bytes() != self.idx_checksum() {
            return Err(Error::BadIdx("checksum mismatch"));
        }
        Ok(())
    }

    /// All PACK offsets, sorted ascending (entry extents: each entry ends where the
    /// next one starts).
    pub fn sorted_offsets(&self) -> Vec<u64> {
        let mut v: Vec<u64> = (0..self.n as u32)
            .filter_map(|p| self.offset_at(p))
            .collect();
        v.sort_unstable();
        v
    }
}

/// One object as the IDX records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdxEntry {
    pub id: ObjectId,
    pub offset: u64,
    pub crc32: u32,
}

/// Writes an IDX v2 exactly as `git index-pack` does (sorts `entries` by id;
/// offsets of 2^31 and above go to the 8-byte table, in id order).
pub fn write_idx(entries: &mut [IdxEntry], pack_checksum: &[u8; 20]) -> Vec<u8> {
    write_idx_with_limit(entries, pack_checksum, 0x7fff_ffff)
}

/// [`write_idx`] also moving offsets above `off32_limit` to the 8-byte table, like
/// `git index-pack --index-version=2,<off32_limit>` (lets tests exercise the large
/// table without a 2 GiB PACK).
pub fn write_idx_with_limit(
    entries: &mut [IdxEntry],
    pack_checksum: &[u8; 20],
    off32_limit: u64,
) -> Vec<u8> {
    entries.sort_unstable_by_key(|e| e.id);
    let n = entries.len();
    let mut out = Vec::with_capacity(MIN_IDX_LEN + n * 28);
    out.extend_from_slice(&IDX_MAGIC);
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut counts = [0u32; 256];
    for e in entries.iter() {
        counts[e.id.0[0] as usize] += 1;
    }
    let mut total = 0u32;
    for c in counts {
        total = total.wrapping_add(c);
        out.extend_from_slice(&total.to_be_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(&e.id.0);
    }
    for e in entries.iter() {
        out.extend_from_slice(&e.crc32.to_be_bytes());
    }
    let mut large = Vec::new();
    for e in entries.iter() {
        if e.offset >> 31 != 0 || e.offset > off32_limit {
            let i = (large.len() as u32) | 0x8000_0000;
            out.extend_from_slice(&i.to_be_bytes());
            large.push(e.offset);
        } else {
            out.extend_from_slice(&(e.offset as u32).to_be_bytes());
        }
    }
    for off in large {
        out.extend_from_slice(&off.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum);
    let sum = sha1_smol::Sha1::from(&out[..]).digest().bytes();
    out.extend_from_slice(&sum);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{object_id, ObjectKind};

    fn entries(n: u32, big: bool) -> Vec<IdxEntry> {
        (0..n)
            .map(|i| IdxEntry {
                id: object_id(ObjectKind::Blob, &i.to_le_bytes()),
                offset: if big && i % 3 == 0 {
                    (5u64 << 30) + u64::from(i)
                } else {
                    12 + u64::from(i) * 100
                },
                crc32: i.wrapping_mul(2654435761),
            })
            .collect()
    }

    /// Every id is found at its position and nothing else is, for SHA-1s (evenly
    /// spread) and for crafted ids: shared 8-byte prefixes, all in one fanout bucket,
    /// clustered at the ends of a bucket.
    #[test]
    fn lookup_finds_exactly_the_ids_present() {
        let sha1s: Vec<ObjectId> = (0..20_000u32)
            .map(|i| object_id(ObjectKind::Blob, &i.to_le_bytes()))
            .collect();
        let crafted = |i: u32| {
            let mut id = [0u8; 20];
            id[0] = 0x42;
            match i % 3 {
                // Same first 8 bytes, distinct tails.
                0 => id[8..12].copy_from_slice(&i.to_be_bytes()),
                // Crowded at the low end of the bucket.
                1 => id[16..20].copy_from_slice(&i.to_be_bytes()),
                // One far out at the top.
                _ => {
                    id[1..8].copy_from_slice(&[0xff; 7]);
                    id[12..16].copy_from_slice(&i.to_be_bytes());
                }
            }
            ObjectId(id)
        };
        let crafted: Vec<ObjectId> = (0..3000).map(crafted).collect();
        for ids in [sha1s, crafted] {
            let mut es: Vec<IdxEntry> = ids
                .iter()
                .enumerate()
                .map(|(i, &id)| IdxEntry {
                    id,
                    offset: 12 + i as u64,
                    crc32: 0,
                })
                .collect();
            let idx = Index::parse(write_idx(&mut es, &[0u8; 20])).unwrap();
            let present: hashbrown::HashSet<ObjectId> = ids.iter().copied().collect();
            for id in &ids {
                let pos = idx.lookup(id).unwrap_or_else(|| panic!("{id} not found"));
                assert_eq!(idx.id_at(pos).as_ref(), Some(id));
                // Neighbours that are not in the table are not found.
                for flip in [0usize, 7, 8, 19] {
                    let mut other = *id;
                    other.0[flip] ^= 0x01;
                    if !present.contains(&other) {
                        assert_eq!(idx.lookup(&other), None, "{other}");
                    }
                }
            }
        }
    }

    #[test]
    fn write_then_parse_round_trip_with_large_offsets() {
        let mut es = entries(500, true);
        let bytes = write_idx(&mut es, &[7u8; 20]);
        assert_eq!(measure(&bytes).unwrap(), bytes.len() as u64);
        let need = min_measure_len(&bytes).unwrap();
        assert_eq!(measure(&bytes[..need]).unwrap(), bytes.len() as u64);
        assert!(measure(&bytes[..need - 1]).is_err());
        let idx = Index::parse(bytes).unwrap();
        idx.verify_checksum().unwrap();
        assert_eq!(idx.len(), 500);
        assert_eq!(idx.pack_checksum(), [7u8; 20]);
        for e in &es {
            let pos = idx.lookup(&e.id).unwrap();
            assert_eq!(idx.entry_at(pos), Some(*e));
        }
        assert!(es.iter().any(|e| e.offset > u64::from(u32::MAX)));
        assert_eq!(idx.lookup(&object_id(ObjectKind::Tree, b"absent")), None);
        assert_eq!(idx.id_at(500), None);
        assert_eq!(idx.offset_at(u32::MAX), None);
    }

    #[test]
    fn ids_order_as_their_bytes() {
        let mut x: u64 = 7;
        let mut id = || {
            let mut b = [0u8; 20];
            for v in b.iter_mut() {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Few distinct bytes, so that pairs often share long prefixes.
                *v = (x >> 62) as u8;
            }
            b
        };
        for i in 0..20_000 {
            let (a, mut b) = (id(), id());
            if i % 2 == 0 {
                b[..12].copy_from_slice(&a[..12]);
            }
            assert_eq!(cmp_ids(&a, &b), a.cmp(&b), "{a:?} {b:?}");
            assert!(cmp_ids(&a, &a).is_eq());
        }
    }

    #[test]
    fn empty_idx() {
        let bytes = write_idx(&mut [], &[0u8; 20]);
        assert_eq!(bytes.len(), MIN_IDX_LEN);
        let idx = Index::parse(bytes).unwrap();
        assert!(idx.is_empty());
    }

    #[test]
    fn corrupt_idx_is_rejected_without_panic() {
        let mut es = entries(50, true);
        let good = write_idx(&mut es, &[1u8; 20]);
        for cut in [0, 3, 7, 8, 100, 1031, 1032, good.len() - 41, good.len() - 1] {
            assert!(Index::parse(good[..cut].to_vec()).is_err(), "cut {cut}");
            let _ = measure(&good[..cut]);
        }
        // Flip every byte once: parse must never panic; checksum catches the rest.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x80;
            if let Ok(idx) = Index::parse(bad) {
                let _ = idx.lookup(&es[0].id);
                for p in 0..idx.len() as u32 {
                    let _ = idx.entry_at(p);
                }
                assert!(idx.verify_checksum().is_err() || i >= good.len() - 40);
            }
        }
        let mut huge = good.clone();
        huge[8 + 255 * 4..8 + 256 * 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Index::parse(huge.clone()).is_err());
        assert!(measure(&huge).is_err());
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        let mut h = Crc32::new();
        h.update(b"1234");
        h.update(b"56789");
        assert_eq!(h.finish(), 0xcbf4_3926);
    }
}
