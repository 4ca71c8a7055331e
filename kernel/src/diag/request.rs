//! Diagnostic console requests: one request per input line, one response line each.
//!
//! Requests (words separated by spaces; numbers are decimal or `0x` hex):
//! - `ping` -> `pong`
//! - `echo TEXT` -> `TEXT`
//! - `help` -> `commands: ...`
//! - `blkinfo` -> `disk bytes=N`
//! - `blkread OFFSET LEN` -> `blkread offset=O len=L sha1=HEX` (SHA-1 of the bytes read)
//! - `blkhex OFFSET LEN` -> `blkhex offset=O len=L hex=HEX` (LEN <= 4096)
//! - `blkbench MIB [REQ_KIB]` -> `blkbench bytes=N req=R secs=S mib_s=T`
//! - `escbench BYTES` -> a framed `=OK BYTES escbench` response (escaped, as `@get`),
//!   then `escbench bytes=N wire=W secs=S mb_s=R`
//! - `hexbench BYTES` -> `hexbench BYTES`, lines of hex, then `hexbench bytes=N ...`
//! - `com2bench BYTES [poll|fifo]` -> the raw bytes on COM2, then on stdout
//!   `com2bench bytes=N wire=N secs=S mb_s=R mode=M crc=HEX` (see `bench.rs`)
//! - `quit` -> `bye`, then the application exits with status 0
//! - `fail` -> `failing on request`, then the application exits with status 1
//!
//! Failures answer `error: MESSAGE` and the service goes on. Empty lines are ignored:
//! the serial console turns CR into LF, so `\r\n` from a host arrives as two newlines.

use core::fmt;

/// Largest transfer benchmark size.
pub const MAX_BYTES: u64 = 1 << 30;

/// How COM2 is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Com2Mode {
    /// Line status polled before every byte (as Hermit does on COM1).
    Polled,
    /// Polled once per 16 bytes (the 16550A transmit FIFO).
    Fifo,
}

impl Com2Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Com2Mode::Polled => "poll",
            Com2Mode::Fifo => "fifo",
        }
    }
}

/// Largest `blkhex` length: a response line stays below 8 KiB.
pub const MAX_HEX_LEN: u64 = 4096;

/// One parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping,
    Echo(String),
    Help,
    BlkInfo,
    BlkRead { offset: u64, len: u64 },
    BlkHex { offset: u64, len: u64 },
    BlkBench { mib: u64, req_kib: u64 },
    EscBench { bytes: u64 },
    HexBench { bytes: u64 },
    Com2Bench { bytes: u64, mode: Com2Mode },
    Quit,
    Fail,
}

/// Why a request line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Unknown(String),
    MissingArgument(&'static str),
    ExtraArgument(String),
    BadNumber(String),
    BadMode(String),
    TooLong { len: u64, max: u64 },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown(w) => write!(f, "unknown command {w:?} (try `help`)"),
            ParseError::MissingArgument(a) => write!(f, "missing argument {a}"),
            ParseError::ExtraArgument(a) => write!(f, "unexpected argument {a:?}"),
            ParseError::BadNumber(n) => write!(f, "not a number: {n:?}"),
            ParseError::BadMode(m) => write!(f, "mode {m:?}: expected poll or fifo"),
            ParseError::TooLong { len, max } => write!(f, "length {len} is above the limit {max}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// One-line summary of every request, the answer to `help`.
pub const HELP: &str = "commands: ping | echo TEXT | help | blkinfo | blkread OFFSET LEN | \
                        blkhex OFFSET LEN | blkbench MIB [REQ_KIB] | escbench BYTES | hexbench BYTES | \
                        com2bench BYTES [poll|fifo] | quit | fail";

/// Parses one line; `Ok(None)` for a blank line.
pub fn parse(line: &str) -> Result<Option<Request>, ParseError> {
    let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if line.is_empty() {
        return Ok(None);
    }
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim_start()),
        None => (line, ""),
    };
    let mut args = rest.split_whitespace();
    let req = match word {
        "ping" => Request::Ping,
        "echo" => return Ok(Some(Request::Echo(rest.to_string()))),
        "help" => Request::Help,
        "blkinfo" => Request::BlkInfo,
        "blkread" => Request::BlkRead {
            offset: number(args.next(), "OFFSET")?,
            len: number(args.next(), "LEN")?,
        },
        "blkhex" => {
            let offset = number(args.next(), "OFFSET")?;
            let len = number(args.next(), "LEN")?;
            if len > MAX_HEX_LEN {
                return Err(ParseError::TooLong {
                    len,
                    max: MAX_HEX_LEN,
                });
            }
            Request::BlkHex { offset, len }
        }
        "blkbench" => {
            let mib = number(args.next(), "MIB")?;
            let req_kib = match args.next() {
                Some(a) => number(Some(a), "REQ_KIB")?,
                None => 256,
            };
            Request::BlkBench { mib, req_kib }
        }
        "escbench" => Request::EscBench {
            bytes: bench_size(args.next())?,
        },
        "hexbench" => Request::HexBench {
            bytes: bench_size(args.next())?,
        },
        "com2bench" => {
            let bytes = bench_size(args.next())?;
            let mode = match args.next() {
                None | Some("fifo") => Com2Mode::Fifo,
                Some("poll") => Com2Mode::Polled,
                Some(other) => return Err(ParseError::BadMode(other.to_string())),
            };
            Request::Com2Bench { bytes, mode }
        }
        "quit" => Request::Quit,
        "fail" => Request::Fail,
        other => return Err(ParseError::Unknown(other.to_string())),
    };
    match args.next() {
        Some(extra) => Err(ParseError::ExtraArgument(extra.to_string())),
        None => Ok(Some(req)),
    }
}

