//! What tests and benchmarks share, and products do not ship: the deterministic
//! pseudo-random stream that generates test files, fuzz-like inputs and benchmark
//! payloads, and the model of what Hermit's serial console does to bytes. `no_std` +
//! `alloc`, so the guest's benchmark peer and `no_std` crates' tests use the same code
//! as the host. Feature `std`: [`git`], stock git run the one way tests run it; feature
//! `images`: [`repo`], repositories made with git and images made from them without
//! the imager.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

use alloc::vec::Vec;

pub mod console;
#[cfg(feature = "std")]
pub mod git;
#[cfg(feature = "images")]
pub mod repo;

/// xorshift64: reproducible, fast, and good enough to defeat compression and deltas.
#[derive(Clone, Debug)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A stream from `seed`; the low bit is set, since an all-zero state stays zero.
    pub fn new(seed: u64) -> Self {
        Xorshift(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` bytes: the low byte of each step.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// `len` pseudo-random bytes from `seed`: the same bytes wherever they are made.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    Xorshift::new(seed).bytes(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_seeded() {
        assert_eq!(noise(1000, 7), noise(1000, 7));
        assert_ne!(noise(1000, 7), noise(1000, 9));
        // Seeds differing only in the low bit give one stream (the state needs a bit).
        assert_eq!(noise(64, 6), noise(64, 7));
        // xorshift64 (13, 7, 17) from state 1, worked by hand: 1 -> 8193 -> 8257 ->
        // 8257 + 8257 * 2^17.
        assert_eq!(Xorshift::new(0).next_u64(), 1_082_269_761);
    }

    #[test]
    fn bytes_are_not_trivially_compressible() {
        let data = noise(1 << 16, 42);
        let mut seen = [0u32; 256];
        for &b in &data {
            seen[b as usize] += 1;
        }
        // Every byte value appears, none more than twice its fair share.
        assert!(seen.iter().all(|&c| c > 0 && c < 2 * (1 << 16) / 256));
    }
}
