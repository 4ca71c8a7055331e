//! The diagnostic console (`--diag`, `--no-disk`): raw block-device checks, no image parsing.

use std::io::{self, BufRead, Write};
use std::time::Instant;

use gitfs_format::BlockDevice;

use self::request::{self as protocol, Request, HELP};

#[cfg(feature = "bench")]
pub use self::bench::{Pattern, RawPort};
pub use self::request::Com2Mode;

#[cfg(feature = "bench")]
mod bench;
mod request;

/// The answer to a transfer benchmark in a kernel built without them.
#[cfg(not(feature = "bench"))]
const NO_BENCH: &str = "transfer benchmarks need a kernel built with the bench feature";

/// Size of the reads behind `blkread` (one device request each on a virtio disk).
const READ_CHUNK: usize = 256 * 1024;
/// Largest `blkbench` request size.
const MAX_BENCH_REQ_KIB: u64 = 2048;

/// The first line the application prints once it serves requests.
pub fn ready_line(version: &str, boot_ms: Option<u64>, disk_bytes: Option<u64>) -> String {
    let mut s = format!("gitfs ready version={version}");
    if let Some(ms) = boot_ms {
        s.push_str(&format!(" boot_ms={ms}"));
    }
    match disk_bytes {
        Some(n) => s.push_str(&format!(" disk_bytes={n}")),
        None => s.push_str(" disk=none"),
    }
    s
}

/// What the caller does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop with this exit status.
    Exit(i32),
}

/// Serves requests against an optional disk.
pub struct Service<D> {
    disk: Option<D>,
    /// Why there is no disk, for the error answers.
    no_disk: String,
    /// The second serial port, opened on first use.
    #[cfg(feature = "bench")]
    com2: Option<Box<dyn RawPort>>,
}

/// COM2 in the guest: probed and initialised by the first `com2bench`.
#[cfg(all(feature = "bench", target_os = "hermit"))]
fn open_com2() -> Result<Box<dyn RawPort>, String> {
    use gitfs::hermit::com2::Com2;

    struct Port(Com2);
    impl RawPort for Port {
        fn write(&mut self, data: &[u8], mode: Com2Mode) {
            match mode {
                Com2Mode::Polled => self.0.write_polled(data),
                Com2Mode::Fifo => self.0.write_fifo(data),
            }
        }
    }
    Com2::open()
        .map(|c| Box::new(Port(c)) as Box<dyn RawPort>)
        .map_err(|e| format!("com2: {e}"))
}

#[cfg(all(feature = "bench", not(target_os = "hermit")))]
fn open_com2() -> Result<Box<dyn RawPort>, String> {
    Err("com2: no second serial port outside the unikernel".into())
}

impl<D: BlockDevice> Service<D> {
    pub fn new(disk: Option<D>, no_disk_reason: &str) -> Self {
        Self {
            disk,
            no_disk: no_disk_reason.to_string(),
            #[cfg(feature = "bench")]
            com2: None,
        }
    }

    /// Uses `port` for `com2bench` instead of the guest's COM2 (tests).
    #[cfg(feature = "bench")]
    pub fn with_raw_port(mut self, port: Box<dyn RawPort>) -> Self {
        self.com2 = Some(port);
        self
    }

    /// Answers requests from `input` until `quit`, `fail` or end of input (status 0).
    pub fn run(&mut self, input: impl BufRead, out: &mut impl Write) -> io::Result<i32> {
        for line in input.split(b'\n') {
            let line = line?;
            let line = String::from_utf8_lossy(&line);
            if let Flow::Exit(code) = self.handle(&line, out)? {
                return Ok(code);
            }
        }
        Ok(0)
    }

    /// Answers one request line; the answer ends with a newline and is flushed.
    pub fn handle(&mut self, line: &str, out: &mut impl Write) -> io::Result<Flow> {
        let flow = match protocol::parse(line) {
            Ok(None) => return Ok(Flow::Continue),
            // Benchmarks that stream their own output before the summary line.
            #[cfg(feature = "bench")]
            Ok(Some(Request::EscBench { bytes })) => {
                let line = bench::escaped(bytes, out)?;
                writeln!(out, "{line}")?;
                Flow::Continue
            }
            #[cfg(feature = "bench")]
            Ok(Some(Request::HexBench { bytes })) => {
                let line = bench::hex(bytes, out)?;
                writeln!(out, "{line}")?;
                Flow::Continue
            }
            Ok(Some(req)) => match self.answer(req) {
                Ok((text, flow)) => {
                    writeln!(out, "{text}")?;
                    flow
                }
                Err(msg) => {
                    writeln!(out, "error: {msg}")?;
                    Flow::Continue
                }
            },
            Err(e) => {
                writeln!(out, "error: {e}")?;
                Flow::Continue
            }
        };
        out.flush()?;
        Ok(flow)
    }

