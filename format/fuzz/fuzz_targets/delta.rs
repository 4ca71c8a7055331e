//! Deltas: the first byte splits the input into two parts. Applying the second as a
//! delta to the first never panics and, when it succeeds, agrees with the sizes the
//! delta announces; encoding the second against the first (and against the first
//! with the second's head spliced in, so copies, overlapping windows and short
//! matches all occur) always applies back to exactly the target, and a budget is
//! never exceeded.
#![no_main]

use gitfs_format::delta::{self, DeltaIndex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let split = (n as usize * 4).min(rest.len());
    let (base, d) = rest.split_at(split);
    if let Ok(out) = delta::apply(base, d) {
        let (b, r) = delta::sizes(d).unwrap();
        assert_eq!(b, base.len() as u64);
        assert_eq!(r, out.len() as u64);
    }

    let mut mixed = base.to_vec();
    mixed.extend_from_slice(&d[..d.len() / 2]);
    mixed.extend_from_slice(base);
    for (src, target) in [(base, d), (&mixed[..], d), (d, &mixed[..])] {
        let index = DeltaIndex::new(src);
        let enc = index.encode(src, target, usize::MAX).expect("no budget");
        assert_eq!(delta::apply(src, &enc).unwrap(), target);
        let budget = enc.len() / 2;
        if let Some(small) = index.encode(src, target, budget) {
            assert!(small.len() <= budget);
            assert_eq!(delta::apply(src, &small).unwrap(), target);
        }
    }
});
