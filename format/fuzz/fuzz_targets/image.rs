//! A whole image: open, then read every object the IDX lists and scan the PACK.
#![no_main]

use gitfs_format::Image;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut img) = Image::open_with(data.to_vec(), 1 << 20) else {
        return;
    };
    let n = img.index().len().min(256) as u32;
    for p in 0..n {
        if let Some(id) = img.index().id_at(p) {
            let _ = img.read_verified(&id);
            let _ = img.read_verified_if(&id, |size| size < 1 << 16);
            let _ = img.object_size(&id);
            let _ = img.size_of(&id);
        }
    }
    let _ = img.lookup(b"a/b");
    let mut kinds = 0u32;
    let _ = img.verify_with(|_, _| kinds += 1);
    if let Ok(scan) = img.scan() {
        for e in scan.take(256) {
            if e.is_err() {
                break;
            }
        }
    }
});
