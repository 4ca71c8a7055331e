//! CRC-32 (IEEE 802.3, as zlib and PNG) of framed payloads: crc32fast, whose table
//! method needs no CPU features, so the guest gets the same speed under TCG.

/// A running CRC-32.
#[derive(Clone, Debug, Default)]
pub struct Crc32(crc32fast::Hasher);

impl Crc32 {
    pub fn new() -> Self {
        Crc32(crc32fast::Hasher::new())
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(&self) -> u32 {
        self.0.clone().finalize()
    }
}

/// CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

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
