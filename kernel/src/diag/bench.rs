//! Console transport benchmarks (kernel feature `bench`): the same pseudo-random bytes sent three ways,
//! so the host can compare escaped framing on stdout, hex on stdout and raw COM2.
//!
//! The byte stream is SplitMix64 from seed 0, each output word little-endian; the host
//! bench (`qemu/src/bin/gitfs-bench/console.rs`) generates the same stream to check every byte.

use std::io::{self, Write};
use std::time::Instant;

use gitfs_console::{ok_header, Framer};

use super::request::Com2Mode;

/// Bytes generated and written per step: bounded memory for any size.
pub const CHUNK: usize = 16 * 1024;
/// Payload bytes per line of `hexbench` output (the line holds twice as many digits).
pub const HEX_LINE: usize = 2048;

/// The benchmark byte stream: SplitMix64 words from seed 0, little-endian.
#[derive(Debug, Clone, Default)]
pub struct Pattern {
    state: u64,
    word: [u8; 8],
    /// Bytes of `word` already handed out (8: take a new word).
    used: usize,
}

impl Pattern {
    pub fn new() -> Self {
        Pattern {
            state: 0,
            word: [0; 8],
            used: 8,
        }
    }

    fn next_word(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `buf` with the next bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            if self.used == 8 {
                self.word = self.next_word().to_le_bytes();
                self.used = 0;
            }
            *b = self.word[self.used];
            self.used += 1;
        }
    }
}

/// A byte sink that bypasses the kernel console (COM2 in the guest, memory in tests).
pub trait RawPort {
    fn write(&mut self, data: &[u8], mode: Com2Mode);
}

/// Appends lower-case hex of `bytes` to `out`.
pub fn hex_into(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

/// The summary line after a benchmark: guest-side time and rate.
pub fn summary(name: &str, bytes: u64, wire: u64, secs: f64, extra: &str) -> String {
    let rate = if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        0.0
    };
    format!("{name} bytes={bytes} wire={wire} secs={secs:.6} mb_s={rate:.3}{extra}")
}

/// `escbench`: one framed response (`=OK N escbench`, escaped payload, CRC trailer),
/// exactly what `@get` sends, then the summary line.
pub fn escaped(bytes: u64, out: &mut impl Write) -> io::Result<String> {
    let start = Instant::now();
    let header = ok_header(bytes, &["escbench"]);
    out.write_all(header.as_bytes())?;
    let mut wire = header.len() as u64;
    let mut framer = Framer::new(bytes);
    let mut pattern = Pattern::new();
    let mut raw = vec![0u8; CHUNK];
    let mut esc = Vec::with_capacity(CHUNK + CHUNK / 8);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        pattern.fill(&mut raw[..n]);
        esc.clear();
        framer.chunk(&raw[..n], &mut esc);
        out.write_all(&esc)?;
        wire += esc.len() as u64;
        left -= n as u64;
    }
    let trailer = framer
        .finish()
        .map_err(|e| io::Error::other(e.to_string()))?;
    out.write_all(&trailer)?;
    out.flush()?;
    wire += trailer.len() as u64;
    Ok(summary(
        "escbench",
        bytes,
        wire,
        start.elapsed().as_secs_f64(),
        "",
    ))
}

/// `hexbench`: `hexbench N` then lines of [`HEX_LINE`] bytes in hex, then the summary.
pub fn hex(bytes: u64, out: &mut impl Write) -> io::Result<String> {
    let start = Instant::now();
    let header = format!("hexbench {bytes}\n");
    out.write_all(header.as_bytes())?;
    let mut wire = header.len() as u64;
    let mut pattern = Pattern::new();
    let mut raw = vec![0u8; HEX_LINE];
    // Several lines per write, like the escaped bench's chunks.
    let lines_per_write = CHUNK / HEX_LINE;
    let mut text = Vec::with_capacity(lines_per_write * (2 * HEX_LINE + 1));
    let mut left = bytes;
    while left > 0 {
        text.clear();
        for _ in 0..lines_per_write {
            if left == 0 {
                break;
            }
            let n = left.min(HEX_LINE as u64) as usize;
            pattern.fill(&mut raw[..n]);
            hex_into(&raw[..n], &mut text);
            text.push(b'\n');
            left -= n as u64;
        }
        out.write_all(&text)?;
        wire += text.len() as u64;
    }
    out.flush()?;
    Ok(summary(
        "hexbench",
        bytes,
        wire,
        start.elapsed().as_secs_f64(),
        "",
    ))
}

