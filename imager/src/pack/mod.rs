//! From a set of objects to a PACK v2 stream and its IDX entries.
//!
//! Steps: order (git's type/name-hash/size sort); delta search in a sliding window
//! over fixed parts of that order, handed to whichever thread is free (each part's
//! result depends only on its objects, so the image does not depend on timing), each
//! object read from its source when it enters the window and compressed into a
//! scratch file as soon as it is decided; then the PACK, copied from the scratch file
//! in an order that puts every base before its deltas (OFS deltas point backwards).
//! Memory: the window's objects and indexes per thread, plus the per-object lists
//! (ids, paths, plan), whatever the repository's bytes.

mod order;
mod search;
mod write;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use gitfs_format::{ObjectId, ObjectKind};
use thiserror::Error;

pub use order::{name_hash, search_order};
use write::Deflater;
pub use write::{write_pack, PackSummary, Scratch};

/// One object to pack; its bytes come from [`Objects`].
#[derive(Clone, Copy, Debug)]
pub struct Object<'a> {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub size: u64,
    /// Path of the object in the tree (empty for the commit and the root tree).
    pub path: &'a [u8],
}

/// Reads object bytes for one thread.
pub trait Load {
    /// The bytes of object `index` (as numbered in the `objects` slice packed).
    fn load(&mut self, index: usize) -> io::Result<Vec<u8>>;
}

/// Where the packer reads object bytes: one reader per thread.
pub trait Objects: Sync {
    fn reader(&self) -> Box<dyn Load + '_>;
}

#[derive(Debug, Error)]
pub enum PackError {
    /// An object could not be read from its source.
    #[error("{0}")]
    Read(#[source] io::Error),
    #[error("scratch file: {0}")]
    Scratch(#[source] io::Error),
    #[error("{0}")]
    Write(#[source] io::Error),
    #[error("object {id} is {got} bytes, its source said {want}")]
    SizeChanged { id: ObjectId, want: u64, got: u64 },
}

/// How one object is stored, decided by the search.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    /// Index of the base object, when stored as a delta.
    pub base: Option<usize>,
    /// Uncompressed payload length: the delta's, or the object's.
    pub payload_len: u64,
    /// Where its compressed payload lies in the scratch file.
    pub z_off: u64,
    pub z_len: u64,
}

/// Tuning of the delta search and compression.
#[derive(Clone, Copy, Debug)]
pub struct PackOptions {
    pub window: usize,
    pub depth: usize,
    /// Compression level, libdeflate's: 0 (stored) to [`MAX_LEVEL`].
    pub level: u8,
    pub threads: usize,
    /// Parts of the search order per thread. More than one lets a thread that
    /// finishes early take the next part instead of waiting (default 2: rustdoc HTML
    /// made 15% faster on 2 cores), but objects in two parts are never compared
    /// (0.2-2% larger images on HTML); `max` uses one.
    pub segments: usize,
}

/// The default compression level.
pub const LEVEL_DEFAULT: u8 = 8;
/// The highest compression level (libdeflate's slowest, smallest setting).
pub const MAX_LEVEL: u8 = 12;

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            // 16, not git's 10: on rustdoc HTML 3-6% smaller images, still in about
            // two thirds of `git pack-objects --window=10`'s time (README, "Figures").
            window: 16,
            depth: 50,
            level: LEVEL_DEFAULT,
            threads: 2,
            segments: 2,
        }
    }
}

impl PackOptions {
    /// The smallest image this packer makes: a wide window, one part per thread and
    /// level 11 (12 is 0.01% smaller on Python's HTML docs and 11% slower).
    pub fn max() -> Self {
        PackOptions {
            window: 250,
            level: 11,
            segments: 1,
            ..Self::default()
        }
    }
}