fn number(arg: Option<&str>, name: &'static str) -> Result<u64, ParseError> {
    let arg = arg.ok_or(ParseError::MissingArgument(name))?;
    let parsed = match arg.strip_prefix("0x").or_else(|| arg.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => arg.parse(),
    };
    parsed.map_err(|_| ParseError::BadNumber(arg.to_string()))
}

fn bench_size(arg: Option<&str>) -> Result<u64, ParseError> {
    let bytes = number(arg, "BYTES")?;
    if bytes > MAX_BYTES {
        return Err(ParseError::TooLong {
            len: bytes,
            max: MAX_BYTES,
        });
    }
    Ok(bytes)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_requests() {
        assert_eq!(parse("ping"), Ok(Some(Request::Ping)));
        assert_eq!(parse("  help \r"), Ok(Some(Request::Help)));
        assert_eq!(parse("quit\0\0\0"), Ok(Some(Request::Quit)));
        assert_eq!(parse("fail"), Ok(Some(Request::Fail)));
        assert_eq!(parse("blkinfo"), Ok(Some(Request::BlkInfo)));
    }

    #[test]
    fn blank_lines_are_ignored() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse(" \r"), Ok(None));
        assert_eq!(parse("\0\0\0"), Ok(None));
    }

    #[test]
    fn echo_keeps_inner_spacing() {
        assert_eq!(parse("echo a  b"), Ok(Some(Request::Echo("a  b".into()))));
        assert_eq!(parse("echo"), Ok(Some(Request::Echo(String::new()))));
    }

    #[test]
    fn numbers_decimal_and_hex() {
        assert_eq!(
            parse("blkread 0x10 4097"),
            Ok(Some(Request::BlkRead {
                offset: 16,
                len: 4097
            }))
        );
        assert_eq!(parse("blkread 1 x"), Err(ParseError::BadNumber("x".into())));
        assert_eq!(parse("blkread 1"), Err(ParseError::MissingArgument("LEN")));
        assert_eq!(
            parse("blkread 1 2 3"),
            Err(ParseError::ExtraArgument("3".into()))
        );
        assert_eq!(
            parse("blkread -1 2"),
            Err(ParseError::BadNumber("-1".into()))
        );
    }

    #[test]
    fn limits_and_defaults() {
        assert_eq!(
            parse("blkhex 0 4097"),
            Err(ParseError::TooLong {
                len: 4097,
                max: MAX_HEX_LEN
            })
        );
        assert_eq!(
            parse("blkbench 64"),
            Ok(Some(Request::BlkBench {
                mib: 64,
                req_kib: 256
            }))
        );
    }

    #[test]
    fn bench_requests() {
        assert_eq!(
            parse("escbench 0x400000"),
            Ok(Some(Request::EscBench { bytes: 4 << 20 }))
        );
        assert_eq!(
            parse("hexbench 10"),
            Ok(Some(Request::HexBench { bytes: 10 }))
        );
        assert_eq!(
            parse("com2bench 5"),
            Ok(Some(Request::Com2Bench {
                bytes: 5,
                mode: Com2Mode::Fifo
            }))
        );
        assert_eq!(
            parse("com2bench 5 poll"),
            Ok(Some(Request::Com2Bench {
                bytes: 5,
                mode: Com2Mode::Polled
            }))
        );
        assert_eq!(
            parse("com2bench 5 fast"),
            Err(ParseError::BadMode("fast".into()))
        );
        assert_eq!(parse("escbench"), Err(ParseError::MissingArgument("BYTES")));
        assert!(matches!(
            parse("hexbench 1073741825"),
            Err(ParseError::TooLong { .. })
        ));
    }

    #[test]
    fn unknown_and_extra() {
        assert_eq!(parse("PING"), Err(ParseError::Unknown("PING".into())));
        assert_eq!(
            parse("ping now"),
            Err(ParseError::ExtraArgument("now".into()))
        );
    }

    #[test]
    fn hex_encoding() {
        assert_eq!(hex(&[0, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
