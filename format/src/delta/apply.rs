//! Strict delta application.

use alloc::vec::Vec;

use crate::{Error, Result};

/// Reads one delta size varint (little-endian base-128).
fn varint(delta: &[u8], pos: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *delta.get(*pos).ok_or(Error::BadDelta("truncated size"))?;
        *pos += 1;
        let part = u64::from(byte & 0x7f);
        if shift >= 64 || (shift > 57 && part >> (64 - shift) != 0) {
            return Err(Error::BadDelta("size overflows"));
        }
        value |= part << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// The (base size, result size) a delta announces.
pub fn sizes(delta: &[u8]) -> Result<(u64, u64)> {
    let mut pos = 0;
    let base = varint(delta, &mut pos)?;
    let result = varint(delta, &mut pos)?;
    Ok((base, result))
}

/// Applies `delta` to `base`. Every size and range is checked: the base must have the
/// announced size, copies must stay inside it, and the result must have exactly the
/// announced size.
pub fn apply(base: &[u8], delta: &[u8]) -> Result<Vec<u8>> {
    let mut pos = 0;
    let base_size = varint(delta, &mut pos)?;
    let result_size = varint(delta, &mut pos)?;
    if base_size != base.len() as u64 {
        return Err(Error::BadDelta("base size mismatch"));
    }
    let result_size = usize::try_from(result_size).map_err(|_| Error::TooLarge)?;
    // Each command yields at most a 24-bit copy out of the base, or 127 inserted bytes:
    // a cheap early refusal of sizes no delta this long can produce. (The allocation
    // grows with the data below, whatever the header claims.)
    let per_command = (base.len() as u64).clamp(127, 0x00ff_ffff);
    if result_size as u64 > (delta.len() as u64).saturating_mul(per_command) {
        return Err(Error::BadDelta(
            "result size larger than the delta can produce",
        ));
    }
    // Grow with the data rather than trusting the announced size.
    let mut out = Vec::with_capacity(result_size.min(base.len().saturating_add(delta.len())));
    while pos < delta.len() {
        let cmd = delta[pos];
        pos += 1;
        if cmd & 0x80 != 0 {
            let mut offset = 0u32;
            for i in 0..4 {
                if cmd & (1 << i) != 0 {
                    let b = *delta.get(pos).ok_or(Error::BadDelta("truncated copy"))?;
                    pos += 1;
                    offset |= u32::from(b) << (8 * i);
                }
            }
            let mut size = 0u32;
            for i in 0..3 {
                if cmd & (0x10 << i) != 0 {
                    let b = *delta.get(pos).ok_or(Error::BadDelta("truncated copy"))?;
                    pos += 1;
                    size |= u32::from(b) << (8 * i);
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let start = offset as usize;
            let end = start
                .checked_add(size as usize)
                .ok_or(Error::BadDelta("copy overflows"))?;
            let src = base
                .get(start..end)
                .ok_or(Error::BadDelta("copy outside base"))?;
            if out.len() + src.len() > result_size {
                return Err(Error::BadDelta("result longer than announced"));
            }
            out.extend_from_slice(src);
        } else if cmd != 0 {
            let n = cmd as usize;
            let src = delta
                .get(pos..pos + n)
                .ok_or(Error::BadDelta("truncated insert"))?;
            pos += n;
            if out.len() + n > result_size {
                return Err(Error::BadDelta("result longer than announced"));
            }
            out.extend_from_slice(src);
        } else {
            return Err(Error::BadDelta("reserved command 0"));
        }
    }
    if out.len() != result_size {
        return Err(Error::BadDelta("result shorter than announced"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn hdr(base: u64, result: u64) -> Vec<u8> {
        let mut v = Vec::new();
        for mut x in [base, result] {
            loop {
                let b = (x & 0x7f) as u8;
                x >>= 7;
                if x == 0 {
                    v.push(b);
                    break;
                }
                v.push(b | 0x80);
            }
        }
        v
    }

    #[test]
    fn copy_and_insert() {
        let base = b"0123456789abcdef";
        let mut d = hdr(16, 9);
        d.extend_from_slice(&[0x91, 10, 4]); // copy offset 10, size 4
        d.extend_from_slice(&[2, b'x', b'y']);
        d.extend_from_slice(&[0x90, 3]); // copy offset 0 size 3
        assert_eq!(apply(base, &d).unwrap(), b"abcdxy012");
        assert_eq!(sizes(&d).unwrap(), (16, 9));
    }

    #[test]
    fn copy_size_zero_means_64k() {
        let base = vec![7u8; 0x10000];
        let mut d = hdr(0x10000, 0x10000);
        d.push(0x80);
        assert_eq!(apply(&base, &d).unwrap(), base);
    }

    #[test]
    fn one_copy_can_yield_megabytes() {
        // Copy sizes have 24 bits: a 12-byte delta rebuilds 3 MiB (git reads these;
        // a bound of 64 KiB per command refused them).
        let base: Vec<u8> = (0..3u32 << 20).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut d = hdr(base.len() as u64, base.len() as u64 + 1);
        d.extend_from_slice(&[0x80 | 0x40, 0x30, 0x01, b'!']);
        let out = apply(&base, &d).unwrap();
        assert_eq!(&out[..base.len()], &base[..]);
        assert_eq!(out[base.len()], b'!');
    }

    #[test]
    fn rejects_bad_deltas() {
        let base = b"0123456789";
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            hdr(9, 1),                                        // wrong base size
            [hdr(10, 1), vec![0]].concat(),                   // cmd 0
            [hdr(10, 5), vec![0x91, 8, 4]].concat(),          // copy out of base
            [hdr(10, 3), vec![0x91, 8]].concat(),             // truncated copy
            [hdr(10, 3), vec![3, b'a']].concat(),             // truncated insert
            [hdr(10, 2), vec![3, b'a', b'b', b'c']].concat(), // too long
            [hdr(10, 4), vec![3, b'a', b'b', b'c']].concat(), // too short
            [hdr(10, 1 << 40), vec![0x80]].concat(),          // absurd result size
            vec![0xff; 11],                                   // size overflow
            [
                hdr(10, 4),
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ]
            .concat(),
        ];
        for (i, d) in cases.iter().enumerate() {
            assert!(apply(base, d).is_err(), "case {i}");
        }
    }
}