/// `com2bench`: the raw bytes on `port`, then the summary (with the CRC-32 of the bytes).
pub fn com2(bytes: u64, mode: Com2Mode, port: &mut dyn RawPort) -> String {
    let start = Instant::now();
    let mut pattern = Pattern::new();
    let mut crc = gitfs_console::Crc32::new();
    let mut raw = vec![0u8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        pattern.fill(&mut raw[..n]);
        crc.update(&raw[..n]);
        port.write(&raw[..n], mode);
        left -= n as u64;
    }
    let extra = format!(" mode={} crc={:08x}", mode.as_str(), crc.finish());
    summary(
        "com2bench",
        bytes,
        bytes,
        start.elapsed().as_secs_f64(),
        &extra,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitfs_console::{Decoder, Response};

    fn stream(n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        Pattern::new().fill(&mut v);
        v
    }

    #[test]
    fn pattern_is_splitmix64_from_zero() {
        // Known first outputs of SplitMix64 seeded with 0.
        let v = stream(16);
        assert_eq!(v[..8], 0xe220_a839_7b1d_cdafu64.to_le_bytes());
        assert_eq!(v[8..], 0x6e78_9e6a_a1b9_65f4u64.to_le_bytes());
    }

    #[test]
    fn pattern_does_not_depend_on_chunking() {
        let whole = stream(1000);
        let mut p = Pattern::new();
        let mut pieces = Vec::new();
        for n in [1, 7, 8, 3, 500, 481] {
            let mut b = vec![0u8; n];
            p.fill(&mut b);
            pieces.extend(b);
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn escaped_decodes_to_the_stream() {
        let n = 3 * CHUNK as u64 + 5;
        let mut out = Vec::new();
        let line = escaped(n, &mut out).unwrap();
        let mut dec = Decoder::new();
        let (used, step) = dec.feed(&out);
        assert_eq!(used, out.len());
        match step {
            Some(Ok(Response::Ok { fields, payload })) => {
                assert_eq!(fields, ["escbench"]);
                assert_eq!(payload, stream(n as usize));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            line.starts_with(&format!("escbench bytes={n} wire={} ", out.len())),
            "{line}"
        );
        assert!(!out.contains(&0x08) && !out.contains(&0x7f));
    }

    #[test]
    fn hex_lines_decode_to_the_stream() {
        let n = 5 * HEX_LINE + 9;
        let mut out = Vec::new();
        let line = hex(n as u64, &mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(format!("hexbench {n}").as_str()));
        let mut data = Vec::new();
        for l in lines {
            assert!(l.len() <= 2 * HEX_LINE);
            for pair in l.as_bytes().chunks(2) {
                let s = std::str::from_utf8(pair).unwrap();
                data.push(u8::from_str_radix(s, 16).unwrap());
            }
        }
        assert_eq!(data, stream(n));
        assert!(line.starts_with(&format!("hexbench bytes={n} wire={} ", out.len())));
    }

    struct Memory(Vec<u8>, Vec<Com2Mode>);

    impl RawPort for Memory {
        fn write(&mut self, data: &[u8], mode: Com2Mode) {
            self.0.extend_from_slice(data);
            self.1.push(mode);
        }
    }

    #[test]
    fn com2_writes_the_stream_and_its_crc() {
        let n = CHUNK + 1;
        let mut port = Memory(Vec::new(), Vec::new());
        let line = com2(n as u64, Com2Mode::Fifo, &mut port);
        assert_eq!(port.0, stream(n));
        assert!(port.1.iter().all(|&m| m == Com2Mode::Fifo));
        let crc = format!("crc={:08x}", gitfs_console::crc32(&port.0));
        assert!(line.starts_with(&format!("com2bench bytes={n} wire={n} ")));
        assert!(line.ends_with(&format!("mode=fifo {crc}")), "{line}");
    }

    #[test]
    fn zero_bytes() {
        let mut out = Vec::new();
        escaped(0, &mut out).unwrap();
        assert!(out.starts_with(b"=OK 0 escbench\n\n=END "));
        let mut port = Memory(Vec::new(), Vec::new());
        assert!(com2(0, Com2Mode::Polled, &mut port).contains("crc=00000000"));
    }
}
