//! Sliding-window delta search (git's `find_deltas` / `try_delta` heuristics).

use std::collections::VecDeque;

use gitfs_format::delta::DeltaIndex;

use super::{Object, Progress};

/// Objects smaller than this are stored whole: a delta would not pay off.
const MIN_DELTA_SIZE: usize = 50;
/// Bytes of a ref-id a delta must beat (git subtracts the hash size).
const ID_LEN: usize = 20;

/// What the search decided for one object.
#[derive(Clone, Debug, Default)]
pub struct Choice {
    /// Index of the base object, when stored as a delta.
    pub base: Option<usize>,
    /// The delta bytes (empty when stored whole).
    pub delta: Vec<u8>,
    /// Length of the delta chain below this object (0 when whole).
    pub depth: usize,
}

struct Slot<'a> {
    obj: usize,
    index: Option<DeltaIndex<'a>>,
}

/// Runs the window search over `order` (indices into `objects`), writing into `choices`.
/// Sequential over one segment; the caller splits the order for threads.
pub fn search_segment<'a>(
    objects: &[Object<'a>],
    order: &[usize],
    choices: &mut [Choice],
    window: usize,
    max_depth: usize,
    progress: &dyn Progress,
) {
    let mut win: VecDeque<Slot<'a>> = VecDeque::with_capacity(window + 1);
    for (n, &t) in order.iter().enumerate() {
        if n % 256 == 255 {
            progress.inc(256);
        }
        let target = &objects[t];
        let tsize = target.data.len();
        let mut best: Option<(usize, Vec<u8>, usize)> = None; // (slot, delta, depth)
        if tsize >= MIN_DELTA_SIZE && window > 0 {
            // Most recent (most similar in sort order) first.
            for si in (0..win.len()).rev() {
                let src = win[si].obj;
                let sobj = &objects[src];
                if sobj.kind != target.kind {
                    continue;
                }
                let src_depth = choices[src].depth;
                if src_depth >= max_depth {
                    continue;
                }
                let ssize = sobj.data.len();
                let (cap, ref_depth) = match &best {
                    None => ((tsize / 2).saturating_sub(ID_LEN), 1),
                    Some((_, d, depth)) => (d.len(), *depth),
                };
                let cap =
                    cap * (max_depth - src_depth) / (max_depth + 1 - ref_depth.min(max_depth));
                if cap == 0 {
                    continue;
                }
                if tsize.saturating_sub(ssize) >= cap || tsize < ssize / 32 {
                    continue;
                }
                let slot = &mut win[si];
                let index = slot.index.get_or_insert_with(|| DeltaIndex::new(sobj.data));
                // A new delta must be strictly smaller than the current best.
                let Some(delta) = index.encode(target.data, cap - 1) else {
                    continue;
                };
                let depth = src_depth + 1;
                let better = match &best {
                    None => true,
                    Some((_, d, bd)) => {
                        delta.len() < d.len() || (delta.len() == d.len() && depth < *bd)
                    }
                };
                if better {
                    best = Some((si, delta, depth));
                }
            }
        }
        let mut keep_target = true;
        if let Some((si, delta, depth)) = best {
            let base = win[si].obj;
            choices[t] = Choice {
                base: Some(base),
                delta,
                depth,
            };
            // Keep the chosen base around longer: it is likely to serve the next one too.
            if let Some(slot) = win.remove(si) {
                win.push_back(slot);
            }
            // A target already at the maximum depth cannot serve as a base.
            keep_target = depth < max_depth;
        }
        if keep_target && window > 0 {
            win.push_back(Slot {
                obj: t,
                index: None,
            });
            // Like git, a window of N holds the target and N - 1 candidates.
            while win.len() > window - 1 {
                win.pop_front();
            }
        }
    }
    progress.inc((order.len() % 256) as u64);
}
