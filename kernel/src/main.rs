//! gitfs unikernel entry point: opens the disk, rebuilds the path tree, prints the ready
//! line, then serves console requests (docs/console-protocol.md) on the serial console
//! and, when QEMU has a virtio-console device, on that channel too (`channel=virtio` in
//! the ready line; the same framed protocol without escaping, on its own thread).
//!
//! App arguments (`-append "... -- ARGS"`): `--diag` serves the diagnostic console
//! (raw block-device checks, no image parsing); `--no-disk` allows booting without a
//! disk (diagnostic console only); `--http [PORT]` (default 8080, kernel built with the
//! `http` feature) also serves the tree over HTTP while the console keeps working;
//! `--http-peer` with it answers HTTP with the benchmark peer instead (`web::peer`). On
//! the host the first non-flag argument is an image file, so the same code serves over
//! stdin/stdout without QEMU.

use std::io::{self, Write};
use std::process::exit;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gitfs::fs::{BootFigures, Fs};
use gitfs_console::Framing;
use gitfs_format::BlockDevice;
use gitfs_kernel::heap::{self, CountingAlloc};
use gitfs_kernel::server::{self, ExitRequest};
use gitfs_kernel::{diag, VERSION};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[cfg(target_os = "hermit")]
fn open_disk(path: Option<&str>) -> Result<impl BlockDevice, String> {
    let _ = path;
    gitfs::hermit::open_disk().map_err(|e| e.to_string())
}

#[cfg(not(target_os = "hermit"))]
fn open_disk(path: Option<&str>) -> Result<impl BlockDevice, String> {
    let path = path.ok_or("no disk image path given")?;
    gitfs::blockdev::FileDevice::open(path.as_ref()).map_err(|e| format!("{path}: {e}"))
}

/// Milliseconds since the machine started (guest) or since `start` (host).
fn boot_ms(start: Instant) -> u64 {
    #[cfg(target_os = "hermit")]
    if let Some(ms) = gitfs::hermit::uptime_ms() {
        return ms;
    }
    start.elapsed().as_millis() as u64
}

fn fail(msg: impl std::fmt::Display) -> ! {
    // One line on stdout: that is the console the harness and people read.
    println!("gitfs error: {msg}");
    exit(1);
}

fn main() {
    let start = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let http_port = http_port(&args).unwrap_or_else(|e| fail(e));
    // The first word that is neither a flag nor the value of `--http`.
    let path = args
        .iter()
        .enumerate()
        .find(|(i, a)| {
            !(a.starts_with("--")
                || (*i > 0 && args[i - 1] == "--http" && a.parse::<u16>().is_ok()))
        })
        .map(|(_, a)| a.as_str());
    let disk = open_disk(path);

    if flag("--diag") || flag("--no-disk") {
        let (disk, reason) = match disk {
            Ok(d) => (Some(d), String::new()),
            Err(e) if flag("--no-disk") => (None, e),
            Err(e) => fail(format_args!("no disk: {e}")),
        };
        let disk_bytes = disk.as_ref().map(BlockDevice::len);
        let mut out = io::stdout().lock();
        let mut console = diag::Service::new(disk, &reason);
        let ready = diag::ready_line(VERSION, Some(boot_ms(start)), disk_bytes);
        match writeln!(out, "{ready}")
            .and_then(|()| out.flush())
            .and_then(|()| console.run(io::stdin().lock(), &mut out))
        {
            Ok(code) => exit(code),
            Err(e) => fail(format_args!("console: {e}")),
        }
    }

    let disk = disk.unwrap_or_else(|e| fail(format_args!("no disk: {e}")));
    let tree_start = Instant::now();
    let mut fs = Fs::open(disk).unwrap_or_else(|e| fail(format_args!("bad image: {e}")));
    let figures = BootFigures {
        boot_ms: Some(boot_ms(start)),
        tree_ms: Some(tree_start.elapsed().as_millis() as u64),
        heap_bytes: Some(heap::in_use()),
    };
    fs.set_boot_figures(figures);
    let channel = open_channel();
    println!(
        "{}{}",
        server::ready_line(&fs, boot_ms(start), heap::in_use()),
        if channel.is_some() {
            " channel=virtio"
        } else {
            ""
        }
    );
    let answer = match http_port {
        Some(port) => serve_http(fs, port, flag("--http-peer")),
        None => {
            let fs = Arc::new(Mutex::new(fs));
            let answer: Answer = Arc::new(move |line, framing, out| {
                let with_fs = |f: &mut dyn FnMut(&mut Fs<_>)| {
                    f(&mut fs.lock().unwrap_or_else(|e| e.into_inner()))
                };
                server::answer_shared(&with_fs, line, framing, &mut { out })
            });
            answer
        }
    };
    if let Some(channel) = channel {
        serve_channel(channel, answer.clone());
    }
    // Unlocked stdout: other threads (HTTP, the channel) may print error lines.
    finish(server::serve_with(
        io::stdin().lock(),
        io::stdout(),
        |line, out| answer(line, Framing::Escaped, out),
    ))
}

