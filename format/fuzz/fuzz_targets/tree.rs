//! Tree and commit parsing.
#![no_main]

use gitfs_format::{Commit, TreeIter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for e in TreeIter::new(data) {
        match e {
            Ok(e) => {
                assert!(!e.name.is_empty());
                let _ = e.kind();
            }
            Err(_) => break,
        }
    }
    let _ = Commit::parse(data);
});
