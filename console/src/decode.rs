//! Host side: a byte-by-byte state machine that finds the next response in the console
//! output, skipping the kernel's echo of the request and any other noise before it.
//!
//! A header is recognised only as `=OK ` or `=ERR ` at the start of a line (NULs
//! between the newline and `=` are ignored: the echo of `\n` is `\n\0\0\0`). The echo of
//! a request can never look like a header: requests start with `@`, and every echoed
//! byte is followed by three NULs, so an echoed `=` is followed by `\0`, not `OK `.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::crc::Crc32;
use crate::response::{needs_escape, ErrorCode, Framing, ESC, TRAILER_LEN};
use crate::MAX_LINE;

/// A decoded response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `fields` are the header words after the length.
    Ok {
        fields: Vec<String>,
        payload: Vec<u8>,
    },
    Err {
        code: String,
        message: String,
    },
}

impl Response {
    /// The error code, when it is one this crate knows.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Response::Err { code, .. } => ErrorCode::parse(code),
            Response::Ok { .. } => None,
        }
    }
}

/// Transfer damage or a protocol violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    BadHeader(String),
    /// A raw 0x08 or 0x7F inside a payload: the console mangled it, or the sender did
    /// not escape.
    RawByte(u8),
    /// [`ESC`] followed by a byte that is not an escape code.
    BadEscape(u8),
    BadTrailer,
    Checksum {
        expected: u32,
        actual: u32,
    },
    /// A payload longer than the decoder's limit.
    TooLarge(u64),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadHeader(h) => write!(f, "malformed response header {h:?}"),
            DecodeError::RawByte(b) => write!(f, "unescaped byte 0x{b:02x} in payload"),
            DecodeError::BadEscape(b) => write!(f, "bad escape sequence 0x10 0x{b:02x}"),
            DecodeError::BadTrailer => write!(f, "malformed response trailer"),
            DecodeError::Checksum { expected, actual } => write!(
                f,
                "payload CRC-32 mismatch: trailer says {expected:08x}, data has {actual:08x}"
            ),
            DecodeError::TooLarge(n) => write!(f, "payload of {n} bytes is over the limit"),
        }
    }
}

enum State {
    Seek { line_start: bool },
    Header(Vec<u8>),
    Payload { need: u64, esc: bool },
    Trailer(Vec<u8>),
}

type Step = Option<Result<Response, DecodeError>>;