/// Answers one request line framed as the channel needs; `Ok(true)` for `quit`. Every
/// channel (the serial console, the virtio channel) locks the file system per request
/// (see `server::answer_shared`).
type Answer = Arc<dyn Fn(&[u8], Framing, &mut dyn Write) -> io::Result<bool> + Send + Sync>;

#[cfg(target_os = "hermit")]
type Channel = gitfs::hermit::channel::Channel;
#[cfg(not(target_os = "hermit"))]
type Channel = std::convert::Infallible;

/// The virtio-console channel, if QEMU has one (a broken one is reported and skipped:
/// the serial console still serves everything).
fn open_channel() -> Option<Channel> {
    #[cfg(target_os = "hermit")]
    match gitfs::hermit::channel::open() {
        Ok(channel) => return channel,
        Err(e) => println!("gitfs warning: {e}; serving on the serial console only"),
    }
    None
}

/// The framed protocol, raw payloads, on the channel's own thread; pipelined requests
/// are answered in order. `quit` there stops the unikernel as on the console; a failing
/// channel ends only its thread (the serial console goes on serving).
#[cfg(target_os = "hermit")]
fn serve_channel(channel: Channel, answer: Answer) {
    let spawned = std::thread::Builder::new()
        .name("gitfs-channel".into())
        .spawn(move || {
            let (reader, writer) = channel.split();
            let input = io::BufReader::with_capacity(16 * 1024, reader);
            let output = io::BufWriter::with_capacity(64 * 1024, writer);
            let ended = server::serve_pipelined(input, output, |line, out| {
                answer(line, Framing::Raw, out)
            });
            match ended {
                ExitRequest::Quit => finish(ended),
                other => println!(
                    "gitfs warning: virtio channel ended ({other:?}); serving on the serial console only"
                ),
            }
        });
    if let Err(e) = spawned {
        println!("gitfs warning: virtio-console thread: {e}; serving on the serial console only");
    }
}

#[cfg(not(target_os = "hermit"))]
fn serve_channel(channel: Channel, _: Answer) {
    match channel {}
}

fn finish(exit_request: ExitRequest) -> ! {
    match exit_request {
        ExitRequest::Quit | ExitRequest::EndOfInput => exit(0),
        ExitRequest::InputError => fail("console input failed"),
        ExitRequest::OutputError => fail("console output failed"),
    }
}

/// `--http [PORT]`: `Some(port)` when given (8080 without a number).
fn http_port(args: &[String]) -> Result<Option<u16>, String> {
    let Some(i) = args.iter().position(|a| a == "--http") else {
        return Ok(None);
    };
    match args.get(i + 1) {
        Some(v) if !v.starts_with("--") && v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .map(Some)
            .ok_or_else(|| format!("--http {v}: expected a port from 1 to 65535")),
        _ => Ok(Some(8080)),
    }
}

/// HTTP on its own threads; returns how the consoles answer, locking the same tree.
/// `peer`: the benchmark peer answers HTTP instead (see `web::peer`).
#[cfg(feature = "http")]
fn serve_http<D: BlockDevice + Send + 'static>(fs: Fs<D>, port: u16, peer: bool) -> Answer {
    use gitfs_kernel::web;
    let shared = gitfs_http::Shared::new(web::HttpFs::new(fs));
    let listener = web::listen(port).unwrap_or_else(|e| fail(format_args!("http: {e}")));
    let started = if peer {
        serve_peer(listener)
    } else {
        web::spawn_server(listener, shared.clone())
    };
    if let Err(e) = started {
        fail(format_args!("http: {e}"));
    }
    println!(
        "gitfs http listening port={port}{}",
        if peer { " peer" } else { "" }
    );
    Arc::new(move |line, framing, out| {
        let with_fs = |f: &mut dyn FnMut(&mut Fs<D>)| f(&mut shared.lock().fs);
        server::answer_shared(&with_fs, line, framing, &mut { out })
    })
}

/// The benchmark peer on `listener`'s connections.
#[cfg(feature = "bench")]
fn serve_peer(listener: std::net::TcpListener) -> io::Result<()> {
    use gitfs_kernel::web::{self, peer, Conn};
    let body = peer::body(peer::BIG, peer::SEED);
    web::spawn_acceptor(listener, move |stream| {
        let mut conn = Conn::new(stream);
        if peer::serve(&mut conn, &body, peer::SMALL).is_ok() {
            conn.finish();
        }
    })
}

#[cfg(all(feature = "http", not(feature = "bench")))]
fn serve_peer(_: std::net::TcpListener) -> io::Result<()> {
    fail("--http-peer: this kernel was built without the bench feature")
}

#[cfg(not(feature = "http"))]
fn serve_http<D: BlockDevice>(_fs: Fs<D>, _port: u16, _peer: bool) -> Answer {
    fail("--http: this kernel was built without the http feature")
}
