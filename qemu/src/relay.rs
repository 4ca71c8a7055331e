//! A TCP relay in front of QEMU's user-network port forward.
//!
//! QEMU's user networking (libslirp 4.7) listens for a host forward with a backlog of 1
//! and accepts only when its main loop gets round to it. When several clients connect
//! at once, Linux drops the SYNs that find the accept queue full (the client waits 1 s
//! to retry) and, once SYN cookies are in play, resets some connections before QEMU
//! ever sees them (measured: 1 to 4 of 8 simultaneous connections, in every
//! `gitfs-bench http` run). The relay owns the port people connect to, accepts at once with a
//! normal backlog, and opens connections to QEMU's forward only while its accept queue
//! has room, so none is dropped or reset there.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Connections Linux keeps waiting for a listener with backlog 1 (`backlog + 1`).
const UPSTREAM_QUEUE: u32 = 2;
/// How long a connect waits for room before trying anyway (QEMU stuck or gone).
const ROOM_WAIT: Duration = Duration::from_secs(2);

/// Forwards 127.0.0.1:`port` to QEMU's forward on 127.0.0.1:`upstream_port`. Stops
/// accepting when dropped; connections already relayed run to their end.
pub struct Relay {
    port: u16,
    upstream: u16,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Binds 127.0.0.1:`port` (0: any free port) and picks a free port for QEMU's side.
    pub fn start(port: u16) -> Result<Relay> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(Error::io("binding the HTTP port on 127.0.0.1"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("binding the HTTP port on 127.0.0.1"))?
            .port();
        Relay::with_listener(listener, port, free_port()?)
    }

