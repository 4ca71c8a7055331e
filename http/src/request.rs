//! Request heads: parsed with `httparse`, under the size limits.

use crate::Limits;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other,
}

/// The parts of a request head the server acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub method: Method,
    pub target: Vec<u8>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub hosts: usize,
    /// `Connection: close` was sent.
    pub close: bool,
    /// `Connection: keep-alive` was sent.
    pub keep_alive: bool,
    /// All `If-None-Match` lines, joined with `,`.
    pub if_none_match: Option<Vec<u8>>,
    pub if_modified_since: Option<Vec<u8>>,
    /// `None` also when there were several `Range` lines (then ignored).
    pub range: Option<Vec<u8>>,
    pub if_range: Option<Vec<u8>>,
    /// The request carries a body (which the server does not read: it closes after).
    pub has_body: bool,
}

/// Outcome of parsing the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Need more bytes.
    Partial,
    /// A head of this many bytes.
    Done(Head, usize),
    /// Refused with this status; the connection closes after the answer.
    Fail(u16),
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

fn append(slot: &mut Option<Vec<u8>>, value: &[u8]) {
    match slot {
        Some(v) => {
            v.push(b',');
            v.extend_from_slice(value);
        }
        None => *slot = Some(value.to_vec()),
    }
}

/// Length of the request line, leading empty lines included, if its end is in `buf`.
fn line_len(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") || buf[start..].starts_with(b"\n") {
        start += if buf[start] == b'\r' { 2 } else { 1 };
    }
    buf[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| start + p + 1)
}

/// Parses a head at the start of `buf`.
pub fn parse(buf: &[u8], limits: &Limits) -> Parsed {
    // The request line limit counts the CRLF too.
    let max_line = limits.max_request_line + 2;
    let line = match line_len(buf) {
        Some(n) if n > max_line => return Parsed::Fail(414),
        Some(n) => n,
        None if buf.len() > max_line => return Parsed::Fail(414),
        None => return Parsed::Partial,
    };
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() - line > limits.max_header_bytes {
                return Parsed::Fail(431);
            }
            return Parsed::Partial;
        }
        Err(httparse::Error::TooManyHeaders) => return Parsed::Fail(431),
        Err(httparse::Error::Version) => return Parsed::Fail(505),
        Err(_) => return Parsed::Fail(400),
    };
    if n - line > limits.max_header_bytes {
        return Parsed::Fail(431);
    }
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => Method::Other,
    };
    let mut head = Head {
        method,
        target: req.path.unwrap_or("").as_bytes().to_vec(),
        minor: req.version.unwrap_or(1),
        hosts: 0,
        close: false,
        keep_alive: false,
        if_none_match: None,
        if_modified_since: None,
        range: None,
        if_range: None,
        has_body: false,
    };
    let mut ranges = 0;
    let mut content_length: Option<&[u8]> = None;
    let mut chunked = false;
    for h in req.headers.iter() {
        let (name, v) = (h.name, h.value);
        if name.eq_ignore_ascii_case("host") {
            head.hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            head.close |= has_token(v, b"close");
            head.keep_alive |= has_token(v, b"keep-alive");
        } else if name.eq_ignore_ascii_case("if-none-match") {
            append(&mut head.if_none_match, v);
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            head.if_modified_since = Some(v.to_vec());
        } else if name.eq_ignore_ascii_case("range") {
            ranges += 1;
            head.range = Some(v.to_vec());
        } else if name.eq_ignore_ascii_case("if-range") {
            head.if_range = Some(v.to_vec());
        } else if name.eq_ignore_ascii_case("content-length") {
            // Several lines must agree (RFC 9112 section 6.3).
            if content_length.is_some_and(|c| c.trim_ascii() != v.trim_ascii()) {
                return Parsed::Fail(400);
            }
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
    }
    if ranges > 1 {
        head.range = None;
    }
    if let Some(cl) = content_length {
        if chunked {
            return Parsed::Fail(400);
        }
        let cl = cl.trim_ascii();
        if cl.is_empty() || !cl.iter().all(u8::is_ascii_digit) {
            return Parsed::Fail(400);
        }
        head.has_body = cl.iter().any(|&b| b != b'0');
    }
    head.has_body |= chunked;
    Parsed::Done(head, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Parsed {
        parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn complete_and_partial() {
        let Parsed::Done(h, n) = p("GET /a HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\n\r\nGET")
        else {
            panic!("not parsed")
        };
        assert_eq!(n, 46);
        assert_eq!((h.method, h.minor, h.hosts), (Method::Get, 1, 1));
        assert_eq!(h.target, b"/a");
        assert_eq!(h.range.as_deref(), Some(&b"bytes=1-2"[..]));
        assert_eq!(p("GET /a HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
        assert_eq!(p("GET /a HT"), Parsed::Partial);
        assert_eq!(p(""), Parsed::Partial);
    }

    #[test]
    fn headers_of_interest() {
        let Parsed::Done(h, _) = p("HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\nIf-None-Match: \"a\"\r\nif-none-match: \"b\"\r\nRange: bytes=1-\r\nRANGE: bytes=2-\r\n\r\n") else {
            panic!()
        };
        assert_eq!(
            (h.method, h.minor, h.keep_alive, h.close),
            (Method::Head, 0, true, false)
        );
        assert_eq!(h.if_none_match.as_deref(), Some(&b"\"a\",\"b\""[..]));
        assert_eq!(h.range, None, "two Range lines are ignored");
    }

    #[test]
    fn bodies_and_errors() {
        let done = |s| match p(s) {
            Parsed::Done(h, _) => Some(h.has_body),
            _ => None,
        };
        assert_eq!(
            done("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Some(false)
        );
        assert_eq!(
            done("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Some(true)
        );
        assert_eq!(
            done("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(true)
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Parsed::Fail(400)
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Parsed::Fail(400)
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Fail(400)
        );
        assert_eq!(p("GET / HTTP/2.0\r\n\r\n"), Parsed::Fail(505));
        assert_eq!(
            p("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"),
            Parsed::Fail(400)
        );
        assert_eq!(p("G(T / HTTP/1.1\r\n\r\n"), Parsed::Fail(400));
    }

    #[test]
    fn limits() {
        let l = Limits::default();
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(l.max_request_line));
        assert_eq!(p(&long), Parsed::Fail(414));
        // Without the end of the line in sight yet.
        assert_eq!(p(&long[..l.max_request_line + 10]), Parsed::Fail(414));
        let fits = format!(
            "GET /{} HTTP/1.1\r\n\r\n",
            "a".repeat(l.max_request_line - 15)
        );
        assert!(matches!(p(&fits), Parsed::Done(..)));
        let many: String = (0..65).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            p(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Parsed::Fail(431)
        );
        let big = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n",
            "v".repeat(l.max_header_bytes)
        );
        assert_eq!(p(&big), Parsed::Fail(431), "partial head over the limit");
        assert_eq!(p(&format!("{big}\r\n")), Parsed::Fail(431));
    }
}
