//! Percent-encoding of paths in framed requests and records: any byte of a Git name
//! (space, newline, `%`, bytes >= 0x80, ...) travels as plain ASCII.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Bytes written as themselves; everything else becomes `%XX` (upper-case hex).
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b'+' | b',')
}

/// Appends the percent-encoding of `bytes` to `out`.
pub fn pct_encode(bytes: &[u8], out: &mut String) {
    gitfs_format::pct::encode(bytes, is_plain, out);
}

/// Why a percent-encoded token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PctError {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A raw control byte, space or DEL (must be escaped).
    RawControl(u8),
}

impl fmt::Display for PctError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PctError::BadEscape => write!(f, "'%' must be followed by two hex digits"),
            PctError::RawControl(b) => write!(f, "byte 0x{b:02x} must be percent-encoded"),
        }
    }
}

/// Decodes a token. Lenient about which printable bytes were left unescaped, strict
/// about `%` sequences and raw control bytes.
pub fn pct_decode(token: &[u8]) -> Result<Vec<u8>, PctError> {
    if let Some(&b) = token.iter().find(|&&b| b <= b' ' || b == 0x7F) {
        return Err(PctError::RawControl(b));
    }
    gitfs_format::pct::decode(token).ok_or(PctError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        let mut s = String::new();
        pct_encode(&all, &mut s);
        assert!(s.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(pct_decode(s.as_bytes()).unwrap(), all);
    }

    #[test]
    fn plain_paths_stay_readable() {
        let mut s = String::new();
        pct_encode(b"src/a b%.rs", &mut s);
        assert_eq!(s, "src/a%20b%25.rs");
        assert_eq!(pct_decode(b"src/a%20b%25.rs").unwrap(), b"src/a b%.rs");
        assert_eq!(pct_decode(b"%c3%A9").unwrap(), "é".as_bytes());
    }

    #[test]
    fn bad_tokens() {
        assert_eq!(pct_decode(b"a%"), Err(PctError::BadEscape));
        assert_eq!(pct_decode(b"a%4"), Err(PctError::BadEscape));
        assert_eq!(pct_decode(b"a%zz"), Err(PctError::BadEscape));
        assert_eq!(pct_decode(b"a b"), Err(PctError::RawControl(b' ')));
        assert_eq!(pct_decode(b"a\0"), Err(PctError::RawControl(0)));
    }
}
