//! One connection: read heads, answer them in order, stream bodies.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::content::Content;
use crate::request::{self, Parsed};
use crate::respond::{error_reply, plan, reason, Body, Reply};
use crate::Limits;

/// What one connection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Requests answered (errors included).
    pub requests: u64,
    /// Body bytes written.
    pub body_bytes: u64,
}

/// Serves requests on `stream` one at a time until the peer closes, a request asks to
/// close, or an error. Timeouts are the caller's (a read error ends the connection).
pub fn handle_connection<S: Read + Write, C: Content>(
    stream: &mut S,
    content: &mut C,
    limits: &Limits,
) -> io::Result<ConnStats> {
    let mut stats = ConnStats::default();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        match request::parse(&buf, limits) {
            Parsed::Done(head, n) => {
                buf.drain(..n);
                let mut close = if head.minor == 0 {
                    !head.keep_alive
                } else {
                    head.close
                };
                // The body is not read, so the next request could not be found.
                close |= head.has_body;
                close |= stats.requests + 1 >= limits.max_requests;
                let mut reply = plan(content, &head, close, limits);
                if head.minor == 0 && !reply.close {
                    reply.headers.push(("Connection", "keep-alive".into()));
                }
                stats.requests += 1;
                write_reply(stream, content, reply, limits, &mut stats)?;
                if close {
                    return Ok(stats);
                }
            }
            Parsed::Fail(status) => {
                stats.requests += 1;
                write_reply(
                    stream,
                    content,
                    error_reply(status, false, true),
                    limits,
                    &mut stats,
                )?;
                return Ok(stats);
            }
            Parsed::Partial => {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Ok(stats);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// Ends a TCP connection so the last answer arrives: closing a socket with unread bytes
/// (a request body, the rest of a refused request) makes TCP send a reset, which can
/// destroy the answer before the client reads it. So: send FIN, then read and drop what
/// the client still sends (at most 256 KiB, for at most `linger`).
pub fn close_gracefully(stream: &mut TcpStream, linger: Duration) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(linger));
    let deadline = Instant::now() + linger;
    let mut chunk = [0u8; 4096];
    let mut left: usize = 256 * 1024;
    while left > 0 && Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn write_reply<S: Write, C: Content>(
    stream: &mut S,
    content: &mut C,
    reply: Reply,
    limits: &Limits,
    stats: &mut ConnStats,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nServer: gitfs\r\n",
        reply.status,
        reason(reply.status)
    );
    // Writing to a String cannot fail.
    if let Some(len) = reply.content_length {
        let _ = write!(head, "Content-Length: {len}\r\n");
    }
    for (name, value) in &reply.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if reply.close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    match reply.body {
        Body::None => stream.write_all(&out)?,
        Body::Mem(data) => {
            out.extend_from_slice(&data);
            stream.write_all(&out)?;
            stats.body_bytes += data.len() as u64;
        }
        Body::Shared { data, offset, len } => {
            // In range: checked against the blob's length when planned.
            let body = &data[offset as usize..(offset + len) as usize];
            let first = body.len().min(limits.chunk);
            out.extend_from_slice(&body[..first]);
            stream.write_all(&out)?;
            for part in body[first..].chunks(limits.chunk.max(1)) {
                stream.write_all(part)?;
            }
            stats.body_bytes += len;
        }
        Body::Blob {
            path,
            offset,
            len,
            first,
        } => {
            // Head and first chunk in one write: a small file is one segment.
            out.extend_from_slice(&first);
            stream.write_all(&out)?;
            let end = offset + len;
            let mut pos = offset + first.len() as u64;
            stats.body_bytes += first.len() as u64;
            while pos < end {
                let want = (end - pos).min(limits.chunk as u64) as usize;
                let err = match content.read(&path, pos, want) {
                    Ok([]) => "blob shorter than its size".to_string(),
                    Ok(data) => {
                        let data = &data[..data.len().min(want)];
                        stream.write_all(data)?;
                        pos += data.len() as u64;
                        stats.body_bytes += data.len() as u64;
                        continue;
                    }
                    Err(e) => e.to_string(),
                };
                // The status is sent: all that is left is to cut the body short.
                let shown = String::from_utf8_lossy(&path).into_owned();
                content.log(&format!(
                    "http: read of {shown} failed at byte {pos}: {err}"
                ));
                return Err(io::Error::other(err));
            }
        }
    }
    stream.flush()
}

/// A connection in memory: reads come from a byte string, writes are recorded. What
/// [`respond`] runs the server on; also for driving any `Read + Write` server loop
/// without a socket.
pub struct Duplex<'a> {
    pub input: &'a [u8],
    pub output: Vec<u8>,
}

impl Read for Duplex<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Duplex<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The server without a socket: answers the requests in `input` (one or several,
/// pipelined) and returns every byte written, up to where the connection would close.
pub fn respond<C: Content>(content: &mut C, input: &[u8], limits: &Limits) -> Vec<u8> {
    let mut d = Duplex {
        input,
        output: Vec::new(),
    };
    // Writes to a Vec cannot fail; a failed body read is already logged by the server.
    let _ = handle_connection(&mut d, content, limits);
    d.output
}
