//! Header decoding (gitfs and docteur detection) and header reading over a device.
#![no_main]

use gitfs_format::Header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Header::decode(data, data.len() as u64) {
        if h.layout == gitfs_format::Layout::Gitfs {
            // Whatever decodes must re-encode to the same bytes.
            assert_eq!(&h.encode()[..], &data[..h.encoded_len()]);
        }
    }
    let mut dev = data;
    let _ = Header::read(&mut dev);
});
