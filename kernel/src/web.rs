//! HTTP serving of the image (feature `http`): the `gitfs_http::Content` adapter over
//! [`Fs`], the listener (a small backlog, see `listen`) and a pool of
//! connection threads. The console keeps serving on the main thread through the same lock.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use gitfs_format::{BlockDevice, Commit, EntryMode, ObjectKind};
use gitfs_http::{Content, ContentError, DirEntry, Kind, Limits, Node, Shared};

use gitfs::fs::{Fs, FsError};

/// Pending connections the guest's TCP stack keeps (each costs 128 KiB of buffers).
pub const BACKLOG: i32 = 16;
/// Threads serving connections, all started with the listener. Hermit 0.11 does not
/// give an ended thread's stacks back, and after much traffic it cannot find room for a
/// new thread's stacks (measured: "Failed to allocate Physical Memory for TaskStacks"
/// after about a thousand connections on a thread each, or on a thread started late,
/// at -m 256M), so the threads are made up front and reused.
pub const WORKERS: usize = 32;
/// Connections waiting for a free worker; more are closed at accept.
pub const QUEUED: usize = 64;
/// Stack of a worker thread (the serving path needs well under this).
const WORKER_STACK: usize = 512 * 1024;
/// A client silent for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);
/// A write blocked this long drops the client. Longer than `IDLE`: with many large
/// downloads on one emulated core a connection may wait its turn for a while.
const SEND_STALL: Duration = Duration::from_secs(120);
/// How long the last answer may take to drain after our FIN (host; see `finish`).
#[cfg_attr(target_os = "hermit", allow(dead_code))]
const LINGER: Duration = Duration::from_secs(1);

/// The image as HTTP content. Console users reach the [`Fs`] through `fs`.
pub struct HttpFs<D: BlockDevice> {
    pub fs: Fs<D>,
    time: u64,
}

impl<D: BlockDevice> HttpFs<D> {
    /// Reads the commit time once (every `Last-Modified`); 0 when it cannot be read.
    pub fn new(mut fs: Fs<D>) -> Self {
        let commit = fs.image().header().commit;
        let time = fs
            .image_mut()
            .read_verified(&commit)
            .ok()
            .filter(|o| o.kind == ObjectKind::Commit)
            .and_then(|o| Commit::parse(&o.data).ok())
            .and_then(|c| gitfs_http::signature_time(&c.committer))
            .unwrap_or(0);
        HttpFs { fs, time }
    }
}

fn kind(m: EntryMode) -> Kind {
    match m {
        EntryMode::File => Kind::File,
        EntryMode::Executable => Kind::Exec,
        EntryMode::Symlink => Kind::Symlink,
        EntryMode::Tree => Kind::Dir,
        EntryMode::Submodule => Kind::Submodule,
    }
}

fn err(e: FsError) -> ContentError {
    match e {
        FsError::Corrupt(e) => ContentError::Corrupt(e.to_string()),
        FsError::Io => ContentError::Io("disk read failed".into()),
        // Paths come normalised from the server: anything else is simply not there.
        _ => ContentError::NotFound,
    }
}

impl<D: BlockDevice> Content for HttpFs<D> {
    fn stat(&mut self, path: &[u8]) -> Result<Node, ContentError> {
        let s = self.fs.stat(path).map_err(err)?;
        Ok(Node {
            kind: kind(s.mode),
            size: s.size.unwrap_or(0),
            id: s.id.0,
        })
    }

    fn list(&mut self, path: &[u8]) -> Result<Vec<DirEntry>, ContentError> {
        let entries = self.fs.list(path).map_err(err)?;
        Ok(entries
            .into_iter()
            .map(|s| DirEntry {
                name: s.name.to_vec(),
                kind: kind(s.mode),
                size: s.size.unwrap_or(0),
            })
            .collect())
    }

    fn read(&mut self, path: &[u8], offset: u64, max: usize) -> Result<&[u8], ContentError> {
        Ok(self.fs.range(path, offset, max as u64).map_err(err)?.data)
    }

    fn blob(&mut self, path: &[u8]) -> Option<Result<Arc<[u8]>, ContentError>> {
        Some(self.fs.get_shared(path).map(|(_, _, b)| b).map_err(err))
    }

    fn last_modified(&self) -> u64 {
        self.time
    }

    fn log(&mut self, line: &str) {
        // Printed under the tree's lock, which the console also holds while it answers:
        // the line never lands inside a console response.
        println!("gitfs http error: {line}");
    }
}

