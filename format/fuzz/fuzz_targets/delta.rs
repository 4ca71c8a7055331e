//! Delta application: the first byte splits the input into base and delta.
#![no_main]

use gitfs_format::delta;
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
});