/// Progress reporting hooks; called from worker threads.
pub trait Progress: Sync {
    fn start(&self, _stage: &'static str, _total: u64) {}
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Decides, for every object, whether it is stored whole or as a delta and against
/// what, and compresses it into `scratch`. Returns the plan indexed like `objects`.
pub fn plan_and_compress(
    objects: &[Object<'_>],
    source: &dyn Objects,
    opts: &PackOptions,
    scratch: &Scratch,
    progress: &dyn Progress,
) -> Result<Vec<Planned>, PackError> {
    let order = search_order(objects);
    progress.start("packing", order.len() as u64);
    let threads = opts.threads.max(1);
    let segments = split_order(objects, &order, threads * opts.segments.max(1));
    let max_depth = u32::try_from(opts.depth).unwrap_or(u32::MAX);
    // Segments are handed out in order to whichever thread is free: each one's result
    // depends only on its objects, so the image does not depend on timing.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<SegmentResult>>> =
        Mutex::new((0..segments.len()).map(|_| None).collect());
    let work = || {
        let mut seg = search::Segment {
            window: opts.window,
            max_depth,
            reader: source.reader(),
            deflater: Deflater::new(opts.level),
            progress,
        };
        let mut spool = write::Spool::new(scratch);
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(range) = segments.get(k) else { break };
            let mut plan = vec![Planned::default(); range.len()];
            let r = search::search_segment(
                objects,
                &order[range.clone()],
                &mut plan,
                &mut seg,
                &mut spool,
            );
            let failed = r.is_err();
            results.lock().unwrap_or_else(|e| e.into_inner())[k] = Some(r.map(|()| plan));
            if failed {
                // Stop handing out work; the first error is reported.
                next.store(segments.len(), Ordering::Relaxed);
                break;
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.min(segments.len()) {
            s.spawn(work);
        }
        work();
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    // Segments are handed out in order and none after a failure, so the first failed
    // one comes before any left undone: `?` reports it.
    let mut by_pos = Vec::with_capacity(order.len());
    for r in results.into_iter().flatten() {
        by_pos.extend(r?);
    }
    progress.finish();
    let mut plan = vec![Planned::default(); objects.len()];
    for (pos, p) in order.iter().zip(by_pos) {
        plan[*pos] = p;
    }
    Ok(plan)
}

/// One segment's plan, in search order.
type SegmentResult = Result<Vec<Planned>, PackError>;

/// Cuts the search order into `parts` contiguous ranges of about equal bytes. Objects
/// on two sides of a cut are never compared, so each cut moves forward (by at most
/// [`CUT_SLACK`] objects) to where the names' endings change: the top 16 bits of
/// git's name hash come from a path's last eight or so bytes, so `v1/big.bin` and
/// `v2/big.bin` stay together. Failing that, as git does, it moves to the end of a
/// run of equal (kind, name hash).
fn split_order(
    objects: &[Object<'_>],
    order: &[usize],
    parts: usize,
) -> Vec<std::ops::Range<usize>> {
    let total: u64 = order.iter().map(|&i| objects[i].size + 64).sum();
    let key = |j: usize| {
        let o = &objects[order[j]];
        (o.kind, name_hash(o.path))
    };
    let ending = |j: usize| {
        let (kind, hash) = key(j);
        (kind, hash >> 16)
    };
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut acc = 0u64;
    let mut part = 1;
    let mut i = 0;
    while i < order.len() && part < parts {
        acc += objects[order[i]].size + 64;
        i += 1;
        if acc * parts as u64 >= total * part as u64 {
            let limit = (i + CUT_SLACK).min(order.len());
            let cut = (i..limit).find(|&j| ending(j) != ending(j - 1));
            let mut end = i;
            match cut {
                Some(j) => end = j,
                None => {
                    while end < order.len() && key(end) == key(end - 1) {
                        end += 1;
                    }
                }
            }
            for j in i..end {
                acc += objects[order[j]].size + 64;
            }
            i = end;
            ranges.push(start..i);
            start = i;
            part += 1;
        }
    }
    ranges.push(start..order.len());
    ranges.retain(|r| !r.is_empty());
    ranges
}

/// How far a thread's cut may move to a better place (objects).
const CUT_SLACK: usize = 256;

/// The order objects are written in, as git's pack-objects has it: commits (and tags),
/// then every tree, then the rest, each group in input order (trees depth first, as
/// the source walk lists them), except that a delta's base chain is written just
/// before it when not written yet. The unikernel reads every tree at boot in that
/// same order, so its reads follow each other on the disk instead of hopping over the
/// blobs between them.
pub fn write_order(objects: &[Object<'_>], plan: &[Planned]) -> Vec<usize> {
    let group = |kind: ObjectKind| match kind {
        ObjectKind::Commit | ObjectKind::Tag => 0,
        ObjectKind::Tree => 1,
        ObjectKind::Blob => 2,
    };
    let mut done = vec![false; plan.len()];
    let mut out = Vec::with_capacity(plan.len());
    let mut chain = Vec::new();
    for g in 0..3 {
        for i in (0..plan.len()).filter(|&i| group(objects[i].kind) == g) {
            let mut cur = i;
            while !done[cur] {
                chain.push(cur);
                done[cur] = true;
                match plan[cur].base {
                    Some(b) => cur = b,
                    None => break,
                }
            }
            out.extend(chain.drain(..).rev());
        }
    }
    out
}
