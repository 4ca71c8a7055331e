//! From a parsed request to a reply: path resolution, conditionals, ranges, listings.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::content::{Content, ContentError, DirEntry, Kind, Node};
use crate::date::{format_http_date, parse_http_date};
use crate::path::{encode_path, html_escape, join, parse_target, pct_encode};
use crate::request::{Head, Method};
use crate::{mime, Limits};

/// Symlinks followed while resolving one path, in all.
pub const MAX_SYMLINK_HOPS: u32 = 8;
/// A longer symlink target is not followed.
const MAX_LINK_TARGET: u64 = 4096;

/// What follows the head.
pub enum Body {
    None,
    Mem(Vec<u8>),
    /// `len` bytes of the blob at `path` from `offset`; `first` is already read (verified).
    Blob {
        path: Vec<u8>,
        offset: u64,
        len: u64,
        first: Vec<u8>,
    },
    /// `len` bytes of a verified blob from `offset`.
    Shared {
        data: Arc<[u8]>,
        offset: u64,
        len: u64,
    },
}

pub struct Reply {
    pub status: u16,
    /// `None` only for 304.
    pub content_length: Option<u64>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    pub close: bool,
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// A small HTML page for an error or a redirect.
pub fn error_reply(status: u16, head_only: bool, close: bool) -> Reply {
    let r = reason(status);
    let page = format!(
        "<!doctype html>\n<html><head><title>{status} {r}</title></head>\
         <body><h1>{status} {r}</h1></body></html>\n"
    );
    Reply {
        status,
        content_length: Some(page.len() as u64),
        headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
        body: if head_only {
            Body::None
        } else {
            Body::Mem(page.into_bytes())
        },
        close,
    }
}

/// Why a path did not resolve to a node.
enum Miss {
    NotFound,
    Failed(ContentError),
}

impl From<ContentError> for Miss {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::NotFound => Miss::NotFound,
            other => Miss::Failed(other),
        }
    }
}

