//! Socket calls std does not make the way a server on Hermit 0.11 needs (feature
//! `net`): a listener with a small backlog, and poll(2) with a timeout, since the
//! kernel refuses socket timeouts.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::Duration;

#[repr(C)]
struct SockaddrIn {
    len: u8,
    family: u8,
    port: u16,
    addr: u32,
    zero: [u8; 8],
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

extern "C" {
    fn sys_socket(domain: i32, ty: i32, protocol: i32) -> i32;
    fn sys_bind(fd: i32, name: *const SockaddrIn, len: u32) -> i32;
    fn sys_listen(fd: i32, backlog: i32) -> i32;
    fn sys_close(fd: i32) -> i32;
    fn sys_poll(fds: *mut PollFd, nfds: usize, timeout: i32) -> i32;
}

/// A TCP listener on all guest addresses on `port` with room for `backlog` pending
/// connections.
pub fn listen(port: u16, backlog: i32) -> io::Result<TcpListener> {
    // The family std's hermit-abi 0.5.0 knows (the kernel's AF_INET_OLD): accepted
    // peers carry the listener's family, and std refuses any other with EINVAL.
    const AF_INET: u8 = 0;
    const SOCK_STREAM: i32 = 1;
    let check = |rc: i32, what: &str| {
        if rc < 0 {
            Err(io::Error::other(format!("{what} failed: errno {}", -rc)))
        } else {
            Ok(rc)
        }
    };
    // SAFETY: plain system calls; the address outlives the call.
    unsafe {
        // Protocol 0: the kernel refuses 6 (TCP) with EINVAL.
        let fd = check(sys_socket(AF_INET.into(), SOCK_STREAM, 0), "socket")?;
        let addr = SockaddrIn {
            len: core::mem::size_of::<SockaddrIn>() as u8,
            family: AF_INET,
            port: port.to_be(),
            addr: 0,
            zero: [0; 8],
        };
        let len = core::mem::size_of::<SockaddrIn>() as u32;
        let bound = check(sys_bind(fd, &addr, len), "bind")
            .and_then(|_| check(sys_listen(fd, backlog), "listen"));
        if let Err(e) = bound {
            sys_close(fd);
            return Err(e);
        }
        Ok(TcpListener::from_raw_fd(fd))
    }
}

/// Waits until `stream` is ready (or closed) for writing when `write`, else for
/// reading; `TimedOut` after `limit`.
pub fn wait(stream: &TcpStream, write: bool, limit: Duration) -> io::Result<()> {
    const POLLIN: i16 = 0x1;
    const POLLOUT: i16 = 0x4;
    let mut fd = PollFd {
        fd: stream.as_raw_fd(),
        events: if write { POLLOUT } else { POLLIN },
        revents: 0,
    };
    let ms = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid PollFd for the duration of the call.
    match unsafe { sys_poll(&mut fd, 1, ms) } {
        0 => Err(io::ErrorKind::TimedOut.into()),
        rc if rc < 0 => Err(io::Error::from_raw_os_error(-rc)),
        // Ready, or closed (POLLHUP): the read or write itself reports which.
        _ => Ok(()),
    }
}