/// A TCP listener on all guest addresses with a small backlog. std's `bind` asks for
/// 128, which makes Hermit 0.11 pre-allocate 128 sockets and poll them all.
#[cfg(target_os = "hermit")]
pub fn listen(port: u16) -> io::Result<TcpListener> {
    gitfs::hermit::net::listen(port, BACKLOG)
}

/// On the host (tests, serving an image file without QEMU): loopback only.
#[cfg(not(target_os = "hermit"))]
pub fn listen(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
}

/// Serves `content` on `listener` (see [`spawn_acceptor`]).
pub fn spawn_server<C>(listener: TcpListener, content: Shared<C>) -> io::Result<()>
where
    C: Content + Send + 'static,
{
    let limits = Limits::default();
    spawn_acceptor(listener, move |stream| {
        serve_connection(stream, &mut content.clone(), &limits)
    })
}

/// Accepts on a thread of its own and hands each connection to one of `WORKERS`
/// threads started here; up to `QUEUED` more wait for a free one, beyond that they are
/// closed.
pub fn spawn_acceptor<F>(listener: TcpListener, serve: F) -> io::Result<()>
where
    F: Fn(TcpStream) + Clone + Send + 'static,
{
    let (work, queue) = mpsc::sync_channel::<TcpStream>(QUEUED);
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..WORKERS {
        let (serve, queue) = (serve.clone(), Arc::clone(&queue));
        thread::Builder::new()
            .name("http-conn".into())
            .stack_size(WORKER_STACK)
            .spawn(move || loop {
                // Only the one thread waiting for work holds the lock.
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                match next {
                    Ok(stream) => serve(stream),
                    Err(_) => return,
                }
            })?;
    }
    thread::Builder::new()
        .name("http-accept".into())
        .spawn(move || {
            // A failed accept (peer gone before we took it) ends nothing else; a full
            // queue closes the connection.
            for stream in listener.incoming().flatten() {
                let _ = work.try_send(stream);
            }
        })?;
    Ok(())
}

fn serve_connection<C: Content>(stream: TcpStream, content: &mut C, limits: &Limits) {
    let mut conn = Conn::new(stream);
    // Errors (timeouts, resets) only end this connection.
    if gitfs_http::handle_connection(&mut conn, content, limits).is_ok() {
        conn.finish();
    }
}

/// A connection's stream with the guest's timeouts and fairness.
///
/// Timeouts: every read first waits up to `IDLE` for data, every write up to
/// `SEND_STALL` for room, with poll(2), the one timed wait Hermit 0.11 offers sockets.
/// Fairness: Hermit threads on one core switch only when one sleeps, and a blocking
/// socket call spins (polling the network) while the network has work, so a connection
/// whose writes keep succeeding would never give the core up: one large download would
/// starve the other connections, and even the accept loop, until it ends. Yielding after
/// each write shares the core.
pub struct Conn(TcpStream);

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        // Effective on the host only: Hermit 0.11 refuses SO_RCVTIMEO / SO_SNDTIMEO (the
        // error is ignored) and `wait` uses poll(2) instead.
        let _ = stream.set_read_timeout(Some(IDLE));
        let _ = stream.set_write_timeout(Some(SEND_STALL));
        let _ = stream.set_nodelay(true);
        Conn(stream)
    }

    /// Ends the connection after its last answer. In Hermit the socket is simply
    /// closed: smoltcp sends the FIN after the queued data and never answers unread
    /// bytes with a reset (and `shutdown` is a no-op there), so the host's lingering
    /// close is not needed.
    pub fn finish(self) {
        #[cfg(not(target_os = "hermit"))]
        gitfs_http::close_gracefully(&mut { self.0 }, LINGER);
    }
}

impl io::Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        wait(&self.0, Ready::Read, IDLE)?;
        io::Read::read(&mut self.0, buf)
    }
}

impl io::Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        wait(&self.0, Ready::Write, SEND_STALL)?;
        let n = io::Write::write(&mut self.0, buf)?;
        thread::yield_now();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::Write::flush(&mut self.0)
    }
}

#[derive(Clone, Copy)]
enum Ready {
    Read,
    Write,
}

/// Waits until `stream` is ready (or closed) for `what`; `TimedOut` after `limit`.
#[cfg(target_os = "hermit")]
fn wait(stream: &TcpStream, what: Ready, limit: Duration) -> io::Result<()> {
    gitfs::hermit::net::wait(stream, matches!(what, Ready::Write), limit)
}

/// On the host the socket's own timeouts apply.
#[cfg(not(target_os = "hermit"))]
fn wait(_: &TcpStream, _: Ready, _: Duration) -> io::Result<()> {
    Ok(())
}

#[cfg(feature = "bench")]
pub mod peer;

#[cfg(test)]
mod tests;
