//! Listing records and `@info` payloads as the host parses them.
#![no_main]

use gitfs_console::{parse_info, parse_records};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let _ = parse_records(payload);
    let _ = parse_info(payload);
});
