//! Framed responses, kernel side.
//!
//! `=OK <len>[ <field>]...\n`, then the payload escaped (`len` counts payload bytes
//! before escaping), then the trailer `\n=END <crc32 as 8 lower-case hex>\n`.
//! `=ERR <code> <message>\n` alone for errors.
//!
//! Escaping ([`Framing::Escaped`], the serial console): the Hermit 0.11 console turns 0x08
//! and 0x7F into `08 20 08`, so those two and [`ESC`] itself are sent as
//! `ESC, byte ^ 0x40` (`10 48`, `10 3F`, `10 50`). A channel that carries bytes unchanged
//! (virtio-console) sends the payload as it is ([`Framing::Raw`]); length and CRC stay.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::crc::Crc32;

/// The escape byte (DLE: rare in text and in most binaries).
pub const ESC: u8 = 0x10;
/// Bytes in a trailer.
pub const TRAILER_LEN: usize = 15;

/// How payload bytes travel between header and trailer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// 0x08, 0x7F and [`ESC`] escaped: for the serial console, which mangles the first two.
    #[default]
    Escaped,
    /// Bytes as they are: for a channel that delivers every byte unchanged.
    Raw,
}

pub(crate) fn needs_escape(b: u8) -> bool {
    matches!(b, 0x08 | 0x7F | ESC)
}

/// Appends the escaped form of `data` to `out`.
pub fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len() + data.len() / 64 + 2);
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if needs_escape(b) {
            out.extend_from_slice(&data[start..i]);
            out.push(ESC);
            out.push(b ^ 0x40);
            start = i + 1;
        }
    }
    out.extend_from_slice(&data[start..]);
}

/// The trailer for a payload whose CRC-32 is `crc`.
pub fn trailer(crc: u32) -> [u8; TRAILER_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = *b"\n=END 00000000\n";
    for i in 0..8 {
        t[6 + i] = HEX[((crc >> (28 - 4 * i)) & 15) as usize];
    }
    t
}

/// Error codes of `=ERR` lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NotFound,
    IsADirectory,
    NotADirectory,
    /// `..`, `.`, empty components, NUL.
    BadPath,
    /// Unknown command, bad argument.
    BadRequest,
    /// Request line over [`crate::MAX_LINE`].
    TooLong,
    /// Range offset past the end of the file.
    BadRange,
    /// The image does not hold what it claims (SHA-1 mismatch, bad object, ...).
    Corrupt,
    Io,
    /// Not supported for this kind of entry (e.g. the content of a submodule).
    Unsupported,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::NotFound,
        ErrorCode::IsADirectory,
        ErrorCode::NotADirectory,
        ErrorCode::BadPath,
        ErrorCode::BadRequest,
        ErrorCode::TooLong,
        ErrorCode::BadRange,
        ErrorCode::Corrupt,
        ErrorCode::Io,
        ErrorCode::Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not-found",
            ErrorCode::IsADirectory => "is-a-directory",
            ErrorCode::NotADirectory => "not-a-directory",
            ErrorCode::BadPath => "bad-path",
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::TooLong => "too-long",
            ErrorCode::BadRange => "bad-range",
            ErrorCode::Corrupt => "corrupt",
            ErrorCode::Io => "io",
            ErrorCode::Unsupported => "unsupported",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `=OK <len> <fields...>\n`. Fields must be non-empty printable ASCII without spaces.
pub fn ok_header(len: u64, fields: &[&str]) -> String {
    let mut s = String::with_capacity(24 + fields.iter().map(|f| f.len() + 1).sum::<usize>());
    let _ = write!(s, "=OK {len}");
    for f in fields {
        s.push(' ');
        s.push_str(f);
    }
    s.push('\n');
    s
}

/// `=ERR <code> <message>\n`; the message is kept to printable ASCII on one line.
pub fn err_header(code: ErrorCode, message: &str) -> String {
    let mut s = String::with_capacity(message.len() + 24);
    let _ = write!(s, "=ERR {code} ");
    for c in message.chars().take(512) {
        s.push(if c.is_ascii_graphic() || c == ' ' {
            c
        } else {
            '?'
        });
    }
    s.push('\n');
    s
}

/// A payload announced with a length that it did not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramerError {
    pub announced: u64,
    pub sent: u64,
}

impl fmt::Display for FramerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "payload of {} bytes announced as {}",
            self.sent, self.announced
        )
    }
}

/// Escapes a payload chunk by chunk, keeping its CRC and length.
#[derive(Clone, Debug)]
pub struct Framer {
    framing: Framing,
    announced: u64,
    sent: u64,
    crc: Crc32,
}

impl Framer {
    /// For a payload of `len` bytes (the length given to [`ok_header`]), escaped.
    pub fn new(len: u64) -> Self {
        Self::with_framing(len, Framing::Escaped)
    }

    pub fn with_framing(len: u64, framing: Framing) -> Self {
        Framer {
            framing,
            announced: len,
            sent: 0,
            crc: Crc32::new(),
        }
    }

    /// Appends `chunk`, framed, to `out`.
    pub fn chunk(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.count(chunk);
        match self.framing {
            Framing::Escaped => escape_into(chunk, out),
            Framing::Raw => out.extend_from_slice(chunk),
        }
    }

    /// Counts a [`Framing::Raw`] chunk that the caller sends itself, without a copy.
    pub fn count(&mut self, chunk: &[u8]) {
        self.sent += chunk.len() as u64;
        self.crc.update(chunk);
    }

    /// The trailer, if exactly the announced number of bytes went through.
    pub fn finish(&self) -> Result<[u8; TRAILER_LEN], FramerError> {
        if self.sent != self.announced {
            return Err(FramerError {
                announced: self.announced,
                sent: self.sent,
            });
        }
        Ok(trailer(self.crc.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_output_never_holds_mangled_bytes() {
        let all: Vec<u8> = (0..=255u8).collect();
        let mut out = Vec::new();
        escape_into(&all, &mut out);
        assert_eq!(out.len(), 256 + 3);
        assert!(!out.contains(&0x08) && !out.contains(&0x7F));
        assert_eq!(out.iter().filter(|&&b| b == ESC).count(), 3);
    }

    #[test]
    fn headers_and_trailer() {
        assert_eq!(ok_header(5, &["file", "100644"]), "=OK 5 file 100644\n");
        assert_eq!(ok_header(0, &[]), "=OK 0\n");
        assert_eq!(
            err_header(ErrorCode::NotFound, "no such file: a\nb\u{8}é"),
            "=ERR not-found no such file: a?b??\n"
        );
        assert_eq!(&trailer(0xCBF4_3926), b"\n=END cbf43926\n");
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn framer_checks_the_length() {
        let mut f = Framer::new(9);
        let mut out = Vec::new();
        f.chunk(b"1234", &mut out);
        assert_eq!(
            f.finish(),
            Err(FramerError {
                announced: 9,
                sent: 4
            })
        );
        f.chunk(b"56789", &mut out);
        assert_eq!(&f.finish().unwrap(), b"\n=END cbf43926\n");
        assert_eq!(out, b"123456789");
    }

    #[test]
    fn raw_framing_copies_bytes_and_keeps_the_crc() {
        let data = [0x08, 0x7F, ESC, b'a'];
        let (mut raw, mut esc) = (Vec::new(), Vec::new());
        let mut r = Framer::with_framing(4, Framing::Raw);
        let mut e = Framer::new(4);
        r.chunk(&data, &mut raw);
        e.chunk(&data, &mut esc);
        assert_eq!(raw, data);
        assert_eq!(esc.len(), 7);
        assert_eq!(r.finish(), e.finish());
    }
}
