//! Request lines, both faces.
//!
//! Human: `WORD [ARGS]`, the path being the rest of the line taken literally.
//! Framed: `@WORD [ARGS]`, tokens separated by spaces, paths percent-encoded.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::pct::{pct_decode, pct_encode, PctError};
use crate::MAX_LINE;

/// Which face a request came from, hence how it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    Human,
    Framed,
}

/// One request. Paths are raw bytes, relative to the root (`""` is the root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Help,
    Ping,
    /// A whole file (a symlink gives its target).
    Get(Vec<u8>),
    /// Up to `len` bytes of a file from `offset`.
    Range {
        offset: u64,
        len: u64,
        path: Vec<u8>,
    },
    Ls(Vec<u8>),
    Stat(Vec<u8>),
    Digest(Vec<u8>),
    Info,
    Quit,
}

/// Why a request line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    TooLong(usize),
    Unknown(String),
    MissingArgument(&'static str),
    ExtraArgument,
    BadNumber(String),
    BadPath(PctError),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLong(n) => {
                write!(
                    f,
                    "request line of {n} bytes is over the limit of {MAX_LINE}"
                )
            }
            ParseError::Unknown(w) => write!(f, "unknown command {w:?} (try help)"),
            ParseError::MissingArgument(a) => write!(f, "missing argument {a}"),
            ParseError::ExtraArgument => write!(f, "too many arguments"),
            ParseError::BadNumber(n) => write!(f, "not a decimal number: {n:?}"),
            ParseError::BadPath(e) => write!(f, "bad path encoding: {e}"),
        }
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    let junk = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0);
    while s.first().is_some_and(junk) {
        s = &s[1..];
    }
    while s.last().is_some_and(junk) {
        s = &s[..s.len() - 1];
    }
    s
}

fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&s[..i], trim(&s[i + 1..])),
        None => (s, &[]),
    }
}

fn number(tok: Option<&[u8]>, name: &'static str) -> Result<u64, ParseError> {
    let tok = tok.ok_or(ParseError::MissingArgument(name))?;
    let bad = || ParseError::BadNumber(String::from_utf8_lossy(tok).to_string());
    if tok.is_empty() || tok.len() > 20 || !tok.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    tok.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(bad)
    })
}

/// Arguments of one line, the face deciding how paths are written.
struct Args<'a> {
    face: Face,
    rest: &'a [u8],
}

impl<'a> Args<'a> {
    fn token(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (t, r) = split_word(self.rest);
        self.rest = r;
        Some(t)
    }

    /// The path argument; `None` when absent.
    fn path(&mut self) -> Result<Option<Vec<u8>>, ParseError> {
        match self.face {
            // A person's path is the rest of the line, spaces included.
            Face::Human => {
                let p = core::mem::take(&mut self.rest);
                Ok((!p.is_empty()).then(|| p.to_vec()))
            }
            Face::Framed => match self.token() {
                None => Ok(None),
                Some(t) => pct_decode(t).map(Some).map_err(ParseError::BadPath),
            },
        }
    }

    fn required_path(&mut self) -> Result<Vec<u8>, ParseError> {
        self.path()?.ok_or(ParseError::MissingArgument("PATH"))
    }

    fn end(self) -> Result<(), ParseError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ParseError::ExtraArgument)
        }
    }
}

/// Parses one input line (without or with its newline). `None` for a blank line
/// (the console turns CR into LF, so `\r\n` from a host gives an extra empty line).
pub fn parse_line(line: &[u8]) -> Option<(Face, Result<Request, ParseError>)> {
    let line = trim(line);
    if line.is_empty() {
        return None;
    }
    let (face, body) = match line.strip_prefix(b"@") {
        Some(rest) => (Face::Framed, rest),
        None => (Face::Human, line),
    };
    if line.len() > MAX_LINE {
        return Some((face, Err(ParseError::TooLong(line.len()))));
    }
    Some((face, parse_body(face, body)))
}

fn parse_body(face: Face, body: &[u8]) -> Result<Request, ParseError> {
    let (word, rest) = split_word(body);
    let mut args = Args { face, rest };
    let req = match word {
        b"help" => Request::Help,
        b"ping" => Request::Ping,
        b"info" => Request::Info,
        b"quit" | b"exit" => Request::Quit,
        b"get" | b"cat" => Request::Get(args.required_path()?),
        b"ls" => Request::Ls(args.path()?.unwrap_or_default()),
        b"stat" => Request::Stat(args.path()?.unwrap_or_default()),
        b"digest" => Request::Digest(args.required_path()?),
        b"range" => {
            let offset = number(args.token(), "OFFSET")?;
            let len = number(args.token(), "LEN")?;
            let path = args.required_path()?;
            Request::Range { offset, len, path }
        }
        other => {
            return Err(ParseError::Unknown(
                String::from_utf8_lossy(other).to_string(),
            ))
        }
    };
    args.end()?;
    Ok(req)
}

