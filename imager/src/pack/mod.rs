//! From a set of objects to a PACK v2 stream and its IDX entries.
//!
//! Steps: order (git's type/name-hash/size sort), delta search in a sliding window
//! over two fixed segments (one per thread, so the result does not depend on timing),
//! compression in parallel, then the write in an order that puts every base before
//! its deltas (OFS deltas point backwards).

mod order;
mod search;
mod write;

use gitfs_format::{ObjectId, ObjectKind};

pub use order::{name_hash, search_order};
pub use search::Choice;
pub use write::{write_pack, PackSummary};

/// One object to pack.
#[derive(Clone, Copy, Debug)]
pub struct Object<'a> {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub data: &'a [u8],
    /// Path of the object in the tree (empty for the commit and the root tree).
    pub path: &'a [u8],
}

/// Tuning of the delta search and compression.
#[derive(Clone, Copy, Debug)]
pub struct PackOptions {
    pub window: usize,
    pub depth: usize,
    /// Compression level, libdeflate's: 0 (stored) to [`MAX_LEVEL`].
    pub level: u8,
    pub threads: usize,
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
        }
    }
}

impl PackOptions {
    /// The smallest image this packer makes: a wide window and the slowest level.
    pub fn max() -> Self {
        PackOptions {
            window: 250,
            level: MAX_LEVEL,
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

/// Chooses, for every object, whether it is stored whole or as a delta and against what.
pub fn plan_deltas(
    objects: &[Object<'_>],
    opts: &PackOptions,
    progress: &dyn Progress,
) -> Vec<Choice> {
    let order = search_order(objects);
    let mut choices = vec![Choice::default(); objects.len()];
    progress.start("deltas", order.len() as u64);
    let segments = split_order(objects, &order, opts.threads.max(1));
    if segments.len() <= 1 || opts.window == 0 {
        search::search_segment(
            objects,
            &order,
            &mut choices,
            opts.window,
            opts.depth,
            progress,
        );
    } else {
        // Each thread works on its own segment; results are merged by object index.
        let results: Vec<Vec<(usize, Choice)>> = std::thread::scope(|s| {
            let handles: Vec<_> = segments
                .iter()
                .map(|seg| {
                    let seg = &order[seg.clone()];
                    s.spawn(move || {
                        let mut local = vec![Choice::default(); objects.len()];
                        search::search_segment(
                            objects,
                            seg,
                            &mut local,
                            opts.window,
                            opts.depth,
                            progress,
                        );
                        seg.iter()
                            .map(|&i| (i, std::mem::take(&mut local[i])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for part in results {
            for (i, c) in part {
                choices[i] = c;
            }
        }
    }
    progress.finish();
    choices
}

/// Cuts the search order into `parts` contiguous ranges of about equal bytes, moving
/// each cut to the end of a run of equal (kind, name hash) so similar objects stay
/// in one segment, as git does when it splits work between threads.
fn split_order(
    objects: &[Object<'_>],
    order: &[usize],
    parts: usize,
) -> Vec<std::ops::Range<usize>> {
    let total: u64 = order
        .iter()
        .map(|&i| objects[i].data.len() as u64 + 64)
        .sum();
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut acc = 0u64;
    let mut part = 1;
    let mut i = 0;
    while i < order.len() && part < parts {
        acc += objects[order[i]].data.len() as u64 + 64;
        i += 1;
        if acc * parts as u64 >= total * part as u64 {
            let key = |j: usize| {
                let o = &objects[order[j]];
                (o.kind, name_hash(o.path))
            };
            while i < order.len() && key(i) == key(i - 1) {
                acc += objects[order[i]].data.len() as u64 + 64;
                i += 1;
            }
            ranges.push(start..i);
            start = i;
            part += 1;
        }
    }
    ranges.push(start..order.len());
    ranges.retain(|r| !r.is_empty());
    ranges
}

/// The order objects are written in: input order, except that a delta's base chain
/// is written just before it when not written yet.
pub fn write_order(choices: &[Choice]) -> Vec<usize> {
    let mut done = vec![false; choices.len()];
    let mut out = Vec::with_capacity(choices.len());
    let mut chain = Vec::new();
    for i in 0..choices.len() {
        let mut cur = i;
        while !done[cur] {
            chain.push(cur);
            done[cur] = true;
            match choices[cur].base {
                Some(b) => cur = b,
                None => break,
            }
        }
        out.extend(chain.drain(..).rev());
    }
    out
}
