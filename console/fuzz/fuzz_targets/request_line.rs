//! The kernel's request parser on any line; what parses re-encodes to a line that
//! parses to the same request (when the encoding, up to three bytes per byte, still
//! fits in a request line). The root may be spelt `""` or `"/"`: the encoder writes
//! `/`, as an empty token cannot be written.
#![no_main]

use gitfs_console::{encode_request, parse_line, Request, MAX_LINE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if let Some((_, Ok(req))) = parse_line(line) {
        let again = encode_request(&req);
        let trimmed = again.strip_suffix(b"\n").unwrap_or(&again);
        if trimmed.len() > MAX_LINE {
            return;
        }
        match parse_line(trimmed) {
            Some((_, Ok(back))) => assert_eq!(root_as_slash(back), root_as_slash(req)),
            other => panic!("{req:?} re-encoded as {again:?} parses as {other:?}"),
        }
    }
});

fn root_as_slash(req: Request) -> Request {
    let fix = |p: Vec<u8>| if p.is_empty() { b"/".to_vec() } else { p };
    match req {
        Request::Get(p) => Request::Get(fix(p)),
        Request::Ls(p) => Request::Ls(fix(p)),
        Request::Stat(p) => Request::Stat(fix(p)),
        Request::Digest(p) => Request::Digest(fix(p)),
        Request::Range { offset, len, path } => Request::Range {
            offset,
            len,
            path: fix(path),
        },
        other => other,
    }
}
