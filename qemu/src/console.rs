//! The guest's serial console as a byte stream: echo removal, lines, length-prefixed frames.
//!
//! Hermit 0.11 echoes every byte the app reads from stdin as a 4-byte unit (the byte and
//! three NULs; CR becomes LF; the UART driver sends 0x08/0x7F as `08 20 08`). The echo
//! enters the kernel's console buffer between whole writes of the app, so it never splits
//! app output. [`EchoFilter`] removes exactly the units it expects from what was sent, in
//! order, so app text (which never holds NUL) cannot be mistaken for echo.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Console output kept for error messages (the most recent bytes).
const TRANSCRIPT_CAP: usize = 1 << 20;

/// Removes the kernel's echo of bytes we sent from the output stream.
#[derive(Debug, Default)]
pub struct EchoFilter {
    pending: VecDeque<u8>,
    /// Tail that may be the start of an echo unit; decided when more bytes come.
    held: Vec<u8>,
}

fn echo_unit(sent: u8) -> &'static [u8] {
    const UNITS: [[u8; 4]; 256] = {
        let mut t = [[0u8; 4]; 256];
        let mut i = 0;
        while i < 256 {
            t[i][0] = i as u8;
            i += 1;
        }
        t
    };
    match sent {
        b'\r' => b"\n\0\0\0",
        0x08 | 0x7f => b"\x08 \x08\0\0\0",
        b => &UNITS[b as usize],
    }
}

impl EchoFilter {
    /// Records bytes written to the guest: their echo will be dropped.
    pub fn expect(&mut self, sent: &[u8]) {
        self.pending.extend(sent);
    }

    /// Stops expecting the echo of bytes sent so far.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Number of sent bytes whose echo has not been seen yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Filters `input`, appending clean bytes to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(input);
        let mut i = 0;
        while i < buf.len() {
            if let Some(&next) = self.pending.front() {
                let unit = echo_unit(next);
                let rest = &buf[i..];
                if rest.starts_with(unit) {
                    self.pending.pop_front();
                    i += unit.len();
                    continue;
                }
                if rest.len() < unit.len() && unit.starts_with(rest) {
                    self.held = rest.to_vec();
                    return;
                }
            }
            out.push(buf[i]);
            i += 1;
        }
    }

    /// At end of stream: whatever was held back is output.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
    }
}

enum Chunk {
    Data(Vec<u8>),
    End,
}

/// A console: write side plus a reader thread feeding clean bytes.
pub struct Console {
    writer: Box<dyn Write + Send>,
    rx: Receiver<Chunk>,
    filter: EchoFilter,
    /// Clean bytes not consumed yet.
    buf: Vec<u8>,
    transcript: Vec<u8>,
    closed: bool,
}

impl Console {
    /// Starts the reader thread on `reader` (QEMU's stdout); `writer` is QEMU's stdin.
    pub fn new(
        writer: impl Write + Send + 'static,
        mut reader: impl Read + Send + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        // The thread ends when the pipe closes (QEMU gone) or the console is dropped.
        thread::spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Chunk::Data(chunk[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = tx.send(Chunk::End);
        });
        Console {
            writer: Box::new(writer),
            rx,
            filter: EchoFilter::default(),
            buf: Vec::new(),
            transcript: Vec::new(),
            closed: false,
        }
    }