/// Finds and decodes responses in a byte stream; feed it whatever the console gives.
pub struct Decoder {
    state: State,
    fields: Vec<String>,
    payload: Vec<u8>,
    crc: Crc32,
    skipped: u64,
    max_payload: u64,
    framing: Framing,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            state: State::Seek { line_start: true },
            fields: Vec::new(),
            payload: Vec::new(),
            crc: Crc32::new(),
            skipped: 0,
            max_payload: u64::MAX,
            framing: Framing::Escaped,
        }
    }

    /// Payloads framed as `framing` ([`Framing::Escaped`] unless told).
    pub fn with_framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Refuse payloads announced longer than `max` bytes.
    pub fn with_max_payload(mut self, max: u64) -> Self {
        self.max_payload = max;
        self
    }

    /// Bytes skipped so far as noise (echo, log lines).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// True between responses, when no header has been seen yet.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Seek { .. })
    }

    /// Consumes bytes of `input` up to the end of the next response. Returns how many
    /// bytes were used and, when one finished, the response or the error. Feed the rest
    /// of `input` again for the following response.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Step) {
        let mut i = 0;
        while i < input.len() {
            let (used, step) = self.step(&input[i..]);
            i += used;
            if let Some(r) = step {
                if r.is_err() {
                    self.reset(false);
                }
                return (i, Some(r));
            }
        }
        (i, None)
    }

    fn reset(&mut self, line_start: bool) {
        self.state = State::Seek { line_start };
        self.fields.clear();
        self.payload = Vec::new();
        self.crc = Crc32::new();
    }

    /// One transition; `input` is not empty.
    fn step(&mut self, input: &[u8]) -> (usize, Step) {
        match &mut self.state {
            State::Seek { line_start } => {
                let b = input[0];
                match b {
                    b'=' if *line_start => self.state = State::Header(alloc::vec![b]),
                    b'\n' => {
                        *line_start = true;
                        self.skipped += 1;
                    }
                    0 => self.skipped += 1,
                    _ => {
                        *line_start = false;
                        self.skipped += 1;
                    }
                }
                (1, None)
            }
            State::Header(h) => {
                let b = input[0];
                if b == b'\n' {
                    let line = core::mem::take(h);
                    return (1, self.header_done(line));
                }
                if b == 0 || h.len() > MAX_LINE {
                    // An echoed '=' (followed by NULs) or a long line of noise.
                    self.skipped += h.len() as u64 + 1;
                    self.state = State::Seek {
                        line_start: b == b'\n',
                    };
                } else {
                    h.push(b);
                }
                (1, None)
            }
            State::Payload { need, esc } => {
                if *esc {
                    let b = input[0];
                    let v = b ^ 0x40;
                    if !needs_escape(v) {
                        return (1, Some(Err(DecodeError::BadEscape(b))));
                    }
                    *esc = false;
                    *need -= 1;
                    self.payload.push(v);
                    self.crc.update(&[v]);
                    let done = *need == 0;
                    if done {
                        self.state = State::Trailer(Vec::with_capacity(TRAILER_LEN));
                    }
                    return (1, None);
                }
                let take = input
                    .len()
                    .min(usize::try_from(*need).unwrap_or(usize::MAX));
                let chunk = &input[..take];
                let plain = match self.framing {
                    Framing::Raw => chunk.len(),
                    Framing::Escaped => chunk
                        .iter()
                        .position(|&b| needs_escape(b))
                        .unwrap_or(chunk.len()),
                };
                self.payload.extend_from_slice(&chunk[..plain]);
                self.crc.update(&chunk[..plain]);
                *need -= plain as u64;
                let mut used = plain;
                if plain < chunk.len() {
                    let b = chunk[plain];
                    if b != ESC {
                        return (plain + 1, Some(Err(DecodeError::RawByte(b))));
                    }
                    *esc = true;
                    used += 1;
                }
                if *need == 0 && !*esc {
                    self.state = State::Trailer(Vec::with_capacity(TRAILER_LEN));
                }
                (used, None)
            }
            State::Trailer(t) => {
                t.push(input[0]);
                if t.len() < TRAILER_LEN {
                    return (1, None);
                }
                let t = core::mem::take(t);
                (1, Some(self.trailer_done(&t)))
            }
        }
    }

    fn header_done(&mut self, line: Vec<u8>) -> Step {
        let text = match core::str::from_utf8(&line) {
            Ok(t) if t.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) => t,
            _ => {
                if line.starts_with(b"=OK ") || line.starts_with(b"=ERR ") {
                    let shown = String::from_utf8_lossy(&line).to_string();
                    return Some(Err(DecodeError::BadHeader(shown)));
                }
                self.skipped += line.len() as u64 + 1;
                self.state = State::Seek { line_start: true };
                return None;
            }
        };
        if let Some(rest) = text.strip_prefix("=ERR ") {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            self.reset(true);
            return Some(Ok(Response::Err {
                code: code.to_string(),
                message: message.to_string(),
            }));
        }
        let Some(rest) = text.strip_prefix("=OK ") else {
            // Some other line starting with '=': noise.
            self.skipped += line.len() as u64 + 1;
            self.state = State::Seek { line_start: true };
            return None;
        };
        let bad = || Some(Err(DecodeError::BadHeader(text.to_string())));
        let mut words = rest.split(' ');
        let len = match words.next() {
            Some(w) if !w.is_empty() && w.len() <= 20 && w.bytes().all(|b| b.is_ascii_digit()) => {
                match w.parse::<u64>() {
                    Ok(n) => n,
                    Err(_) => return bad(),
                }
            }
            _ => return bad(),
        };
        let mut fields = Vec::new();
        for w in words {
            if w.is_empty() {
                return bad();
            }
            fields.push(w.to_string());
        }
        if len > self.max_payload {
            return Some(Err(DecodeError::TooLarge(len)));
        }
        self.fields = fields;
        // Damaged lengths must not allocate wildly: grow as bytes arrive past 1 MiB.
        self.payload = Vec::with_capacity(len.min(1 << 20) as usize);
        self.crc = Crc32::new();
        self.state = if len == 0 {
            State::Trailer(Vec::with_capacity(TRAILER_LEN))
        } else {
            State::Payload {
                need: len,
                esc: false,
            }
        };
        None
    }

    fn trailer_done(&mut self, t: &[u8]) -> Result<Response, DecodeError> {
        let hex = match (t.strip_prefix(b"\n=END "), t.last()) {
            (Some(rest), Some(b'\n')) => &rest[..8],
            _ => return Err(DecodeError::BadTrailer),
        };
        let mut expected = 0u32;
        for &c in hex {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return Err(DecodeError::BadTrailer),
            };
            expected = (expected << 4) | u32::from(d);
        }
        let actual = self.crc.finish();
        if expected != actual {
            return Err(DecodeError::Checksum { expected, actual });
        }
        let resp = Response::Ok {
            fields: core::mem::take(&mut self.fields),
            payload: core::mem::take(&mut self.payload),
        };
        self.reset(true);
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{encode_request, Request};
    use crate::response::{err_header, ok_header, Framer};
    use alloc::vec;
    use gitfs_testkit::console::{echo, output as console_out};
    use gitfs_testkit::Xorshift;

    fn frame(payload: &[u8], fields: &[&str], chunk: usize) -> Vec<u8> {
        frame_as(Framing::Escaped, payload, fields, chunk)
    }

    fn frame_as(framing: Framing, payload: &[u8], fields: &[&str], chunk: usize) -> Vec<u8> {
        let mut out = ok_header(payload.len() as u64, fields).into_bytes();
        let mut f = Framer::with_framing(payload.len() as u64, framing);
        for c in payload.chunks(chunk.max(1)) {
            f.chunk(c, &mut out);
        }
        out.extend_from_slice(&f.finish().unwrap());
        out
    }

    fn decode_all(stream: &[u8]) -> Vec<Result<Response, DecodeError>> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            let (n, r) = d.feed(rest);
            rest = &rest[n..];
            out.extend(r);
        }
        out
    }

    fn ok(payload: &[u8], fields: &[&str]) -> Result<Response, DecodeError> {
        Ok(Response::Ok {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            payload: payload.to_vec(),
        })
    }

    #[test]
    fn all_byte_values_survive_the_console() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        let wire = frame(&all, &["x"], 7);
        assert_eq!(console_out(&wire), wire, "escaped stream is console-safe");
        assert_eq!(decode_all(&wire), vec![ok(&all, &["x"])]);
    }

    #[test]
    fn random_round_trips_fed_in_random_pieces() {
        let mut rng = Xorshift::new(0x9E37_79B9_7F4A_7C15);
        for round in 0..200 {
            let len = (rng.next_u64() % 5000) as usize;
            // Some rounds are dense in the bytes that need escaping.
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next_u64();
                    if round % 3 == 0 {
                        [0x08, 0x7F, ESC, b'\n', 0][(r % 5) as usize]
                    } else {
                        r as u8
                    }
                })
                .collect();
            let mut wire = console_out(&echo(b"@get some/file\r\n"));
            wire.extend(console_out(&frame(
                &data,
                &["f", "100644"],
                1 + (rng.next_u64() % 999) as usize,
            )));
            let mut d = Decoder::new();
            let mut got = None;
            let mut pos = 0;
            while pos < wire.len() {
                let n = 1 + (rng.next_u64() % 300) as usize;
                let piece = &wire[pos..(pos + n).min(wire.len())];
                let (used, r) = d.feed(piece);
                pos += used;
                if let Some(r) = r {
                    got = Some(r);
                    assert_eq!(pos, wire.len(), "response ends the stream");
                }
            }
            assert_eq!(got, Some(ok(&data, &["f", "100644"])), "round {round}");
            assert!(d.is_idle());
        }
    }

    #[test]
    fn raw_payloads_round_trip_and_stay_checked() {
        let mut rng = Xorshift::new(7);
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for i in 0..50 {
            let len = (rng.next_u64() % 3000) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            wire.extend(frame_as(Framing::Raw, &data, &["r"], 1 + i * 37));
            sent.push(ok(&data, &["r"]));
        }
        let mut d = Decoder::new().with_framing(Framing::Raw);
        let mut got = Vec::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = (1 + rng.next_u64() % 5000) as usize;
            let (used, r) = d.feed(&rest[..n.min(rest.len())]);
            rest = &rest[used..];
            got.extend(r);
        }
        assert_eq!(got, sent, "pipelined raw responses, in order");
        // The escaped decoder refuses raw bytes it cannot have come through the console.
        let raw = frame_as(Framing::Raw, &[1, 0x7F, 2], &[], 3);
        let (_, r) = Decoder::new().feed(&raw);
        assert_eq!(r, Some(Err(DecodeError::RawByte(0x7F))));
        // One flipped payload bit is caught by the CRC.
        let mut bad = frame_as(Framing::Raw, b"payload", &[], 7);
        bad[8] ^= 1;
        let (_, r) = Decoder::new().with_framing(Framing::Raw).feed(&bad);
        assert!(
            matches!(r, Some(Err(DecodeError::Checksum { .. }))),
            "{r:?}"
        );
    }

    #[test]
    fn echo_and_noise_before_headers_are_skipped() {
        let mut wire = Vec::new();
        wire.extend_from_slice(b"[0][INFO] kernel says = hello\n=not a header\ngitfs ready\n");
        // Echo of requests whose bytes include '=' at a line start and "=OK".
        wire.extend(echo(b"@get %3DOK\n"));
        wire.extend(echo(b"=OK 5\n"));
        wire.extend(frame(b"hello", &[], 2));
        wire.extend(echo(&encode_request(&Request::Stat(b"a".to_vec()))));
        wire.extend(err_header(ErrorCode::NotFound, "no such path: a").into_bytes());
        wire.extend(echo(b"@quit\n"));
        wire.extend(frame(b"", &[], 1));
        let got = decode_all(&wire);
        assert_eq!(
            got,
            vec![
                ok(b"hello", &[]),
                Ok(Response::Err {
                    code: "not-found".into(),
                    message: "no such path: a".into()
                }),
                ok(b"", &[]),
            ]
        );
        assert_eq!(
            got[1].as_ref().unwrap().error_code(),
            Some(ErrorCode::NotFound)
        );
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = Xorshift::new(12345);
        for _ in 0..300 {
            let len = (rng.next_u64() % 400) as usize;
            let alphabet = b"=OKER \n\0\x10\x08\x7f0123456789abcdef";
            let junk: Vec<u8> = (0..len)
                .map(|_| alphabet[(rng.next_u64() % alphabet.len() as u64) as usize])
                .collect();
            let mut d = Decoder::new().with_max_payload(1 << 20);
            let mut rest = &junk[..];
            while !rest.is_empty() {
                let (n, _) = d.feed(rest);
                assert!(n > 0 && n <= rest.len());
                rest = &rest[n..];
            }
            let _ = crate::request::parse_line(&junk);
        }
    }

    #[test]
    fn damage_is_detected() {
        let data: Vec<u8> = (0..=255u8).collect();
        let wire = frame(&data, &[], 64);
        // An unescaped 0x7F mangled by the console.
        let mut raw = ok_header(3, &[]).into_bytes();
        raw.extend_from_slice(&[b'a', 0x7F, b'b']);
        raw.extend_from_slice(&crate::response::trailer(crate::crc32(&[b'a', 0x7F, b'b'])));
        assert_eq!(
            decode_all(&console_out(&raw))[0],
            Err(DecodeError::RawByte(0x08))
        );
        // One flipped payload bit.
        let mut flipped = wire.clone();
        let at = flipped.len() - TRAILER_LEN - 100;
        flipped[at] ^= 0x01;
        assert!(matches!(
            decode_all(&flipped)[0],
            Err(DecodeError::Checksum { .. })
        ));
        // A lost byte: the trailer is misaligned once more bytes (the next response)
        // arrive; until then the decoder waits (the host's timeout covers that case).
        let mut lost = wire.clone();
        lost.remove(200);
        assert!(decode_all(&lost).is_empty());
        lost.extend(frame(b"next", &[], 4));
        assert!(decode_all(&lost)[0].is_err());
        // Bad escape, bad header, bad trailer.
        assert_eq!(
            decode_all(b"=OK 1\n\x10A\n=END 00000000\n")[0],
            Err(DecodeError::BadEscape(b'A'))
        );
        assert!(matches!(
            decode_all(b"=OK x\n")[0],
            Err(DecodeError::BadHeader(_))
        ));
        assert!(matches!(
            decode_all(b"=OK 1  f\n")[0],
            Err(DecodeError::BadHeader(_))
        ));
        assert_eq!(
            decode_all(b"=OK 0\n\n=EMD 00000000\n")[0],
            Err(DecodeError::BadTrailer)
        );
        let d = Decoder::new().with_max_payload(10).feed(b"=OK 11\n").1;
        assert_eq!(d, Some(Err(DecodeError::TooLarge(11))));
    }
}