    fn answer(&mut self, req: Request) -> Result<(String, Flow), String> {
        let go = |s: String| Ok((s, Flow::Continue));
        match req {
            Request::Ping => go("pong".into()),
            Request::Echo(text) => go(text),
            Request::Help => go(HELP.into()),
            Request::Quit => Ok(("bye".into(), Flow::Exit(0))),
            Request::Fail => Ok(("failing on request".into(), Flow::Exit(1))),
            Request::BlkInfo => go(format!("disk bytes={}", self.disk()?.len())),
            Request::BlkRead { offset, len } => {
                let digest = self.sha1_range(offset, len)?;
                go(format!("blkread offset={offset} len={len} sha1={digest}"))
            }
            Request::BlkHex { offset, len } => {
                let mut buf = vec![0u8; len as usize];
                self.read(offset, &mut buf)?;
                go(format!(
                    "blkhex offset={offset} len={len} hex={}",
                    protocol::hex(&buf)
                ))
            }
            Request::BlkBench { mib, req_kib } => {
                self.bench(mib, req_kib).map(|s| (s, Flow::Continue))
            }
            #[cfg(feature = "bench")]
            Request::Com2Bench { bytes, mode } => {
                if self.com2.is_none() {
                    self.com2 = Some(open_com2()?);
                }
                let port = self.com2.as_deref_mut().ok_or("com2: not open")?;
                go(bench::com2(bytes, mode, port))
            }
            // Answered in `handle`: they write their payload before the summary.
            #[cfg(feature = "bench")]
            Request::EscBench { .. } | Request::HexBench { .. } => {
                Err("internal: streamed request reached answer".into())
            }
            #[cfg(not(feature = "bench"))]
            Request::Com2Bench { .. } | Request::EscBench { .. } | Request::HexBench { .. } => {
                Err(NO_BENCH.into())
            }
        }
    }

    fn disk(&mut self) -> Result<&mut D, String> {
        let reason = &self.no_disk;
        self.disk
            .as_mut()
            .ok_or_else(|| format!("no disk: {reason}"))
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let disk = self.disk()?;
        let len = disk.len();
        disk.read_at(offset, buf).map_err(|e| {
            format!(
                "read of {} bytes at {offset} (disk has {len}): {e}",
                buf.len()
            )
        })
    }

