//! The host's framed-response decoder on any byte stream, fed in chunks whose sizes
//! come from the input: it always makes progress and never panics.
#![no_main]

use gitfs_console::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let mut d = Decoder::new();
    for piece in stream.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let (used, _) = d.feed(rest);
            assert!(used > 0 && used <= rest.len(), "no progress");
            rest = &rest[used..];
        }
    }
});
