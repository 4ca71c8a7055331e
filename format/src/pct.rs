//! Percent-encoding (`%XX`) of byte strings, for the text protocols that carry Git
//! names, which may hold any byte: the console's requests and records, HTTP targets and
//! links. Each protocol chooses which bytes stay as they are.

use alloc::string::String;
use alloc::vec::Vec;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `bytes` to `out`, each byte for which `plain` is false as `%XX` (upper-case
/// hex). `plain` must hold only for ASCII bytes other than `%`.
pub fn encode(bytes: &[u8], plain: impl Fn(u8) -> bool, out: &mut String) {
    for &b in bytes {
        if plain(b) && b.is_ascii() && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// The bytes `s` encodes (hex digits of either case); `None` when a `%` is not followed
/// by two hex digits. Other bytes pass as they are.
pub fn decode(s: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: Option<&u8>| char::from(*b?).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            out.push(hex(s.get(i + 1))? << 4 | hex(s.get(i + 2))?);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips_whatever_stays_plain() {
        let all: Vec<u8> = (0..=255u8).collect();
        for plain in [
            |_: u8| false,
            |b: u8| b.is_ascii_alphanumeric(),
            |_: u8| true,
        ] {
            let mut s = String::new();
            encode(&all, plain, &mut s);
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_graphic() || b == b' ' || b < 0x20 || b == 0x7f));
            assert_eq!(decode(s.as_bytes()).unwrap(), all);
        }
        let mut s = String::new();
        encode(b"a b%\xff", |b| b != b' ', &mut s);
        assert_eq!(s, "a%20b%25%FF");
    }

    #[test]
    fn bad_escapes_are_refused() {
        for bad in [&b"%"[..], b"a%4", b"%zz", b"%4g", b"%\xff0"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        assert_eq!(decode(b"%2f%2F%41").unwrap(), b"//A");
    }
}
