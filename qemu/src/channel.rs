//! The host end of the unikernel's virtio-console channel: QEMU's `virtconsole` port on
//! a chardev the harness sets up before QEMU starts, either a Unix socket that QEMU
//! connects to (an abstract name: no file to clean up, no race with QEMU's start) or a
//! pair of FIFOs; read with a timeout on silence, with credit granted back as it is
//! read (`gitfs_console::flow`: QEMU drops console output its chardev cannot take at
//! once, so the guest sends only what fits).

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use gitfs_console::flow::{Grant, CREDIT, CREDIT_UNIT};

use crate::cmdline::qemu_escape;
use crate::error::{Error, Result};

/// The chardev backend that carries the channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// A Unix socket (abstract name) QEMU connects to.
    #[default]
    Socket,
    /// Two FIFOs (QEMU's `pipe` chardev) in a private temporary directory.
    Pipe,
}

/// Largest window granted: beyond it the channel is not faster (measured).
const MAX_WINDOW: usize = 128 * 1024;
/// The pipe size asked for a FIFO backend (Linux's default limit for unprivileged use).
const PIPE_SIZE: usize = 1 << 20;

/// A fresh name: process id, a counter and the clock.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where QEMU's chardev meets the harness, made before QEMU starts.
#[derive(Debug)]
pub enum ChannelEnd {
    Socket {
        listener: UnixListener,
        name: String,
    },
    /// The directory holding the FIFOs `ch.in` and `ch.out`; removed on drop.
    Pipe { dir: PathBuf },
}

impl ChannelEnd {
    pub fn new(backend: Backend) -> Result<ChannelEnd> {
        match backend {
            Backend::Socket => {
                let name = unique("gitfs-qemu");
                let err = || Error::io("listening for QEMU's virtio-console chardev");
                let addr = SocketAddr::from_abstract_name(name.as_bytes()).map_err(err())?;
                let listener = UnixListener::bind_addr(&addr).map_err(err())?;
                listener.set_nonblocking(true).map_err(err())?;
                Ok(ChannelEnd::Socket { listener, name })
            }
            Backend::Pipe => {
                let err = || Error::io("making the virtio-console FIFOs");
                let dir = std::env::temp_dir().join(unique("gitfs-qemu"));
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .map_err(err())?;
                let end = ChannelEnd::Pipe { dir };
                for name in ["ch.in", "ch.out"] {
                    mkfifo(&end.fifo_base().with_file_name(name)).map_err(err())?;
                }
                Ok(end)
            }
        }
    }

    /// `DIR/ch`: QEMU adds `.in` (to the guest) and `.out` (from the guest).
    fn fifo_base(&self) -> PathBuf {
        match self {
            ChannelEnd::Pipe { dir } => dir.join("ch"),
            ChannelEnd::Socket { name, .. } => PathBuf::from(name),
        }
    }

    /// The value of QEMU's `-chardev` option (its id is `id`).
    pub fn chardev(&self, id: &str) -> String {
        match self {
            ChannelEnd::Socket { name, .. } => {
                format!("socket,id={id},path={},abstract=on", qemu_escape(name))
            }
            ChannelEnd::Pipe { .. } => format!(
                "pipe,id={id},path={}",
                qemu_escape(&self.fifo_base().to_string_lossy())
            ),
        }
    }

