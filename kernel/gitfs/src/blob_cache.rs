//! Verified blobs kept in memory, keyed by IDX position.
//!
//! Two parts with two jobs: the last blob read, whatever its size (successive range
//! reads of one large file inflate and hash it once), and the most recently used small
//! blobs within a byte budget (a site's pages and assets are read again and again; each
//! miss costs disk reads, inflating and SHA-1 in the guest).

use std::collections::HashMap;
use std::sync::Arc;

/// Blobs up to this size are kept among the small ones.
pub const SMALL_MAX: usize = 64 * 1024;
/// Bytes of small blobs kept at most.
pub const SMALL_BUDGET: usize = 4 * 1024 * 1024;

#[derive(Default)]
pub struct BlobCache {
    last: Option<(u32, Arc<[u8]>)>,
    /// position -> (blob, last use).
    small: HashMap<u32, (Arc<[u8]>, u64)>,
    small_bytes: usize,
    clock: u64,
}

impl BlobCache {
    /// A cached blob; it becomes the last one.
    pub fn get(&mut self, pos: u32) -> Option<Arc<[u8]>> {
        if let Some((p, data)) = &self.last {
            if *p == pos {
                return Some(Arc::clone(data));
            }
        }
        self.clock += 1;
        let (data, used) = self.small.get_mut(&pos)?;
        *used = self.clock;
        let data = Arc::clone(data);
        self.last = Some((pos, Arc::clone(&data)));
        Some(data)
    }

    /// The blob last inserted or got.
    pub fn last(&self) -> Option<&[u8]> {
        self.last.as_ref().map(|(_, d)| &d[..])
    }

    /// The size of a cached blob, without touching its recency.
    pub fn len_of(&self, pos: u32) -> Option<usize> {
        match &self.last {
            Some((p, data)) if *p == pos => Some(data.len()),
            _ => self.small.get(&pos).map(|(d, _)| d.len()),
        }
    }

    pub fn insert(&mut self, pos: u32, data: Arc<[u8]>) {
        if data.len() <= SMALL_MAX && !self.small.contains_key(&pos) {
            self.clock += 1;
            self.small_bytes += data.len();
            self.small.insert(pos, (Arc::clone(&data), self.clock));
            while self.small_bytes > SMALL_BUDGET {
                self.evict_oldest();
            }
        }
        self.last = Some((pos, data));
    }

    /// Forgets everything (frees the memory not shared with a reader).
    pub fn clear(&mut self) {
        *self = BlobCache::default();
    }

    /// Bytes held (a blob in both parts counted once).
    pub fn bytes(&self) -> usize {
        let last = match &self.last {
            Some((p, d)) if !self.small.contains_key(p) => d.len(),
            _ => 0,
        };
        self.small_bytes + last
    }

    // A linear scan, but only on eviction, and the set is at most a few thousand blobs.
    fn evict_oldest(&mut self) {
        let oldest = self.small.iter().min_by_key(|(_, (_, used))| *used);
        if let Some((&pos, _)) = oldest {
            if let Some((d, _)) = self.small.remove(&pos) {
                self.small_bytes -= d.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(len: usize, fill: u8) -> Arc<[u8]> {
        vec![fill; len].into()
    }

    #[test]
    fn small_blobs_stay_and_the_last_large_one_too() {
        let mut c = BlobCache::default();
        c.insert(1, blob(100, 1));
        c.insert(2, blob(SMALL_MAX + 1, 2));
        c.insert(3, blob(200, 3));
        assert_eq!(c.get(1).unwrap()[0], 1);
        assert_eq!(c.get(3).unwrap()[0], 3);
        // The large one was replaced as the last blob and is not among the small ones.
        assert!(c.get(2).is_none());
        c.insert(2, blob(SMALL_MAX + 1, 2));
        assert_eq!(c.len_of(2), Some(SMALL_MAX + 1));
        assert_eq!(c.bytes(), 300 + SMALL_MAX + 1);
    }

    #[test]
    fn budget_evicts_the_least_recently_used() {
        let mut c = BlobCache::default();
        let n = SMALL_BUDGET / SMALL_MAX;
        for pos in 0..n as u32 {
            c.insert(pos, blob(SMALL_MAX, pos as u8));
        }
        assert_eq!(c.bytes(), SMALL_BUDGET);
        // Use 0 so that 1 is now the oldest, then go over the budget by one blob.
        assert!(c.get(0).is_some());
        c.insert(1000, blob(SMALL_MAX, 9));
        assert!(c.bytes() <= SMALL_BUDGET);
        assert!(c.get(0).is_some());
        assert!(c.len_of(1).is_none());
        assert!(c.get(2).is_some());
        assert_eq!(c.get(1000).unwrap()[0], 9);
    }

    #[test]
    fn clear_forgets_everything() {
        let mut c = BlobCache::default();
        c.insert(1, blob(10, 1));
        c.clear();
        assert!(c.get(1).is_none());
        assert_eq!(c.bytes(), 0);
    }
}
