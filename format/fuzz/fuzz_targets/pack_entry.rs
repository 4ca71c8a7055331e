//! Entry headers, inflate, and the sequential PACK scan.
#![no_main]

use gitfs_format::{pack, PackScan, Section};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = pack::parse_entry_header(data, 1 << 20) {
        assert!(h.header_len <= data.len());
        if let Ok((out, used)) = pack::inflate_exact(&data[h.header_len..], h.size) {
            assert_eq!(out.len() as u64, h.size);
            assert!(used <= data.len() - h.header_len);
        }
    }
    let _ = pack::inflate_prefix(data, 20);
    let _ = pack::parse_pack_header(data);
    let mut dev = data;
    let section = Section {
        offset: 0,
        len: data.len() as u64,
    };
    if let Ok(scan) = PackScan::new(&mut dev, section) {
        for e in scan.take(64) {
            if e.is_err() {
                break;
            }
        }
    }
});