    /// The channel once QEMU has its end, waiting until `deadline` while `alive` says
    /// QEMU still runs.
    pub fn connect(&self, deadline: Instant, mut alive: impl FnMut() -> bool) -> Result<ChannelIo> {
        loop {
            match self.try_connect() {
                Ok(Some(io)) => return Ok(io),
                Ok(None) => {}
                Err(e) => return Err(Error::io("connecting the virtio-console channel")(e)),
            }
            if !alive() {
                return Err(Error::NoChannel("QEMU ended before it connected".into()));
            }
            if Instant::now() >= deadline {
                return Err(Error::NoChannel("QEMU did not connect its chardev".into()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn try_connect(&self) -> io::Result<Option<ChannelIo>> {
        match self {
            ChannelEnd::Socket { listener, .. } => match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    let tx = File::from(OwnedFd::from(stream.try_clone()?));
                    let rx = File::from(OwnedFd::from(stream));
                    Ok(Some(ChannelIo::new(rx, tx, socket_window())))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                Err(e) => Err(e),
            },
            ChannelEnd::Pipe { .. } => {
                let base = self.fifo_base();
                // Opening the writing end fails (ENXIO) until QEMU holds the FIFO.
                let tx = match OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(base.with_file_name("ch.in"))
                {
                    Ok(f) => f,
                    Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let rx = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(base.with_file_name("ch.out"))?;
                for f in [&tx, &rx] {
                    set_blocking(f)?;
                }
                // A larger pipe holds a larger window; what the kernel grants is what
                // the window is made of.
                // SAFETY: fcntl on a descriptor we own.
                let size = unsafe {
                    libc::fcntl(rx.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE as libc::c_int)
                };
                let size = if size > 0 { size as usize } else { 64 * 1024 };
                Ok(Some(ChannelIo::new(rx, tx, window_of(size))))
            }
        }
    }
}

impl Drop for ChannelEnd {
    fn drop(&mut self) {
        if let ChannelEnd::Pipe { dir } = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn mkfifo(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_blocking(f: &File) -> io::Result<()> {
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Half of what the chardev holds, within one credit unit and [`MAX_WINDOW`].
fn window_of(capacity: usize) -> usize {
    (capacity / 2).clamp(CREDIT_UNIT * 8, MAX_WINDOW) / CREDIT_UNIT * CREDIT_UNIT
}

/// A Unix stream socket holds about the sender's buffer size (`net.core.wmem_default`
/// for QEMU's end), less per-write overhead.
pub fn socket_window() -> usize {
    let wmem = std::fs::read_to_string("/proc/sys/net/core/wmem_default")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(212_992);
    window_of(wmem)
}

/// Both directions of a connected channel and the window its chardev allows.
#[derive(Debug)]
pub struct ChannelIo {
    rx: File,
    tx: File,
    window: usize,
}

impl ChannelIo {
    fn new(rx: File, tx: File, window: usize) -> ChannelIo {
        ChannelIo { rx, tx, window }
    }

    /// Guest output allowed in flight.
    pub fn window(&self) -> usize {
        self.window
    }
}

/// The channel as a byte stream for `gitfs_console::Client`: a read waits at most
/// `idle` for its first byte (then fails with `TimedOut`) and grants the guest credit
/// for what it read.
#[derive(Debug)]
pub struct ChannelStream {
    io: ChannelIo,
    idle: Duration,
    grant: Grant,
}

impl ChannelStream {
    /// Takes over a connected channel and grants the guest its first window.
    pub fn new(io: ChannelIo, idle: Duration) -> io::Result<ChannelStream> {
        let mut s = ChannelStream {
            io,
            idle,
            grant: Grant::default(),
        };
        let first = vec![CREDIT; Grant::initial(s.io.window)];
        s.io.tx.write_all(&first)?;
        Ok(s)
    }

    /// How long a read may wait for its first byte.
    pub fn set_idle(&mut self, idle: Duration) {
        self.idle = idle;
    }

    /// Waits until the guest's side has bytes (or has closed); false on timeout.
    fn wait_readable(&self) -> io::Result<bool> {
        let deadline = Instant::now() + self.idle;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
            let mut pfd = libc::pollfd {
                fd: self.io.rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(&mut pfd, 1, ms) } {
                n if n > 0 => return Ok(true),
                0 if left.is_zero() || Instant::now() >= deadline => return Ok(false),
                0 => {}
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }
}

impl Read for ChannelStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.wait_readable()? {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let n = self.io.rx.read(buf)?;
        let units = self.grant.consumed(n);
        if units > 0 {
            self.io.tx.write_all(&vec![CREDIT; units])?;
        }
        Ok(n)
    }
}

impl Write for ChannelStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.tx.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// The guest's side of a connected end, as QEMU would hold it.
    fn qemu_side(end: &ChannelEnd) -> (Box<dyn Read>, Box<dyn Write>) {
        match end {
            ChannelEnd::Socket { name, .. } => {
                let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
                let s = UnixStream::connect_addr(&addr).unwrap();
                (Box::new(s.try_clone().unwrap()), Box::new(s))
            }
            ChannelEnd::Pipe { .. } => {
                let base = end.fifo_base();
                // QEMU opens both FIFOs read-write, so neither open waits.
                let open = |n: &str| {
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(base.with_file_name(n))
                        .unwrap()
                };
                (Box::new(open("ch.in")), Box::new(open("ch.out")))
            }
        }
    }

    #[test]
    fn both_backends_carry_bytes_credit_and_timeouts() {
        for backend in [Backend::Socket, Backend::Pipe] {
            let end = ChannelEnd::new(backend).unwrap();
            let (mut from_host, mut to_host) = qemu_side(&end);
            let io = end
                .connect(Instant::now() + Duration::from_secs(5), || true)
                .unwrap();
            let window = io.window();
            assert!((8 * CREDIT_UNIT..=MAX_WINDOW).contains(&window), "{window}");
            let mut s = ChannelStream::new(io, Duration::from_millis(50)).unwrap();
            // The first window's credit, then credit for what the host reads.
            let mut credit = vec![0u8; window / CREDIT_UNIT];
            from_host.read_exact(&mut credit).unwrap();
            assert!(credit.iter().all(|&b| b == CREDIT), "{backend:?}");
            to_host.write_all(b"hi").unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(s.read(&mut buf).unwrap(), 2);
            assert_eq!(&buf[..2], b"hi");
            let e = s.read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{backend:?}");
            to_host.write_all(&vec![7u8; CREDIT_UNIT * 2 - 2]).unwrap();
            let mut big = vec![0u8; CREDIT_UNIT * 2];
            let mut got = 0;
            while got < big.len() - 2 {
                got += s.read(&mut big[got..]).unwrap();
            }
            s.write_all(b"back").unwrap();
            let mut back = [0u8; 6];
            from_host.read_exact(&mut back).unwrap();
            assert_eq!(
                &back,
                &[CREDIT, CREDIT, b'b', b'a', b'c', b'k'],
                "{backend:?}"
            );
            if let ChannelEnd::Pipe { dir } = &end {
                let dir = dir.clone();
                drop(end);
                assert!(!dir.exists(), "FIFO directory left behind");
            }
        }
    }

    #[test]
    fn no_connection_is_no_channel() {
        for backend in [Backend::Socket, Backend::Pipe] {
            let end = ChannelEnd::new(backend).unwrap();
            let e = end.connect(Instant::now() + Duration::from_secs(5), || false);
            assert!(matches!(e, Err(Error::NoChannel(_))), "{e:?}");
        }
    }

    #[test]
    fn chardev_options() {
        let end = ChannelEnd::new(Backend::Socket).unwrap();
        let ChannelEnd::Socket { name, .. } = &end else {
            unreachable!()
        };
        assert_eq!(
            end.chardev("c"),
            format!("socket,id=c,path={name},abstract=on")
        );
        let end = ChannelEnd::new(Backend::Pipe).unwrap();
        let spec = end.chardev("c");
        assert!(
            spec.starts_with("pipe,id=c,path=/") && spec.ends_with("/ch"),
            "{spec}"
        );
        assert_eq!(window_of(212_992), 104 * 1024);
        assert_eq!(window_of(1 << 20), MAX_WINDOW);
        assert_eq!(window_of(1000), 8 * CREDIT_UNIT);
    }
}
