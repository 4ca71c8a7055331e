//! Delta encoding in Git's format (gitformat-pack "Deltified representation").
//!
//! Like git's diff-delta.c: the base is cut into non-overlapping 16-byte blocks whose
//! hashes go into a table; the target is scanned with a rolling hash over a 16-byte
//! window, every hit is verified and extended forwards and backwards, and the longest
//! match becomes a copy. Bytes between matches become inserts of at most 127 bytes.
//! After a copy, the next window starts 15 bytes back, inside the copy, as git's does:
//! text continued from another place in the base is found even when the common run
//! after the copy is shorter than a window (on large rustdoc pages, deltas 1.5-5%
//! smaller than git's for the same pair).

use alloc::vec;
use alloc::vec::Vec;

/// Width of the hashed window (and of the base blocks).
const WINDOW: usize = 16;
/// Entries kept per hash bucket: bounds the work on very repetitive bases.
const BUCKET_LIMIT: u32 = 64;
/// A copy op holds at most 24 bits of size; keep to a round 16 MiB - 1.
const MAX_COPY: usize = 0x00ff_ffff;
/// Fewest new bytes a match must add when its window overlaps the previous copy.
/// Short continuations found this way split insert runs that zlib compresses well:
/// measured on whole images (rustdoc HTML, Python's HTML docs, Rust's library source),
/// 48-64 were smallest; 6 made smaller raw deltas but 0.5% larger images.
const MIN_FRESH: usize = 48;
/// Shortest copy taken from inside a run of inserted bytes: a copy op there splits
/// text zlib would compress as one run (20 against 16: Python's HTML docs 0.25% and
/// rustdoc HTML up to 2.6% smaller images, source code unchanged; 24 and more cost
/// source code).
const MIN_COPY: usize = 20;
/// Candidates at least this long are good enough: stop looking further.
const GOOD_ENOUGH: usize = 4096;
const NONE: u32 = u32::MAX;

/// Random-looking per-byte values for the buzhash rolling hash.
const TABLE: [u32; 256] = make_table();

const fn make_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0;
    while i < 256 {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        t[i] = z as u32;
        i += 1;
    }
    t
}

#[inline]
fn window_hash(w: &[u8]) -> u32 {
    let mut h = 0u32;
    for &b in &w[..WINDOW] {
        h = h.rotate_left(1) ^ TABLE[b as usize];
    }
    h
}

#[inline]
fn roll(h: u32, out: u8, inb: u8) -> u32 {
    // WINDOW rotations of the outgoing byte's value cancel it out.
    h.rotate_left(1) ^ TABLE[out as usize].rotate_left(WINDOW as u32) ^ TABLE[inb as usize]
}

#[derive(Clone, Copy)]
struct Entry {
    offset: u32,
    hash: u32,
    next: u32,
}

/// An index over a base object, reused to delta many targets against it. It holds
/// no reference to the base (the caller keeps the bytes and passes them to
/// [`DeltaIndex::encode`]), so both can live side by side in a search window.
pub struct DeltaIndex {
    base_len: usize,
    shift: u32,
    heads: Vec<u32>,
    entries: Vec<Entry>,
}

impl DeltaIndex {
    pub fn new(base: &[u8]) -> Self {
        // Offsets are u32 in the table; larger bases are simply not indexed past 4 GiB.
        let usable = base.len().min(u32::MAX as usize - 1);
        let blocks = usable / WINDOW;
        let bits = (usize::BITS - blocks.max(1).leading_zeros()).clamp(4, 30);
        let mut heads = vec![NONE; 1usize << bits];
        let mut counts = vec![0u32; 1usize << bits];
        let mut entries: Vec<Entry> = Vec::with_capacity(blocks);
        let shift = 32 - bits;
        // Walk backwards so that, within a bucket, lower offsets come first; when a run
        // of identical blocks fills a bucket, the earliest copies are the ones kept.
        let mut prev_hash = None;
        for blk in (0..blocks).rev() {
            let off = blk * WINDOW;
            let h = window_hash(&base[off..off + WINDOW]);
            let b = bucket(h, shift);
            if prev_hash == Some(h) && heads[b] != NONE {
                // Identical adjacent blocks (runs): keep only the earliest one.
                let e = heads[b] as usize;
                if entries[e].hash == h && entries[e].offset as usize == off + WINDOW {
                    entries[e].offset = off as u32;
                    continue;
                }
            }
            prev_hash = Some(h);
            if counts[b] >= BUCKET_LIMIT {
                continue;
            }
            counts[b] += 1;
            entries.push(Entry {
                offset: off as u32,
                hash: h,
                next: heads[b],
            });
            heads[b] = (entries.len() - 1) as u32;
        }
        DeltaIndex {
            base_len: base.len(),
            shift,
            heads,
            entries,
        }
    }