    fn with_listener(listener: TcpListener, port: u16, upstream: u16) -> Result<Relay> {
        let stop = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(Gate {
            upstream,
            lock: Mutex::new(()),
        });
        let stopped = Arc::clone(&stop);
        thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let gate = Arc::clone(&gate);
                    let _ = thread::Builder::new()
                        .name("relay-conn".into())
                        .spawn(move || relay(client, &gate));
                }
            })
            .map_err(Error::io("starting the relay thread"))?;
        Ok(Relay {
            port,
            upstream,
            stop,
        })
    }

    /// The port people connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port QEMU's host forward must listen on.
    pub fn upstream_port(&self) -> u16 {
        self.upstream
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop` and ends (closing the port).
        let _ =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
    }
}

/// Serialises connections to QEMU's forward and lets each through only while the
/// forward's accept queue has room.
struct Gate {
    upstream: u16,
    lock: Mutex<()>,
}

impl Gate {
    fn connect(&self) -> io::Result<TcpStream> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + ROOM_WAIT;
        // Without sock_diag (not Linux, or refused) there is nothing to wait for.
        while accept_queue(self.upstream).is_some_and(|n| n >= UPSTREAM_QUEUE) {
            if Instant::now() >= deadline {
                eprintln!(
                    "gitfs-qemu: relay: QEMU has not accepted a connection for {ROOM_WAIT:?}"
                );
                break;
            }
            thread::sleep(Duration::from_micros(200));
        }
        TcpStream::connect(("127.0.0.1", self.upstream))
    }
}

/// Relays one client until both directions have ended.
fn relay(client: TcpStream, gate: &Gate) {
    let Ok(upstream) = gate.connect() else {
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        reset(&client);
        return;
    };
    let to_guest = thread::Builder::new()
        .name("relay-up".into())
        .spawn(move || pump(c2, u2));
    pump(upstream, client);
    if let Ok(t) = to_guest {
        let _ = t.join();
    }
}

/// Copies `from` to `to` until `from` ends, then passes the end on: a FIN as a FIN, a
/// reset as a reset (so a client sees a cut-off answer as an error, not as an end).
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    reset(&from);
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                reset(&to);
                return;
            }
        }
    }
}

/// Makes `s` end with a reset: SO_LINGER 0 turns the close (when the last handle is
/// dropped) into a reset, and shutting its read side wakes the other pump, which then
/// ends and drops its handle. (A write shutdown would send a FIN: a clean end.)
fn reset(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = s.shutdown(Shutdown::Read);
}

/// Connections waiting in the accept queue of the TCP listener on 127.0.0.1:`port`,
/// from the kernel's sock_diag netlink interface (what `ss -lt` shows as Recv-Q).
/// `None` when it cannot be asked or no such listener exists.
pub fn accept_queue(port: u16) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        sock_diag::listen_queue(port)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        None
    }
}

#[cfg(target_os = "linux")]
mod sock_diag {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    const NETLINK_SOCK_DIAG: i32 = 4;
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const NLM_F_REQUEST: u16 = 0x1;
    const NLM_F_DUMP: u16 = 0x300;
    const TCP_LISTEN: u32 = 10;
    /// `struct nlmsghdr`.
    const HDR: usize = 16;
    /// `struct inet_diag_req_v2`.
    const REQ: usize = 56;
    /// In `struct inet_diag_msg`: the source port (network order) and `idiag_rqueue`,
    /// which for a listener is its accept queue.
    const SPORT_AT: usize = 4;
    const RQUEUE_AT: usize = 56;
    const MSG_MIN: usize = 72;

    pub fn listen_queue(port: u16) -> Option<u32> {
        // SAFETY: socket(2) with constant arguments; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };

        let mut req = [0u8; HDR + REQ];
        req[0..4].copy_from_slice(&((HDR + REQ) as u32).to_ne_bytes());
        req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        req[HDR] = libc::AF_INET as u8;
        req[HDR + 1] = libc::IPPROTO_TCP as u8;
        req[HDR + 4..HDR + 8].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        // SAFETY: the buffer is valid for its length; the kernel is the destination
        // (a zeroed sockaddr_nl).
        let sent = unsafe {
            let mut to: libc::sockaddr_nl = std::mem::zeroed();
            to.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return None;
        }

        let mut found = None;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: the buffer is valid for its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            let Ok(n) = usize::try_from(n) else {
                return None;
            };
            if n == 0 {
                return found;
            }
            let mut at = 0;
            while at + HDR <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().ok()?) as usize;
                let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().ok()?);
                if len < HDR || at + len > n {
                    return None;
                }
                match kind {
                    NLMSG_DONE => return found,
                    NLMSG_ERROR => return None,
                    SOCK_DIAG_BY_FAMILY if len >= HDR + MSG_MIN => {
                        let m = &buf[at + HDR..at + len];
                        let sport = u16::from_be_bytes([m[SPORT_AT], m[SPORT_AT + 1]]);
                        if sport == port {
                            let q = m[RQUEUE_AT..RQUEUE_AT + 4].try_into().ok()?;
                            found = Some(u32::from_ne_bytes(q));
                        }
                    }
                    _ => {}
                }
                // Messages are 4-byte aligned.
                at += (len + 3) & !3;
            }
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago (the OS picks it).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(Error::io("finding a free port"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(Error::io("finding a free port"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A listener like QEMU's forward: backlog 1, accepting only when told to.
    fn slow_listener() -> (TcpListener, u16) {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        // SAFETY: re-listening on a bound listener changes its backlog.
        assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 1) }, 0);
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    #[test]
    fn accept_queue_counts_waiting_connections() {
        let (l, port) = slow_listener();
        assert_eq!(accept_queue(port), Some(0));
        let _a = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while accept_queue(port) != Some(1) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(accept_queue(port), Some(1));
        let _ = l.accept().unwrap();
        assert_eq!(accept_queue(port), Some(0));
        assert_eq!(accept_queue(free_port().unwrap()), None);
    }

    /// 16 clients connect at once to a backlog-1 listener that accepts every 20 ms:
    /// through the relay every request is answered (directly, Linux drops or resets
    /// some), and the bytes and ends pass through unchanged.
    #[test]
    fn simultaneous_clients_all_get_through() {
        let (l, upstream) = slow_listener();
        thread::spawn(move || {
            for s in l.incoming() {
                thread::sleep(Duration::from_millis(20));
                let mut s = s.unwrap();
                thread::spawn(move || {
                    let mut req = [0u8; 64];
                    let n = s.read(&mut req).unwrap();
                    // Echo the request twice, then close.
                    s.write_all(&req[..n]).unwrap();
                    s.write_all(&req[..n]).unwrap();
                });
            }
        });
        let front = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = front.local_addr().unwrap().port();
        let relay = Relay::with_listener(front, port, upstream).unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let clients: Vec<_> = (0..16)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    let msg = format!("client {i}");
                    s.write_all(msg.as_bytes()).unwrap();
                    let mut got = String::new();
                    s.read_to_string(&mut got).unwrap();
                    assert_eq!(got, format!("{msg}{msg}"));
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        drop(relay);
    }

    #[test]
    fn a_reset_upstream_resets_the_client() {
        let (l, upstream) = slow_listener();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"partial").unwrap();
            reset(&s);
        });
        let front = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = front.local_addr().unwrap().port();
        let _relay = Relay::with_listener(front, port, upstream).unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::new();
        let err = s.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "got {got:?}");
    }

    #[test]
    fn dropping_the_relay_frees_the_port() {
        let relay = Relay::start(0).unwrap();
        let port = relay.port();
        drop(relay);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpListener::bind(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "port {port} still bound");
            thread::sleep(Duration::from_millis(10));
        }
    }
}
