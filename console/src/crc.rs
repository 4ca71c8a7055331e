//! CRC-32 (IEEE 802.3, as zlib and PNG) of framed payloads: the image format's own
//! (crc32fast, whose table method needs no CPU features, so the guest gets the same
//! speed under TCG).

pub use gitfs_format::{crc32, Crc32};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
        let mut c = Crc32::new();
        c.update(b"12345");
        c.update(b"6789");
        assert_eq!(c.finish(), 0xCBF4_3926);
        // Every split point agrees with the one-shot value (remainder paths).
        let data: [u8; 37] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        let whole = crc32(&data);
        for cut in 0..data.len() {
            let mut c = Crc32::new();
            c.update(&data[..cut]);
            c.update(&data[cut..]);
            assert_eq!(c.finish(), whole, "cut {cut}");
        }
        assert_eq!(crc32(&[0u8; 32]), 0x190A_55AD);
    }
}