    /// A delta turning `base` (the bytes this index was built from) into `target`, if
    /// one no longer than `max_len` exists. `None` too for a base of another length.
    pub fn encode(&self, base: &[u8], target: &[u8], max_len: usize) -> Option<Vec<u8>> {
        if base.len() != self.base_len {
            return None;
        }
        let mut out = Vec::with_capacity((target.len() / 4 + 32).min(max_len.saturating_add(32)));
        push_varint(&mut out, base.len() as u64);
        push_varint(&mut out, target.len() as u64);
        if out.len() > max_len {
            return None;
        }
        let tlen = target.len();
        let mut lit_start = 0usize;
        let mut pos = 0usize;
        if tlen >= WINDOW && !self.entries.is_empty() {
            let mut h = window_hash(&target[..WINDOW]);
            loop {
                let (moff, mlen) = self.best_match(base, h, target, pos);
                // A window that starts inside the last copy counts only for the
                // bytes it adds after it.
                let fresh = (pos + mlen).saturating_sub(lit_start.max(pos));
                if mlen > 0 && (pos >= lit_start || fresh >= MIN_FRESH) {
                    let (mut moff, mut mlen, mut start) = (moff, mlen, pos);
                    if start < lit_start {
                        let skip = lit_start - start;
                        moff += skip;
                        mlen -= skip;
                        start = lit_start;
                    }
                    // Extend backwards into the bytes not yet emitted.
                    while moff > 0 && start > lit_start && base[moff - 1] == target[start - 1] {
                        moff -= 1;
                        start -= 1;
                        mlen += 1;
                    }
                    if mlen < MIN_COPY && start > lit_start && pos + WINDOW < tlen {
                        // Not worth a copy: roll on as if nothing matched here.
                        h = roll(h, target[pos], target[pos + WINDOW]);
                        pos += 1;
                        continue;
                    }
                    push_inserts(&mut out, &target[lit_start..start]);
                    push_copies(&mut out, moff, mlen);
                    if out.len() > max_len {
                        return None;
                    }
                    lit_start = start + mlen;
                    // The next window may overlap the copy's tail: a match that
                    // continues the target from elsewhere in the base.
                    pos = lit_start.saturating_sub(WINDOW - 1);
                    if pos + WINDOW > tlen {
                        break;
                    }
                    h = window_hash(&target[pos..pos + WINDOW]);
                    continue;
                }
                if pos + WINDOW >= tlen {
                    break;
                }
                h = roll(h, target[pos], target[pos + WINDOW]);
                pos += 1;
                // An insert run this long already costs more than the budget.
                if pos.saturating_sub(lit_start) > max_len {
                    return None;
                }
            }
        }
        push_inserts(&mut out, &target[lit_start..]);
        if out.len() > max_len {
            return None;
        }
        Some(out)
    }

    /// The longest verified match for the window at `pos` with hash `h`: (offset, len).
    #[inline]
    fn best_match(&self, base: &[u8], h: u32, target: &[u8], pos: usize) -> (usize, usize) {
        let mut e = self.heads[bucket(h, self.shift)];
        let (mut best_off, mut best_len) = (0usize, 0usize);
        let rest = &target[pos..];
        while e != NONE {
            let ent = self.entries[e as usize];
            e = ent.next;
            if ent.hash != h {
                continue;
            }
            let off = ent.offset as usize;
            let len = common_prefix(&base[off..], rest);
            if len >= WINDOW && len > best_len {
                best_len = len;
                best_off = off;
                if len >= GOOD_ENOUGH || len == rest.len() {
                    break;
                }
            }
        }
        (best_off, best_len)
    }
}

