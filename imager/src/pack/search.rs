//! Sliding-window delta search (git's `find_deltas` / `try_delta` heuristics), with
//! each object compressed as soon as its representation is decided: the window's
//! objects are the only ones in memory.

use std::collections::VecDeque;

use gitfs_format::delta::DeltaIndex;

use super::write::{Deflater, Spool};
use super::{Load, Object, PackError, Planned, Progress};

/// Objects smaller than this are stored whole: a delta would not pay off.
const MIN_DELTA_SIZE: u64 = 50;
/// Bytes of a ref-id a delta must beat (git subtracts the hash size).
const ID_LEN: usize = 20;
/// A delta is compared with its object compressed whole when it is more than 1/8 of
/// the object and compresses to more than this share of what objects like its base
/// compress to (on Rust's library source 0.7% smaller images; checking every delta
/// found nothing more and cost rustdoc HTML a third more time).
const WHOLE_CHECK: f32 = 0.9;
/// Bytes an OFS delta entry's base distance takes, about.
const OFS_HEAD: usize = 2;

/// A recent object the next ones are compared with.
struct Slot {
    obj: usize,
    depth: u32,
    /// Compressed / raw size when stored whole (its base's, when a delta): how well
    /// objects like it compress, to judge whether a delta beat the whole object.
    ratio: f32,
    data: Vec<u8>,
    index: Option<DeltaIndex>,
}

/// What one segment's search needs besides the objects.
pub(super) struct Segment<'a> {
    pub window: usize,
    pub max_depth: u32,
    pub reader: Box<dyn Load + 'a>,
    pub deflater: Deflater,
    pub progress: &'a dyn Progress,
}

/// Runs the window search over `order` (indices into `objects`), compressing each
/// object into `spool` as soon as it is decided; `plan[k]` describes `order[k]`.
/// Sequential over one segment; the caller splits the order for threads.
pub(super) fn search_segment(
    objects: &[Object<'_>],
    order: &[usize],
    plan: &mut [Planned],
    seg: &mut Segment<'_>,
    spool: &mut Spool<'_>,
) -> Result<(), PackError> {
    let (window, max_depth) = (seg.window, seg.max_depth);
    let mut win: VecDeque<Slot> = VecDeque::with_capacity(window + 1);
    let mut z = Vec::new();
    let mut whole = Vec::new();
    for (n, &t) in order.iter().enumerate() {
        if n % 256 == 255 {
            seg.progress.inc(256);
        }
        let target = &objects[t];
        let data = seg.reader.load(t).map_err(PackError::Read)?;
        if data.len() as u64 != target.size {
            return Err(PackError::SizeChanged {
                id: target.id,
                want: target.size,
                got: data.len() as u64,
            });
        }
        let tsize = data.len();
        let mut best: Option<(usize, Vec<u8>, u32)> = None; // (slot, delta, depth)
        if target.size >= MIN_DELTA_SIZE && window > 0 {
            // Most recent (most similar in sort order) first.
            for si in (0..win.len()).rev() {
                let slot = &mut win[si];
                if objects[slot.obj].kind != target.kind || slot.depth >= max_depth {
                    continue;
                }
                let ssize = slot.data.len();
                let (cap, ref_depth) = match &best {
                    None => ((tsize / 2).saturating_sub(ID_LEN), 1),
                    Some((_, d, depth)) => (d.len(), *depth),
                };
                let cap = cap * (max_depth - slot.depth) as usize
                    / (max_depth + 1 - ref_depth.min(max_depth)) as usize;
                if cap == 0 || tsize.saturating_sub(ssize) >= cap || tsize < ssize / 32 {
                    continue;
                }
                let index = slot
                    .index
                    .get_or_insert_with(|| DeltaIndex::new(&slot.data));
                // A new delta must be strictly smaller than the current best.
                let Some(delta) = index.encode(&slot.data, &data, cap - 1) else {
                    continue;
                };
                let depth = slot.depth + 1;
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
        z.clear();
        // Set once `z` holds the whole object compressed: the check below chose it.
        let mut z_is_whole = false;
        if let Some((si, delta, _)) = &best {
            seg.deflater.deflate(delta, &mut z);
            // A delta that is a large part of its object can compress worse than the
            // object itself (copy ops cut the text zlib would have matched).
            if delta.len() * 8 > tsize
                && z.len() as f32 > WHOLE_CHECK * win[*si].ratio * tsize as f32
            {
                whole.clear();
                seg.deflater.deflate(&data, &mut whole);
                if whole.len() + OFS_HEAD < z.len() {
                    std::mem::swap(&mut z, &mut whole);
                    z_is_whole = true;
                    best = None;
                }
            }
        }
        let (base, depth, ratio) = match &best {
            Some((si, delta, depth)) => {
                plan[n].payload_len = delta.len() as u64;
                (Some(win[*si].obj), *depth, win[*si].ratio)
            }
            None => {
                if !z_is_whole {
                    seg.deflater.deflate(&data, &mut z);
                }
                plan[n].payload_len = tsize as u64;
                (None, 0, z.len() as f32 / tsize.max(1) as f32)
            }
        };
        plan[n].base = base;
        plan[n].z_len = z.len() as u64;
        spool.push(n, &z, plan)?;
        let mut keep_target = true;
        if let Some((si, _, depth)) = best {
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
                depth,
                ratio,
                data,
                index: None,
            });
            // Like git, a window of N holds the target and N - 1 candidates.
            while win.len() > window - 1 {
                win.pop_front();
            }
        }
    }
    spool.flush(plan)?;
    seg.progress.inc((order.len() % 256) as u64);
    Ok(())
}