fn read_all<C: Content>(c: &mut C, path: &[u8], size: u64) -> Result<Vec<u8>, ContentError> {
    let mut out = Vec::new();
    while (out.len() as u64) < size {
        let part = c.read(path, out.len() as u64, (size - out.len() as u64) as usize)?;
        if part.is_empty() {
            return Err(ContentError::Corrupt("blob shorter than its size".into()));
        }
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// Follows symlinks inside the tree: relative targets against the link's directory, no
/// absolute target, no `..` above the root, at most [`MAX_SYMLINK_HOPS`]. Any of these
/// gives `NotFound`, like a dangling link.
fn resolve<C: Content>(c: &mut C, comps: &[Vec<u8>]) -> Result<(Vec<u8>, Node), Miss> {
    let whole = join(comps);
    match c.stat(&whole) {
        Ok(n) if n.kind != Kind::Symlink => return Ok((whole, n)),
        Ok(_) | Err(ContentError::NotFound) => {}
        Err(e) => return Err(Miss::Failed(e)),
    }
    // Some component is a symlink: walk one component at a time.
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut todo: VecDeque<Vec<u8>> = comps.iter().cloned().collect();
    let mut hops = 0;
    while let Some(name) = todo.pop_front() {
        match name.as_slice() {
            b"" | b"." => continue,
            b".." => {
                done.pop().ok_or(Miss::NotFound)?;
                continue;
            }
            _ => done.push(name),
        }
        let path = join(&done);
        let node = c.stat(&path)?;
        match node.kind {
            Kind::Dir => {}
            Kind::Symlink => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS || node.size > MAX_LINK_TARGET || node.size == 0 {
                    return Err(Miss::NotFound);
                }
                let target = read_all(c, &path, node.size)?;
                if target.first() == Some(&b'/') {
                    return Err(Miss::NotFound);
                }
                done.pop();
                for seg in target.split(|&b| b == b'/').rev() {
                    todo.push_front(seg.to_vec());
                }
            }
            // Nothing can be below a file (POSIX says ENOTDIR even for `file/..`).
            _ if todo.iter().any(|s| !matches!(s.as_slice(), b"" | b".")) => {
                return Err(Miss::NotFound)
            }
            _ => {}
        }
    }
    let path = join(&done);
    let node = c.stat(&path)?;
    Ok((path, node))
}

fn hex(id: &[u8; 20]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(40);
    for &b in id {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// `If-None-Match` with the weak comparison (RFC 9110 section 13.1.2).
fn none_match(value: &[u8], etag: &str) -> bool {
    let value = value.trim_ascii();
    value == b"*"
        || value.split(|&b| b == b',').any(|t| {
            let t = t.trim_ascii();
            t.strip_prefix(b"W/").unwrap_or(t) == etag.as_bytes()
        })
}

#[derive(Debug, PartialEq, Eq)]
enum RangeReq {
    Full,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// A single byte range; anything else (several ranges, other units, bad syntax) is
/// served in full, as RFC 9110 allows.
fn parse_range(value: &[u8], len: u64) -> RangeReq {
    let v = value.trim_ascii();
    let Some(set) = (v.len() > 6 && v[..6].eq_ignore_ascii_case(b"bytes=")).then(|| &v[6..]) else {
        return RangeReq::Full;
    };
    if set.contains(&b',') {
        return RangeReq::Full;
    }
    let Some(dash) = set.iter().position(|&b| b == b'-') else {
        return RangeReq::Full;
    };
    let (a, b) = (set[..dash].trim_ascii(), set[dash + 1..].trim_ascii());
    if a.is_empty() {
        return match digits(b) {
            None => RangeReq::Full,
            Some(0) => RangeReq::Unsatisfiable,
            // Nothing to express in a Content-Range for an empty file.
            Some(_) if len == 0 => RangeReq::Full,
            Some(n) => RangeReq::Part(len.saturating_sub(n), len - 1),
        };
    }
    let Some(first) = digits(a) else {
        return RangeReq::Full;
    };
    let last = if b.is_empty() {
        None
    } else {
        match digits(b) {
            Some(l) if l >= first => Some(l),
            _ => return RangeReq::Full,
        }
    };
    if first >= len {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Part(first, last.unwrap_or(u64::MAX).min(len - 1))
}

/// The bytes of one representation: a blob or a generated page.
enum Source {
    Blob(Vec<u8>),
    Mem(Vec<u8>),
}

struct Repr {
    len: u64,
    etag: String,
    content_type: &'static str,
    source: Source,
}

/// Plans the answer to one request. `close` is the connection decision so far.
pub fn plan<C: Content>(c: &mut C, head: &Head, close: bool, limits: &Limits) -> Reply {
    let head_only = head.method == Method::Head;
    if head.hosts > 1 || (head.minor == 1 && head.hosts == 0) {
        return error_reply(400, head_only, true);
    }
    if head.method == Method::Other {
        let mut r = error_reply(405, false, close);
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let Ok(target) = parse_target(&head.target) else {
        return error_reply(400, head_only, close);
    };
    let (path, node) = match resolve(c, &target.comps) {
        Ok(found) => found,
        Err(Miss::NotFound) => return error_reply(404, head_only, close),
        Err(Miss::Failed(e)) => return failed(c, head, &e, close),
    };
    let name = target.comps.last().map_or(&b""[..], |n| n.as_slice());
    let repr = match node.kind {
        Kind::File | Kind::Exec if !target.trailing_slash => Repr {
            len: node.size,
            etag: format!("\"{}\"", hex(&node.id)),
            content_type: mime::content_type(name),
            source: Source::Blob(path),
        },
        Kind::Dir if !target.trailing_slash && !target.comps.is_empty() => {
            let mut r = error_reply(301, head_only, close);
            r.headers
                .push(("Location", format!("{}/", encode_path(&target.comps))));
            return r;
        }
        Kind::Dir => match directory(c, &target.comps, &path, &node) {
            Ok(r) => r,
            Err(Miss::NotFound) => return error_reply(404, head_only, close),
            Err(Miss::Failed(e)) => return failed(c, head, &e, close),
        },
        _ => return error_reply(404, head_only, close),
    };
    serve(c, head, repr, close, limits)
}

fn failed<C: Content>(c: &mut C, head: &Head, e: &ContentError, close: bool) -> Reply {
    let target = String::from_utf8_lossy(&head.target);
    c.log(&format!("http: 500 for {target}: {e}"));
    error_reply(500, head.method == Method::Head, close)
}

/// A directory: its `index.html`, else a listing.
fn directory<C: Content>(
    c: &mut C,
    comps: &[Vec<u8>],
    path: &[u8],
    node: &Node,
) -> Result<Repr, Miss> {
    let mut index = comps.to_vec();
    index.push(b"index.html".to_vec());
    match resolve(c, &index) {
        Ok((ipath, inode)) if matches!(inode.kind, Kind::File | Kind::Exec) => {
            return Ok(Repr {
                len: inode.size,
                etag: format!("\"{}\"", hex(&inode.id)),
                content_type: mime::content_type(b"index.html"),
                source: Source::Blob(ipath),
            })
        }
        Ok(_) | Err(Miss::NotFound) => {}
        Err(e) => return Err(e),
    }
    let mut entries = c.list(path)?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let page = listing(comps, &entries);
    Ok(Repr {
        len: page.len() as u64,
        // The page is a function of the tree (and of this code): the tree id names it.
        etag: format!("\"{}-ls\"", hex(&node.id)),
        content_type: "text/html; charset=utf-8",
        source: Source::Mem(page),
    })
}

fn listing(comps: &[Vec<u8>], entries: &[DirEntry]) -> Vec<u8> {
    let mut title = String::new();
    for c in comps {
        title.push('/');
        html_escape(c, &mut title);
    }
    title.push('/');
    let mut s = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<table>\n<tr><th>Name</th><th>Size</th></tr>\n"
    );
    if !comps.is_empty() {
        s.push_str("<tr><td><a href=\"../\">../</a></td><td>-</td></tr>\n");
    }
    for e in entries {
        let mut href = String::from("./");
        pct_encode(&e.name, &mut href);
        let mut shown = String::new();
        html_escape(&e.name, &mut shown);
        let size = match e.kind {
            Kind::File | Kind::Exec => e.size.to_string(),
            Kind::Dir => "-".into(),
            Kind::Symlink => "symlink".into(),
            Kind::Submodule => "submodule".into(),
        };
        // Writing to a String cannot fail.
        let _ = match e.kind {
            Kind::Dir => writeln!(
                s,
                "<tr><td><a href=\"{href}/\">{shown}/</a></td><td>{size}</td></tr>"
            ),
            Kind::Submodule => writeln!(s, "<tr><td>{shown}</td><td>{size}</td></tr>"),
            _ => writeln!(
                s,
                "<tr><td><a href=\"{href}\">{shown}</a></td><td>{size}</td></tr>"
            ),
        };
    }
    s.push_str("</table></body></html>\n");
    s.into_bytes()
}

/// Conditionals, range and body of a found representation.
fn serve<C: Content>(c: &mut C, head: &Head, repr: Repr, close: bool, limits: &Limits) -> Reply {
    let head_only = head.method == Method::Head;
    let last_modified = c.last_modified();
    let lm = format_http_date(last_modified);
    let mut headers = vec![
        ("Content-Type", repr.content_type.to_string()),
        ("ETag", repr.etag.clone()),
        ("Last-Modified", lm.clone()),
        ("Accept-Ranges", "bytes".to_string()),
    ];
    let not_modified = match (&head.if_none_match, &head.if_modified_since) {
        (Some(inm), _) => none_match(inm, &repr.etag),
        (None, Some(ims)) => parse_http_date(ims).is_some_and(|t| last_modified <= t),
        (None, None) => false,
    };
    if not_modified {
        headers.remove(0);
        return Reply {
            status: 304,
            content_length: None,
            headers,
            body: Body::None,
            close,
        };
    }
    let range_applies = head.method == Method::Get
        && head.if_range.as_ref().is_none_or(|v| {
            let v = v.trim_ascii();
            v == repr.etag.as_bytes() || v == lm.as_bytes()
        });
    let range = match &head.range {
        Some(r) if range_applies => parse_range(r, repr.len),
        _ => RangeReq::Full,
    };
    let (status, offset, len) = match range {
        RangeReq::Full => (200, 0, repr.len),
        RangeReq::Part(a, b) => {
            headers.push(("Content-Range", format!("bytes {a}-{b}/{}", repr.len)));
            (206, a, b - a + 1)
        }
        RangeReq::Unsatisfiable => {
            let mut r = error_reply(416, head_only, close);
            r.headers
                .push(("Content-Range", format!("bytes */{}", repr.len)));
            return r;
        }
    };
    let body = if head_only {
        Body::None
    } else {
        match repr.source {
            Source::Mem(page) => Body::Mem(page[offset as usize..(offset + len) as usize].to_vec()),
            Source::Blob(path) => match c.blob(&path) {
                Some(Ok(data)) if data.len() as u64 == repr.len => {
                    Body::Shared { data, offset, len }
                }
                Some(Ok(_)) => {
                    let e = ContentError::Corrupt("blob size differs from the tree's".into());
                    return failed(c, head, &e, close);
                }
                Some(Err(e)) => return failed(c, head, &e, close),
                None => {
                    // The first chunk is read (and so the blob verified) before the status is
                    // sent: corruption still gets its 500.
                    let want = len.min(limits.chunk as u64) as usize;
                    let first = match c.read(&path, offset, want) {
                        Ok(d) if d.len() >= want.min(1) => d[..d.len().min(want)].to_vec(),
                        Ok(_) => {
                            let e = ContentError::Corrupt("blob shorter than its size".into());
                            return failed(c, head, &e, close);
                        }
                        Err(e) => return failed(c, head, &e, close),
                    };
                    Body::Blob {
                        path,
                        offset,
                        len,
                        first,
                    }
                }
            },
        }
    };
    Reply {
        status,
        content_length: Some(len),
        headers,
        body,
        close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeReq::*;
        let r = |s: &str, len| parse_range(s.as_bytes(), len);
        assert_eq!(r("bytes=0-9", 100), Part(0, 9));
        assert_eq!(r("Bytes=10-", 100), Part(10, 99));
        assert_eq!(r("bytes=-10", 100), Part(90, 99));
        assert_eq!(r("bytes=-1000", 100), Part(0, 99));
        assert_eq!(r("bytes=90-1000", 100), Part(90, 99));
        assert_eq!(r("bytes=99-99", 100), Part(99, 99));
        assert_eq!(r("bytes=100-", 100), Unsatisfiable);
        assert_eq!(r("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(r("bytes=-0", 100), Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Full);
        assert_eq!(r("bytes=99999999999999999999999-", 100), Unsatisfiable);
        assert_eq!(r("bytes=0-99999999999999999999999", 100), Part(0, 99));
        for full in [
            "bytes=5-1",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=a-b",
            "bytes=",
            "bytes=-",
            "bytes=1",
        ] {
            assert_eq!(r(full, 100), Full, "{full}");
        }
    }

    #[test]
    fn if_none_match() {
        let e = "\"abc\"";
        assert!(none_match(b"\"abc\"", e));
        assert!(none_match(b"W/\"abc\"", e));
        assert!(none_match(b"\"x\", W/\"abc\" ", e));
        assert!(none_match(b" * ", e));
        assert!(!none_match(b"\"abcd\"", e));
        assert!(!none_match(b"abc", e));
        assert!(!none_match(b"", e));
    }
}