#[inline]
fn bucket(h: u32, shift: u32) -> usize {
    (h.wrapping_mul(0x9e37_79b1) >> shift) as usize
}

#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes([
            a[i],
            a[i + 1],
            a[i + 2],
            a[i + 3],
            a[i + 4],
            a[i + 5],
            a[i + 6],
            a[i + 7],
        ]);
        let y = u64::from_le_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ]);
        let d = x ^ y;
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn push_inserts(out: &mut Vec<u8>, mut data: &[u8]) {
    while !data.is_empty() {
        let n = data.len().min(127);
        out.push(n as u8);
        out.extend_from_slice(&data[..n]);
        data = &data[n..];
    }
}

fn push_copies(out: &mut Vec<u8>, mut off: usize, mut len: usize) {
    while len > 0 {
        // Offsets are 32-bit in the format; the index never holds larger ones.
        let n = len.min(MAX_COPY);
        push_copy(out, off as u32, n as u32);
        off += n;
        len -= n;
    }
}

fn push_copy(out: &mut Vec<u8>, off: u32, size: u32) {
    let at = out.len();
    out.push(0x80);
    let mut cmd = 0x80u8;
    for i in 0..4 {
        let b = (off >> (8 * i)) as u8;
        if b != 0 {
            cmd |= 1 << i;
            out.push(b);
        }
    }
    // Size 0x10000 is encoded as no size bytes at all.
    if size != 0x10000 {
        for i in 0..3 {
            let b = (size >> (8 * i)) as u8;
            if b != 0 {
                cmd |= 0x10 << i;
                out.push(b);
            }
        }
    }
    out[at] = cmd;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent applier, strict about every bound, for checking the encoder.
    fn apply(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
        fn varint(d: &[u8], i: &mut usize) -> Option<u64> {
            let mut v = 0u64;
            let mut s = 0;
            loop {
                let b = *d.get(*i)?;
                *i += 1;
                v |= ((b & 0x7f) as u64) << s;
                s += 7;
                if b & 0x80 == 0 {
                    return Some(v);
                }
            }
        }
        let mut i = 0;
        if varint(delta, &mut i)? != base.len() as u64 {
            return None;
        }
        let tlen = varint(delta, &mut i)? as usize;
        let mut out = Vec::new();
        while i < delta.len() {
            let cmd = delta[i];
            i += 1;
            if cmd & 0x80 != 0 {
                let mut off = 0usize;
                let mut size = 0usize;
                for k in 0..4 {
                    if cmd & (1 << k) != 0 {
                        off |= (*delta.get(i)? as usize) << (8 * k);
                        i += 1;
                    }
                }
                for k in 0..3 {
                    if cmd & (0x10 << k) != 0 {
                        size |= (*delta.get(i)? as usize) << (8 * k);
                        i += 1;
                    }
                }
                if size == 0 {
                    size = 0x10000;
                }
                out.extend_from_slice(base.get(off..off.checked_add(size)?)?);
            } else if cmd != 0 {
                out.extend_from_slice(delta.get(i..i + cmd as usize)?);
                i += cmd as usize;
            } else {
                return None;
            }
        }
        (out.len() == tlen).then_some(out)
    }

    fn rng(seed: &mut u64) -> u64 {
        let mut x = gitfs_testkit::Xorshift::new(*seed);
        *seed = x.next_u64();
        *seed
    }

    fn random_bytes(seed: &mut u64, n: usize) -> Vec<u8> {
        (0..n).map(|_| rng(seed) as u8).collect()
    }

    fn round_trip(base: &[u8], target: &[u8]) -> usize {
        let idx = DeltaIndex::new(base);
        let d = idx
            .encode(base, target, usize::MAX)
            .expect("unbounded delta");
        assert_eq!(apply(base, &d).as_deref(), Some(target));
        assert_eq!(crate::delta::apply(base, &d).as_deref(), Ok(target));
        d.len()
    }

    #[test]
    fn edge_cases_round_trip() {
        round_trip(b"", b"");
        round_trip(b"", b"hello world, this is a target longer than a window");
        round_trip(b"some base", b"");
        round_trip(b"short", b"short");
        let big = vec![0u8; 200_000];
        assert!(round_trip(&big, &big) < 40);
        let mut s = 7u64;
        let r = random_bytes(&mut s, 300_000);
        // 300 KB of copy needs several copy ops beyond 64 KiB sizes.
        assert!(round_trip(&r, &r) < 40);
    }

    #[test]
    fn edits_make_small_deltas() {
        let mut s = 42u64;
        for round in 0..50 {
            let n = 1000 + (rng(&mut s) % 50_000) as usize;
            let base = random_bytes(&mut s, n);
            let mut target = base.clone();
            let edits = 1 + rng(&mut s) % 8;
            for _ in 0..edits {
                let at = (rng(&mut s) as usize) % target.len().max(1);
                match rng(&mut s) % 3 {
                    0 => {
                        let n = (rng(&mut s) % 300) as usize;
                        let ins = random_bytes(&mut s, n);
                        target.splice(at..at, ins);
                    }
                    1 => {
                        let end = (at + (rng(&mut s) % 500) as usize).min(target.len());
                        target.drain(at..end);
                    }
                    _ => {
                        if let Some(b) = target.get_mut(at) {
                            *b ^= 0x55;
                        }
                    }
                }
            }
            let d = round_trip(&base, &target);
            assert!(d < 4000, "round {round}: delta {d} bytes for {edits} edits");
        }
    }

    #[test]
    fn unrelated_data_and_budget() {
        let mut s = 9u64;
        let a = random_bytes(&mut s, 10_000);
        let b = random_bytes(&mut s, 10_000);
        round_trip(&a, &b);
        let idx = DeltaIndex::new(&a);
        assert!(idx.encode(&a, &b, 5000).is_none());
        let d = idx.encode(&a, &a, 100).expect("identical fits");
        assert!(d.len() <= 100);
    }

    #[test]
    fn repetitive_text() {
        let mut base = Vec::new();
        for i in 0..2000 {
            base.extend_from_slice(alloc::format!("line {} of some text\n", i % 37).as_bytes());
        }
        let mut target = base.clone();
        target.splice(5000..5000, b"INSERTED TEXT HERE".iter().copied());
        target.truncate(30_000);
        assert!(round_trip(&base, &target) < 200);
    }

    /// (copy ops, insert ops) of a delta.
    fn ops(delta: &[u8]) -> (usize, usize) {
        let mut i = 0;
        for _ in 0..2 {
            while delta[i] & 0x80 != 0 {
                i += 1;
            }
            i += 1;
        }
        let (mut copies, mut inserts) = (0, 0);
        while i < delta.len() {
            let cmd = delta[i];
            i += 1;
            if cmd & 0x80 != 0 {
                copies += 1;
                i += (cmd & 0x7f).count_ones() as usize;
            } else {
                inserts += 1;
                i += cmd as usize;
            }
        }
        (copies, inserts)
    }

    #[test]
    fn a_continuation_elsewhere_in_the_base_is_one_copy() {
        // The target is A then B. The base holds A at 0, a decoy block equal to B's
        // first 16 bytes (aligned, followed by other bytes), and B preceded by A's
        // last 15 bytes at an unaligned place. A window starting right after the copy
        // of A sees only the decoy; one that overlaps the copy's tail finds B whole.
        let mut s = 21u64;
        let a = random_bytes(&mut s, 100);
        let b = random_bytes(&mut s, 100);
        let mut base = a.clone();
        base.extend(random_bytes(&mut s, 28)); // up to 128
        base.extend_from_slice(&b[..16]); // decoy block at 128
        base.extend(random_bytes(&mut s, 16 * 20 - base.len() % 16 + 16 * 4));
        assert_eq!(base.len() % WINDOW, 0);
        base.extend_from_slice(&a[85..]); // A's tail: B starts at 16m + 15
        base.extend_from_slice(&b);
        base.extend(random_bytes(&mut s, 64));
        let mut target = a.clone();
        target.extend_from_slice(&b);
        let idx = DeltaIndex::new(&base);
        let d = idx.encode(&base, &target, usize::MAX).expect("delta");
        assert_eq!(apply(&base, &d).as_deref(), Some(&target[..]));
        assert_eq!(ops(&d), (2, 0), "copy A, copy B");
    }
}