    /// Writes raw bytes; their echo is filtered out of the output.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.filter.expect(bytes);
        self.writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush())
            .map_err(Error::io("writing to the console"))
    }

    /// Sends one line of text (a newline is added).
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        if line.contains(['\n', '\r']) {
            return Err(Error::BadRequest(line.to_string()));
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.send_bytes(&bytes)
    }

    /// Sent bytes whose echo has not come back yet. Binary replies are only safe to read
    /// when this is 0 (do not pipeline requests whose answers are binary).
    pub fn pending_echo(&self) -> usize {
        self.filter.pending()
    }

    /// True once QEMU's output has ended and every byte was consumed.
    pub fn is_closed(&self) -> bool {
        self.closed && self.buf.is_empty()
    }

    /// Everything the guest printed so far (echo removed, most recent 1 MiB).
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.transcript).into_owned()
    }

    /// Waits until new output arrives, the stream ends or the deadline passes.
    /// Returns false on deadline.
    pub fn pump(&mut self, deadline: Instant) -> bool {
        if self.closed {
            return true;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let first = match self.rx.recv_timeout(wait) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => Chunk::End,
        };
        self.accept(first);
        // Take whatever else is already queued without waiting.
        while !self.closed {
            match self.rx.try_recv() {
                Ok(c) => self.accept(c),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => self.accept(Chunk::End),
            }
        }
        true
    }

    fn accept(&mut self, chunk: Chunk) {
        let start = self.buf.len();
        match chunk {
            Chunk::Data(d) => self.filter.push(&d, &mut self.buf),
            Chunk::End => {
                self.filter.finish(&mut self.buf);
                self.closed = true;
            }
        }
        self.transcript.extend_from_slice(&self.buf[start..]);
        if self.transcript.len() > TRANSCRIPT_CAP {
            let cut = self.transcript.len() - TRANSCRIPT_CAP / 2;
            self.transcript.drain(..cut);
        }
    }

    /// Stops expecting echo for what was sent so far: once a complete response has
    /// been read, any echo still missing will never come, and waiting for it could make
    /// the filter eat matching bytes of a later binary payload.
    pub fn forget_echo(&mut self) {
        self.filter.clear();
    }

    /// Clean bytes received and not consumed yet (for decoders driving [`pump`]).
    ///
    /// [`pump`]: Console::pump
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Puts `bytes` back in front of the buffered ones (a reader took more than it used).
    pub fn unread(&mut self, bytes: &[u8]) {
        self.buf.splice(0..0, bytes.iter().copied());
    }

    /// Drops the first `n` buffered bytes.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
    }

    /// True once QEMU's output has ended (buffered bytes may remain).
    pub fn ended(&self) -> bool {
        self.closed
    }

    /// Next line without its `\n` (and a trailing `\r`), raw bytes.
    pub fn read_line_bytes(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.closed {
                return Err(Error::ConsoleClosed { what: "a line" });
            }
            if !self.pump(deadline) {
                return Err(Error::Timeout {
                    what: "a console line",
                    timeout,
                });
            }
        }
    }

    /// Next line as text (invalid UTF-8 replaced).
    pub fn read_line(&mut self, timeout: Duration) -> Result<String> {
        self.read_line_bytes(timeout)
            .map(|l| String::from_utf8_lossy(&l).into_owned())
    }

    /// Exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        while self.buf.len() < n {
            if self.closed {
                return Err(Error::ConsoleClosed { what: "bytes" });
            }
            if !self.pump(deadline) {
                return Err(Error::Timeout {
                    what: "console bytes",
                    timeout,
                });
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// A frame: a little-endian u32 length, then that many bytes (at most `max`).
    pub fn read_frame(&mut self, max: usize, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let head = self.read_exact(4, timeout)?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > max {
            return Err(Error::BadRequest(format!(
                "frame of {len} bytes exceeds the limit of {max}"
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.read_exact(len, left)
    }

    /// Reads until the stream ends (QEMU exited) or the deadline; keeps the transcript.
    pub fn drain(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.closed && self.pump(deadline) {}
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel would print for `sent` (each byte read is echoed as a unit).
    fn echo_of(sent: &[u8]) -> Vec<u8> {
        sent.iter().flat_map(|&b| echo_unit(b).to_vec()).collect()
    }

    fn filter_all(sent: &[u8], stream: &[u8], split: usize) -> Vec<u8> {
        let mut f = EchoFilter::default();
        f.expect(sent);
        let mut out = Vec::new();
        for piece in stream.chunks(split.max(1)) {
            f.push(piece, &mut out);
        }
        f.finish(&mut out);
        out
    }

    #[test]
    fn echo_removed_at_any_chunking() {
        let sent = b"echo hi\r\x7fping\n";
        let mut stream = b"gitfs ready\n".to_vec();
        stream.extend(echo_of(&sent[..5]));
        stream.extend_from_slice(b"partial reply\n");
        stream.extend(echo_of(&sent[5..]));
        stream.extend_from_slice(b"pong\n");
        for split in [1, 2, 3, 5, 7, 4096] {
            assert_eq!(
                filter_all(sent, &stream, split),
                b"gitfs ready\npartial reply\npong\n",
                "split {split}"
            );
        }
    }

    #[test]
    fn text_like_echo_without_nuls_is_kept() {
        // 'p' is pending but not followed by NULs: it is app output.
        let out = filter_all(b"p", b"pong\n", 1);
        assert_eq!(out, b"pong\n");
    }

    #[test]
    fn unexpected_unit_is_kept() {
        // Only bytes we sent count as echo.
        let out = filter_all(b"a", b"b\0\0\0a\0\0\0x\n", 3);
        assert_eq!(out, b"b\0\0\0x\n");
    }

    #[test]
    fn held_tail_released_at_end() {
        let out = filter_all(b"a", b"xa\0\0", 1);
        assert_eq!(out, b"xa\0\0");
    }

    fn pipe_console() -> (Console, std::io::PipeReader, std::io::PipeWriter) {
        let (to_guest_r, to_guest_w) = std::io::pipe().expect("pipe");
        let (from_guest_r, from_guest_w) = std::io::pipe().expect("pipe");
        (
            Console::new(to_guest_w, from_guest_r),
            to_guest_r,
            from_guest_w,
        )
    }

    #[test]
    fn lines_frames_and_close() {
        let (mut c, _gr, mut gw) = pipe_console();
        gw.write_all(b"one\r\ntwo\n").unwrap();
        gw.write_all(&3u32.to_le_bytes()).unwrap();
        gw.write_all(b"a\0b").unwrap();
        gw.write_all(b"tail").unwrap();
        let t = Duration::from_secs(5);
        assert_eq!(c.read_line(t).unwrap(), "one");
        assert_eq!(c.read_line(t).unwrap(), "two");
        assert_eq!(c.read_frame(16, t).unwrap(), b"a\0b");
        assert!(matches!(
            c.read_line(Duration::from_millis(50)),
            Err(Error::Timeout { .. })
        ));
        drop(gw);
        assert!(matches!(c.read_line(t), Err(Error::ConsoleClosed { .. })));
        assert_eq!(c.read_exact(4, t).unwrap(), b"tail");
        assert!(c.is_closed());
        assert!(c.transcript().starts_with("one\r\ntwo\n"));
    }

    #[test]
    fn frame_limit() {
        let (mut c, _gr, mut gw) = pipe_console();
        gw.write_all(&100u32.to_le_bytes()).unwrap();
        assert!(matches!(
            c.read_frame(10, Duration::from_secs(5)),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn rejects_line_breaks() {
        let (mut c, _gr, _gw) = pipe_console();
        assert!(matches!(c.send_line("a\nb"), Err(Error::BadRequest(_))));
    }

    /// A fake guest in a thread: echoes like Hermit, answers each line with its length.
    #[test]
    fn round_trip_with_echoing_guest() {
        let (mut c, mut gr, mut gw) = pipe_console();
        let guest = thread::spawn(move || {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            let mut answered = 0;
            while answered < 50 {
                if gr.read(&mut byte).unwrap_or(0) == 0 {
                    break;
                }
                gw.write_all(&echo_of(&byte)).unwrap();
                if byte[0] == b'\n' {
                    gw.write_all(format!("len {}\n", line.len()).as_bytes())
                        .unwrap();
                    line.clear();
                    answered += 1;
                } else {
                    line.push(byte[0]);
                }
            }
        });
        let t = Duration::from_secs(10);
        for i in 0..50 {
            let text = "x".repeat(i * 7);
            c.send_line(&text).unwrap();
        }
        for i in 0..50 {
            assert_eq!(c.read_line(t).unwrap(), format!("len {}", i * 7));
        }
        guest.join().unwrap();
        assert_eq!(c.filter.pending(), 0);
    }
}