    fn sha1_range(&mut self, offset: u64, len: u64) -> Result<String, String> {
        let disk_len = self.disk()?.len();
        if offset.checked_add(len).is_none_or(|end| end > disk_len) {
            return Err(format!(
                "range {offset}+{len} is past the end of the disk ({disk_len} bytes)"
            ));
        }
        let mut hasher = sha1_smol::Sha1::new();
        let mut buf = vec![0u8; READ_CHUNK.min(len as usize)];
        let mut pos = offset;
        while pos < offset + len {
            let n = (offset + len - pos).min(READ_CHUNK as u64) as usize;
            self.read(pos, &mut buf[..n])?;
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        Ok(hasher.digest().to_string())
    }

    /// Sequential reads of `req_kib` KiB, wrapping at the end of the disk.
    fn bench(&mut self, mib: u64, req_kib: u64) -> Result<String, String> {
        if req_kib == 0 || req_kib > MAX_BENCH_REQ_KIB {
            return Err(format!("REQ_KIB must be 1..={MAX_BENCH_REQ_KIB}"));
        }
        let req = req_kib * 1024;
        let disk_len = self.disk()?.len();
        if req > disk_len {
            return Err(format!(
                "request of {req} bytes is larger than the disk ({disk_len})"
            ));
        }
        let total = mib.checked_mul(1 << 20).ok_or("MIB too large")?;
        let mut buf = vec![0u8; req as usize];
        let mut done = 0u64;
        let mut pos = 0u64;
        let start = Instant::now();
        while done < total {
            if pos + req > disk_len {
                pos = 0;
            }
            self.read(pos, &mut buf)?;
            pos += req;
            done += req;
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            done as f64 / secs / (1 << 20) as f64
        } else {
            0.0
        };
        Ok(format!(
            "blkbench bytes={done} req={req} secs={secs:.6} mib_s={rate:.1}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(disk: Option<Vec<u8>>, input: &str) -> (i32, String) {
        let mut svc = Service::new(disk, "none attached");
        let mut out = Vec::new();
        let code = svc.run(input.as_bytes(), &mut out).unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn ping_echo_quit() {
        let (code, out) = run(None, "ping\r\n\necho hi  there\nquit\nping\n");
        assert_eq!(code, 0);
        assert_eq!(out, "pong\nhi  there\nbye\n");
    }

    #[test]
    fn fail_exits_with_one() {
        let (code, out) = run(None, "fail\n");
        assert_eq!((code, out.as_str()), (1, "failing on request\n"));
    }

    #[test]
    fn errors_keep_serving() {
        let (code, out) = run(None, "nope\nblkinfo\nhelp\n");
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("error: unknown command"));
        assert_eq!(lines[1], "error: no disk: none attached");
        assert_eq!(lines[2], HELP);
    }

    #[test]
    fn blkread_hashes_the_range() {
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 253) as u8).collect();
        let want = sha1_smol::Sha1::from(&data[7..7 + 500_000])
            .digest()
            .to_string();
        let (_, out) = run(
            Some(data.clone()),
            "blkread 7 500000\nblkhex 1 3\nblkread 599999 2\n",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("blkread offset=7 len=500000 sha1={want}"));
        assert_eq!(lines[1], "blkhex offset=1 len=3 hex=010203");
        assert!(
            lines[2].starts_with("error: range 599999+2 is past the end"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn bench_reports_bytes() {
        let (_, out) = run(Some(vec![0u8; 8192]), "blkbench 1 4\nblkbench 1 0\n");
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("blkbench bytes=1048576 req=4096 "),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("error: REQ_KIB"));
    }

    #[cfg(not(feature = "bench"))]
    #[test]
    fn transfer_benches_are_refused_without_the_feature() {
        let (code, out) = run(None, "escbench 4\nhexbench 4\ncom2bench 4\nping\n");
        assert_eq!(code, 0);
        let want = format!("error: {NO_BENCH}\n");
        assert_eq!(out, want.repeat(3) + "pong\n");
    }

    #[cfg(feature = "bench")]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    #[cfg(feature = "bench")]
    impl RawPort for Shared {
        fn write(&mut self, data: &[u8], _mode: Com2Mode) {
            self.0.borrow_mut().extend_from_slice(data);
        }
    }

    #[cfg(feature = "bench")]
    #[test]
    fn benches_through_the_service() {
        let (_, out) = run(
            None,
            "com2bench 4
hexbench 3
ping
",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("error: com2: no second serial port"));
        assert_eq!(lines[1], "hexbench 3");
        let mut want = [0u8; 3];
        Pattern::new().fill(&mut want);
        assert_eq!(lines[2], protocol::hex(&want));
        assert!(
            lines[3].starts_with("hexbench bytes=3 wire="),
            "{}",
            lines[3]
        );
        assert_eq!(lines[4], "pong");

        let sink = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut svc =
            Service::<Vec<u8>>::new(None, "x").with_raw_port(Box::new(Shared(sink.clone())));
        let mut out = Vec::new();
        svc.run(
            &b"com2bench 3 poll
escbench 2
"[..],
            &mut out,
        )
        .unwrap();
        assert_eq!(*sink.borrow(), want);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("com2bench bytes=3 wire=3 "), "{text}");
        assert!(text.contains("mode=poll crc="));
        assert!(text.contains("\n=OK 2 escbench\n"));
        assert!(text.contains("\nescbench bytes=2 wire="));
    }

    #[test]
    fn ready_line_format() {
        assert_eq!(
            ready_line("0.1.0", Some(250), Some(4096)),
            "gitfs ready version=0.1.0 boot_ms=250 disk_bytes=4096"
        );
        assert_eq!(
            ready_line("0.1.0", None, None),
            "gitfs ready version=0.1.0 disk=none"
        );
    }
}
