//! Binary-safe text records inside framed payloads: directory listings, stat results
//! and `key=value` info lines.
//!
//! A record is one line: `<mode, 6 octal digits> <kind> <size or -> <id, 40 hex>
//! <name, percent-encoded>\n`, e.g. `100644 file 1234 e69de29b... src/a%20b.rs`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::pct::{pct_decode, pct_encode};

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    File,
    /// A regular file with the executable bit.
    Exec,
    Symlink,
    Dir,
    /// A gitlink: the id is a commit of another repository, not in the image.
    Submodule,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Exec => "exec",
            Kind::Symlink => "symlink",
            Kind::Dir => "dir",
            Kind::Submodule => "submodule",
        }
    }

    pub fn parse(s: &[u8]) -> Option<Kind> {
        [
            Kind::File,
            Kind::Exec,
            Kind::Symlink,
            Kind::Dir,
            Kind::Submodule,
        ]
        .into_iter()
        .find(|k| k.as_str().as_bytes() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One listing or stat entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Git mode (`0o100644`, `0o040000`, ...).
    pub mode: u32,
    pub kind: Kind,
    /// Bytes of the blob; `None` for directories and submodules.
    pub size: Option<u64>,
    pub id: [u8; 20],
    pub name: Vec<u8>,
}

/// A record line that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError(pub String);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad record line {:?}", self.0)
    }
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl Record {
    /// Appends the record line, newline included.
    pub fn encode(&self, out: &mut String) {
        let _ = write!(out, "{:06o} {} ", self.mode, self.kind);
        match self.size {
            Some(n) => {
                let _ = write!(out, "{n} ");
            }
            None => out.push_str("- "),
        }
        for b in self.id {
            let _ = write!(out, "{b:02x}");
        }
        out.push(' ');
        pct_encode(&self.name, out);
        out.push('\n');
    }

    /// Parses one record line (with or without its newline).
    pub fn parse(line: &[u8]) -> Result<Record, RecordError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let bad = || RecordError(String::from_utf8_lossy(line).to_string());
        let mut parts = line.split(|&b| b == b' ');
        let mut next = || parts.next().ok_or_else(bad);
        let mode_s = next()?;
        let kind_s = next()?;
        let size_s = next()?;
        let id_s = next()?;
        let name_s = next()?;
        if parts.next().is_some() || mode_s.len() != 6 || id_s.len() != 40 {
            return Err(bad());
        }
        let mode = mode_s.iter().try_fold(0u32, |m, &d| match d {
            b'0'..=b'7' => Ok(m * 8 + u32::from(d - b'0')),
            _ => Err(bad()),
        })?;
        let kind = Kind::parse(kind_s).ok_or_else(bad)?;
        let size = match size_s {
            b"-" => None,
            s if !s.is_empty() && s.len() <= 20 && s.iter().all(u8::is_ascii_digit) => Some(
                core::str::from_utf8(s)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(bad)?,
            ),
            _ => return Err(bad()),
        };
        let mut id = [0u8; 20];
        for (i, pair) in id_s.chunks_exact(2).enumerate() {
            id[i] = (hex_nibble(pair[0]).ok_or_else(bad)? << 4)
                | hex_nibble(pair[1]).ok_or_else(bad)?;
        }
        let name = pct_decode(name_s).map_err(|_| bad())?;
        Ok(Record {
            mode,
            kind,
            size,
            id,
            name,
        })
    }
}

/// All records of a listing payload.
pub fn parse_records(payload: &[u8]) -> Result<Vec<Record>, RecordError> {
    let body = payload.strip_suffix(b"\n").unwrap_or(payload);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|&b| b == b'\n').map(Record::parse).collect()
}

/// `key=value` lines of an info payload, in order.
pub fn parse_info(payload: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(payload)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn records_round_trip() {
        let recs = vec![
            Record {
                mode: 0o100644,
                kind: Kind::File,
                size: Some(1234),
                id: [0xab; 20],
                name: b"a b\n\x08\x7f%".to_vec(),
            },
            Record {
                mode: 0o040000,
                kind: Kind::Dir,
                size: None,
                id: [1; 20],
                name: b"dir".to_vec(),
            },
            Record {
                mode: 0o160000,
                kind: Kind::Submodule,
                size: None,
                id: [2; 20],
                name: Vec::new(),
            },
        ];
        let mut s = String::new();
        for r in &recs {
            r.encode(&mut s);
        }
        assert!(s.starts_with("100644 file 1234 abababababababababababababababababababab a%20b%0A%08%7F%25\n040000 dir - "));
        assert_eq!(parse_records(s.as_bytes()).unwrap(), recs);
        assert_eq!(parse_records(b"").unwrap(), vec![]);
        assert!(Record::parse(b"100644 file 1 00 x").is_err());
        assert!(
            Record::parse(b"100648 file 1 abababababababababababababababababababab x").is_err()
        );
        assert!(
            Record::parse(b"100644 blob 1 abababababababababababababababababababab x").is_err()
        );
    }

    #[test]
    fn info_lines() {
        assert_eq!(
            parse_info(b"commit=abc\nrev=main=x\n"),
            vec![
                ("commit".into(), "abc".into()),
                ("rev".into(), "main=x".into())
            ]
        );
    }
}
