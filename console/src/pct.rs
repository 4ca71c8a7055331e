//! Percent-encoding of paths in framed requests and records: any byte of a Git name
//! (space, newline, `%`, bytes >= 0x80, ...) travels as plain ASCII.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Bytes written as themselves; everything else becomes `%XX` (upper-case hex).
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b'+' | b',')
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends the percent-encoding of `bytes` to `out`.
pub fn pct_encode(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if is_plain(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
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

fn hex_val(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).map(|d| d as u8)
}

/// Decodes a token. Lenient about which printable bytes were left unescaped, strict
/// about `%` sequences and raw control bytes.
pub fn pct_decode(token: &[u8]) -> Result<Vec<u8>, PctError> {
    let mut out = Vec::with_capacity(token.len());
    let mut i = 0;
    while i < token.len() {
        let b = token[i];
        if b == b'%' {
            let hi = token.get(i + 1).copied().and_then(hex_val);
            let lo = token.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push((h << 4) | l),
                _ => return Err(PctError::BadEscape),
            }
            i += 3;
        } else if b <= b' ' || b == 0x7F {
            return Err(PctError::RawControl(b));
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
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
