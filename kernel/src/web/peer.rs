//! The benchmark peer (`--http-peer`): the least an HTTP server can do, on the same
//! listener, threads and connection handling as the real one, with no file system, no
//! request parsing beyond the end of the head and no lock.
//!
//! `gitfs-bench http` measures it in the same run as the real server: their difference is
//! what gitfs adds; the peer's own figures are what the platform (Hermit's network
//! stack on an emulated CPU, QEMU's user networking) allows.

use std::io::{self, Read, Write};
use std::sync::Arc;

/// What `gitfs-bench http` asks for: a 16 MiB file of its noise from this seed,
/// and 1 KiB files.
pub const BIG: usize = 16 << 20;
pub const SEED: u64 = 42;
pub const SMALL: usize = 1024;

/// Answers one connection from `body`: a request whose target starts with `/big`
/// gets all of it, any other the first `small` bytes. Keep-alive until the peer closes
/// or sends `Connection: close`.
pub fn serve<S: Read + Write>(stream: &mut S, body: &[u8], small: usize) -> io::Result<()> {
    let mut pending: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            let answer = if head.starts_with(b"GET /big") {
                body
            } else {
                &body[..small.min(body.len())]
            };
            let close = contains_ignore_case(&head, b"connection: close");
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n",
                answer.len(),
                if close { "Connection: close\r\n" } else { "" }
            )
            .into_bytes();
            let first = answer.len().min(64 * 1024);
            out.extend_from_slice(&answer[..first]);
            stream.write_all(&out)?;
            for part in answer[first..].chunks(64 * 1024) {
                stream.write_all(part)?;
            }
            if close {
                return Ok(());
            }
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The peer's content: the noise `gitfs-bench http` writes as its large file, so
/// the bench checks the peer's bytes as it checks ours.
pub fn body(len: usize, seed: u64) -> Arc<[u8]> {
    gitfs_testkit::noise(len, seed).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitfs_http::Duplex;

    #[test]
    fn answers_pipelined_requests_until_close() {
        let body = body(100_000, 42);
        let input = b"GET /small/1.txt HTTP/1.1\r\nHost: x\r\n\r\n\
                      GET /big.bin HTTP/1.1\r\nConnection: Close\r\n\r\n\
                      GET /never HTTP/1.1\r\n\r\n";
        let mut d = Duplex {
            input,
            output: Vec::new(),
        };
        serve(&mut d, &body, 1024).unwrap();
        let mut want = b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n".to_vec();
        want.extend_from_slice(&body[..1024]);
        want.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n",
        );
        want.extend_from_slice(&body);
        assert!(d.output == want, "{} bytes", d.output.len());
    }
}
