//! The host end of the unikernel's virtio-console channel: QEMU's `virtconsole` port
//! on a chardev socket that connects to a listener the harness made first (an abstract
//! Unix socket: no file to clean up, no race with QEMU's start), read with a timeout
//! on silence, with credit granted back as it is read (`gitfs_console::flow`: QEMU
//! drops console output its socket cannot take, so the guest sends only what fits).

use std::io::{self, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use gitfs_console::flow::{Grant, CREDIT, CREDIT_UNIT};

use crate::error::{Error, Result};

/// A listener QEMU's chardev connects to when it starts.
#[derive(Debug)]
pub struct ChannelListener {
    listener: UnixListener,
    name: String,
}

impl ChannelListener {
    /// A listener on a fresh abstract name (process id, a counter and the clock).
    pub fn bind() -> Result<ChannelListener> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "gitfs-qemu-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let err = || Error::io("listening for QEMU's virtio-console chardev");
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).map_err(err())?;
        let listener = UnixListener::bind_addr(&addr).map_err(err())?;
        listener.set_nonblocking(true).map_err(err())?;
        Ok(ChannelListener { listener, name })
    }

    /// The abstract socket name, for QEMU's `-chardev socket,path=NAME,abstract=on`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// QEMU's connection, waiting until `deadline` while `alive` says QEMU still runs.
    pub fn accept(&self, deadline: Instant, mut alive: impl FnMut() -> bool) -> Result<UnixStream> {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream
                        .set_nonblocking(false)
                        .map_err(Error::io("setting up the virtio-console channel"))?;
                    return Ok(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::io("accepting QEMU's virtio-console chardev")(e)),
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
}

/// The channel as a byte stream for `gitfs_console::Client`: a read waits at most
/// `idle` for its first byte (then fails with `TimedOut`) and grants the guest credit
/// for what it read.
#[derive(Debug)]
pub struct ChannelStream {
    stream: UnixStream,
    idle: Duration,
    grant: Grant,
}

/// Guest output allowed in flight: what QEMU's end of the socket surely holds. A Unix
/// stream socket holds about the sender's buffer size (`net.core.wmem_default` for
/// QEMU's), less per-write overhead: a third of it, within 32 to 128 KiB.
pub fn window() -> usize {
    let wmem = std::fs::read_to_string("/proc/sys/net/core/wmem_default")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(212_992);
    (wmem / 2).clamp(32 * 1024, 128 * 1024) / CREDIT_UNIT * CREDIT_UNIT
}

impl ChannelStream {
    /// Takes over QEMU's connection and grants the guest its first window.
    pub fn new(stream: UnixStream, idle: Duration) -> io::Result<ChannelStream> {
        let mut s = ChannelStream {
            stream,
            idle: Duration::ZERO,
            grant: Grant::default(),
        };
        s.set_idle(idle)?;
        s.stream
            .write_all(&vec![CREDIT; Grant::initial(window())])?;
        Ok(s)
    }

    /// How long a read may wait for its first byte.
    pub fn set_idle(&mut self, idle: Duration) -> io::Result<()> {
        if idle != self.idle {
            // A zero timeout means "none" to the socket: keep a floor.
            self.stream
                .set_read_timeout(Some(idle.max(Duration::from_millis(1))))?;
            self.idle = idle;
        }
        Ok(())
    }
}

impl Read for ChannelStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
            Ok(n) => {
                let units = self.grant.consumed(n);
                if units > 0 {
                    self.stream.write_all(&vec![CREDIT; units])?;
                }
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }
}

impl Write for ChannelStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_connects_by_name_and_silence_times_out() {
        let l = ChannelListener::bind().unwrap();
        let other = ChannelListener::bind().unwrap();
        assert_ne!(l.name(), other.name());
        let addr = SocketAddr::from_abstract_name(l.name().as_bytes()).unwrap();
        let mut peer = UnixStream::connect_addr(&addr).unwrap();
        let got = l
            .accept(Instant::now() + Duration::from_secs(5), || true)
            .unwrap();
        let mut s = ChannelStream::new(got, Duration::from_millis(50)).unwrap();
        // The first window's credit, then credit for what the host reads.
        let mut credit = vec![0u8; window() / CREDIT_UNIT];
        peer.read_exact(&mut credit).unwrap();
        assert!(credit.iter().all(|&b| b == CREDIT) && credit.len() >= 8);
        peer.write_all(b"hi").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"hi");
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        peer.write_all(&vec![7u8; CREDIT_UNIT * 2 - 2]).unwrap();
        let mut big = vec![0u8; CREDIT_UNIT * 2];
        let mut got = 0;
        while got < big.len() - 2 {
            got += s.read(&mut big[got..]).unwrap();
        }
        s.write_all(b"back").unwrap();
        let mut back = [0u8; 6];
        peer.read_exact(&mut back).unwrap();
        assert_eq!(&back, &[CREDIT, CREDIT, b'b', b'a', b'c', b'k']);
    }

    #[test]
    fn no_connection_is_a_timeout() {
        let l = ChannelListener::bind().unwrap();
        let e = l.accept(Instant::now() + Duration::from_secs(5), || false);
        assert!(matches!(e, Err(Error::NoChannel(_))), "{e:?}");
    }
}