/// The framed request line for `req`, newline included (host side).
pub fn encode_request(req: &Request) -> Vec<u8> {
    let mut s = String::from("@");
    let path_arg = |s: &mut String, p: &[u8]| {
        s.push(' ');
        if p.is_empty() {
            s.push('/');
        } else {
            pct_encode(p, s);
        }
    };
    match req {
        Request::Help => s.push_str("help"),
        Request::Ping => s.push_str("ping"),
        Request::Info => s.push_str("info"),
        Request::Quit => s.push_str("quit"),
        Request::Get(p) => {
            s.push_str("get");
            path_arg(&mut s, p);
        }
        Request::Ls(p) => {
            s.push_str("ls");
            path_arg(&mut s, p);
        }
        Request::Stat(p) => {
            s.push_str("stat");
            path_arg(&mut s, p);
        }
        Request::Digest(p) => {
            s.push_str("digest");
            path_arg(&mut s, p);
        }
        Request::Range { offset, len, path } => {
            s.push_str(&alloc::format!("range {offset} {len}"));
            path_arg(&mut s, path);
        }
    }
    s.push('\n');
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ok(line: &[u8]) -> (Face, Request) {
        let (f, r) = parse_line(line).unwrap();
        (f, r.unwrap())
    }

    #[test]
    fn human_requests() {
        assert_eq!(ok(b"help\n"), (Face::Human, Request::Help));
        assert_eq!(ok(b"ls"), (Face::Human, Request::Ls(vec![])));
        assert_eq!(
            ok(b" ls  src/a b \r"),
            (Face::Human, Request::Ls(b"src/a b".to_vec()))
        );
        assert_eq!(
            ok(b"cat README.md"),
            (Face::Human, Request::Get(b"README.md".to_vec()))
        );
        assert_eq!(
            ok(b"range 3 10 x y"),
            (
                Face::Human,
                Request::Range {
                    offset: 3,
                    len: 10,
                    path: b"x y".to_vec()
                }
            )
        );
        assert_eq!(parse_line(b"\0\0\0\r\n"), None);
        assert_eq!(
            parse_line(b"cat").unwrap().1,
            Err(ParseError::MissingArgument("PATH"))
        );
        assert_eq!(
            parse_line(b"info now").unwrap().1,
            Err(ParseError::ExtraArgument)
        );
    }

    #[test]
    fn framed_requests() {
        assert_eq!(
            ok(b"@get a%20b/%00c"),
            (Face::Framed, Request::Get(b"a b/\0c".to_vec()))
        );
        assert_eq!(ok(b"@ls"), (Face::Framed, Request::Ls(vec![])));
        assert_eq!(ok(b"@ls /"), (Face::Framed, Request::Ls(b"/".to_vec())));
        assert_eq!(
            parse_line(b"@get a b").unwrap().1,
            Err(ParseError::ExtraArgument)
        );
        assert_eq!(
            parse_line(b"@range 1 x f").unwrap().1,
            Err(ParseError::BadNumber("x".into()))
        );
        assert_eq!(
            parse_line(b"@range 99999999999999999999 1 f").unwrap().1,
            Err(ParseError::BadNumber("99999999999999999999".into()))
        );
        assert_eq!(
            parse_line(b"@range -1 1 f").unwrap().1,
            Err(ParseError::BadNumber("-1".into()))
        );
        assert_eq!(
            parse_line(b"@get a%2").unwrap().1,
            Err(ParseError::BadPath(PctError::BadEscape))
        );
        assert!(matches!(
            parse_line(b"@nope").unwrap(),
            (Face::Framed, Err(ParseError::Unknown(_)))
        ));
    }

    #[test]
    fn overlong_lines() {
        let mut line = b"@get ".to_vec();
        line.resize(MAX_LINE + 1, b'a');
        assert_eq!(
            parse_line(&line),
            Some((Face::Framed, Err(ParseError::TooLong(MAX_LINE + 1))))
        );
        line.truncate(MAX_LINE);
        assert!(parse_line(&line).unwrap().1.is_ok());
    }

    #[test]
    fn encoded_requests_parse_back() {
        let all: Vec<u8> = (1..=255u8).collect();
        for req in [
            Request::Help,
            Request::Ping,
            Request::Info,
            Request::Quit,
            Request::Get(all.clone()),
            Request::Ls(b"dir/sub".to_vec()),
            Request::Stat(b"with space\nnewline".to_vec()),
            Request::Digest(b"%".to_vec()),
            Request::Range {
                offset: u64::MAX,
                len: 0,
                path: b"@x=y".to_vec(),
            },
        ] {
            let line = encode_request(&req);
            assert_eq!(line.last(), Some(&b'\n'));
            assert!(line[..line.len() - 1]
                .iter()
                .all(|b| b.is_ascii_graphic() || *b == b' '));
            assert_eq!(ok(&line), (Face::Framed, req));
        }
        // The root travels as "/".
        assert_eq!(encode_request(&Request::Ls(vec![])), b"@ls /\n");
    }
}
