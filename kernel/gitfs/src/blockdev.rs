//! Byte-addressed reads over sector devices, and a file-backed device for the host.
//!
//! A virtio-blk disk reads whole 512-byte sectors. [`CachedDisk`] turns that into
//! [`BlockDevice::read_at`] at any offset and length: the sector-aligned middle of a
//! read goes straight into the caller's buffer in requests of up to
//! [`SectorDisk::max_request`] bytes, and unaligned heads and tails (object headers,
//! small reads) go through a small cache of 4 KiB blocks.

use gitfs_format::{BlockDevice, Error, Result};

/// Size of a device sector.
pub const SECTOR: usize = 512;
/// Unit of the head/tail cache.
pub const CACHE_BLOCK: usize = 4096;
const CACHE_SLOTS: usize = 8;

/// A device that reads whole sectors.
pub trait SectorDisk {
    /// Number of 512-byte sectors.
    fn sectors(&self) -> u64;
    /// Largest request in bytes (a multiple of [`SECTOR`]).
    fn max_request(&self) -> usize;
    /// Fills `buf` (a non-empty multiple of [`SECTOR`], at most `max_request`) from
    /// sector `first`.
    fn read_sectors(&mut self, first: u64, buf: &mut [u8]) -> Result<()>;
}

struct Slot {
    block: u64,
    len: usize,
    data: Box<[u8; CACHE_BLOCK]>,
}

/// [`BlockDevice`] over a [`SectorDisk`] with a small cache for partial sectors.
pub struct CachedDisk<S> {
    disk: S,
    slots: Vec<Slot>,
    next_victim: usize,
}

impl<S: SectorDisk> CachedDisk<S> {
    pub fn new(disk: S) -> Self {
        Self {
            disk,
            slots: Vec::with_capacity(CACHE_SLOTS),
            next_victim: 0,
        }
    }

    pub fn inner(&self) -> &S {
        &self.disk
    }

    /// The cached 4 KiB block `block` (shorter at the end of the disk).
    fn cached_block(&mut self, block: u64) -> Result<&[u8]> {
        let found = self.slots.iter().position(|s| s.block == block);
        let index = match found {
            Some(i) => i,
            None => {
                let start = block * CACHE_BLOCK as u64;
                let len = (self.len() - start).min(CACHE_BLOCK as u64) as usize;
                let mut data = Box::new([0u8; CACHE_BLOCK]);
                self.disk
                    .read_sectors(start / SECTOR as u64, &mut data[..len])?;
                let slot = Slot { block, len, data };
                if self.slots.len() < CACHE_SLOTS {
                    self.slots.push(slot);
                    self.slots.len() - 1
                } else {
                    let i = self.next_victim;
                    self.next_victim = (i + 1) % CACHE_SLOTS;
                    self.slots[i] = slot;
                    i
                }
            }
        };
        let slot = &self.slots[index];
        Ok(&slot.data[..slot.len])
    }

    /// Copies from the cache for the part of `buf` inside one 4 KiB block.
    fn read_through_cache(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let block = offset / CACHE_BLOCK as u64;
        let within = (offset % CACHE_BLOCK as u64) as usize;
        let data = self.cached_block(block)?;
        let src = data
            .get(within..within + buf.len())
            .ok_or(Error::Truncated)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl<S: SectorDisk> BlockDevice for CachedDisk<S> {
    fn len(&self) -> u64 {
        self.disk.sectors().saturating_mul(SECTOR as u64)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or(Error::Truncated)?;
        if end > self.len() {
            return Err(Error::Truncated);
        }
        let max = (self.disk.max_request() / SECTOR * SECTOR).max(SECTOR);
        let mut pos = offset;
        let mut done = 0usize;
        while done < buf.len() {
            let left = buf.len() - done;
            let in_block = CACHE_BLOCK - (pos % CACHE_BLOCK as u64) as usize;
            if pos & (SECTOR as u64 - 1) != 0 || left < SECTOR {
                // Unaligned head or short tail: up to the end of its cache block.
                let n = left.min(in_block);
                self.read_through_cache(pos, &mut buf[done..done + n])?;
                pos += n as u64;
                done += n;
            } else {
                let n = (left / SECTOR * SECTOR).min(max);
                self.disk
                    .read_sectors(pos / SECTOR as u64, &mut buf[done..done + n])?;
                pos += n as u64;
                done += n;
            }
        }
        Ok(())
    }
}

/// A disk image file on the host, read with positioned reads.
#[cfg(unix)]
pub use gitfs_format::FileDevice;

#[cfg(test)]
mod tests {
    use super::*;

    /// In-memory sector disk that checks the contract and records requests.
    struct MemSectors {
        data: Vec<u8>,
        max: usize,
        requests: Vec<(u64, usize)>,
    }

    impl SectorDisk for MemSectors {
        fn sectors(&self) -> u64 {
            (self.data.len() / SECTOR) as u64
        }
        fn max_request(&self) -> usize {
            self.max
        }
        fn read_sectors(&mut self, first: u64, buf: &mut [u8]) -> Result<()> {
            assert!(!buf.is_empty() && buf.len() & (SECTOR - 1) == 0 && buf.len() <= self.max);
            let start = first as usize * SECTOR;
            buf.copy_from_slice(&self.data[start..start + buf.len()]);
            self.requests.push((first, buf.len()));
            Ok(())
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn disk(len: usize, max: usize) -> CachedDisk<MemSectors> {
        CachedDisk::new(MemSectors {
            data: pattern(len),
            max,
            requests: Vec::new(),
        })
    }

    #[test]
    fn reads_match_at_odd_offsets_and_lengths() {
        // 20.5 KiB: the last cache block is partial.
        let len = 41 * SECTOR;
        let want = pattern(len);
        let mut d = disk(len, 8 * SECTOR);
        for &(off, n) in &[
            (0, 1),
            (1, 511),
            (511, 2),
            (0, len),
            (3, len - 3),
            (4095, 4098),
            (len - 1, 1),
            (len - 700, 700),
            (1000, 9000),
            (512, 512),
            (12, 0),
        ] {
            let mut buf = vec![0u8; n];
            d.read_at(off as u64, &mut buf).unwrap();
            assert_eq!(buf, want[off..off + n], "offset {off} len {n}");
        }
    }

    #[test]
    fn large_aligned_reads_use_max_requests() {
        let mut d = disk(64 * SECTOR, 16 * SECTOR);
        let mut buf = vec![0u8; 40 * SECTOR];
        d.read_at(0, &mut buf).unwrap();
        let reqs = &d.inner().requests;
        assert_eq!(
            reqs,
            &[(0, 16 * SECTOR), (16, 16 * SECTOR), (32, 8 * SECTOR)]
        );
    }

    #[test]
    fn small_reads_hit_the_cache() {
        let mut d = disk(64 * SECTOR, 16 * SECTOR);
        let mut b = [0u8; 10];
        for off in [5u64, 100, 4000, 17, 4086] {
            d.read_at(off, &mut b).unwrap();
        }
        assert_eq!(d.inner().requests, vec![(0, CACHE_BLOCK)]);
    }

    #[test]
    fn reads_past_the_end_fail() {
        let mut d = disk(8 * SECTOR, 8 * SECTOR);
        let mut b = [0u8; 2];
        assert_eq!(
            d.read_at(8 * SECTOR as u64 - 1, &mut b),
            Err(Error::Truncated)
        );
        assert_eq!(d.read_at(u64::MAX, &mut b), Err(Error::Truncated));
        assert!(d.inner().requests.is_empty());
    }
}
