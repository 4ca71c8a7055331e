//! A client for the unikernel's framed protocol (`docs/console-protocol.md`), on the
//! virtio-console channel when the kernel offers it, else on the serial console.
//!
//! On the serial console, one request at a time: the next request goes out only once the
//! previous response is complete, so the kernel's echo of a request always precedes its
//! response and can never land inside a payload. [`Console`](crate::Console) removes the
//! echo; the `gitfs_console::Decoder` also skips anything that is not a response header
//! (log lines, the human face's text) and checks escapes, length and CRC-32. The virtio
//! channel has no echo and no escaping: requests are pipelined ([`Session::pipeline`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use gitfs_console::{
    encode_request, parse_info, parse_records, Client, ClientError, Framing, Kind, Record, Request,
};
pub use gitfs_console::{Kind as EntryKind, Record as Entry, Response};

use crate::channel::ChannelStream;
use crate::error::{Error, Result};
use crate::vm::{Exit, Vm, VmConfig};

/// Which channel a session talks on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// The virtio channel when the kernel offers it, else the serial console.
    #[default]
    Auto,
    /// The serial console (COM1) only: no virtio-console device is attached.
    Serial,
    /// The virtio channel; an error if the kernel does not offer it.
    Virtio,
}

/// The ready line's word when the kernel serves the virtio channel.
pub const CHANNEL_READY_WORD: &str = "channel=virtio";

/// Requests in flight at once on the virtio channel, and their bytes: both far below
/// what the host's socket buffer holds, so sending never waits on the guest, which may
/// itself be waiting for us to read a response.
const PIPELINE_DEPTH: usize = 64;
const PIPELINE_BYTES: usize = 64 * 1024;

enum Link {
    Serial,
    Virtio(Client<ChannelStream>),
}

/// The ready line, split into its `key=value` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub line: String,
    pub fields: Vec<(String, String)>,
}

impl Ready {
    pub fn parse(line: &str) -> Ready {
        let fields = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ready {
            line: line.to_string(),
            fields,
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric field (`files`, `boot_ms`, `tree_bytes`, ...).
    pub fn num(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }
}

/// A whole file from `@get`, its bytes checked against `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub kind: Kind,
    /// Git mode (`0o100644`, `0o100755`, `0o120000`).
    pub mode: u32,
    /// 40 lower-case hex digits.
    pub id: String,
    pub data: Vec<u8>,
}

/// Bytes of a file from `@range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Size of the whole file.
    pub size: u64,
    pub id: String,
    pub data: Vec<u8>,
}

/// A booted unikernel serving an image, driven through the framed protocol.
pub struct Session {
    vm: Vm,
    link: Link,
    ready: Ready,
    idle_timeout: Duration,
    poisoned: bool,
}

/// Payloads announced larger than this are refused before any allocation.
const MAX_PAYLOAD: u64 = 1 << 34;

impl Session {
    /// Boots `config` (which should carry a disk) and waits for the ready line; talks on
    /// the virtio channel if the config attaches one and the kernel serves it.
    pub fn boot(config: &VmConfig) -> Result<Session> {
        Session::new(Vm::boot(config)?)
    }

    /// Boots `config` with the channel `transport` asks for.
    pub fn boot_with(config: &VmConfig, transport: Transport) -> Result<Session> {
        let mut config = config.clone();
        config.channel = match transport {
            Transport::Serial => None,
            _ => Some(config.channel.unwrap_or_default()),
        };
        let session = Session::boot(&config)?;
        if transport == Transport::Virtio && session.transport() != Transport::Virtio {
            return Err(Error::NoChannel(format!(
                "the kernel does not serve one (no {CHANNEL_READY_WORD} in its ready line)"
            )));
        }
        Ok(session)
    }

    /// Takes over a booted VM (waits for its ready line if not seen yet).
    pub fn new(mut vm: Vm) -> Result<Session> {
        let ready = Ready::parse(vm.wait_ready()?);
        let idle_timeout = vm.request_timeout();
        let offered = ready
            .line
            .split_whitespace()
            .any(|w| w == CHANNEL_READY_WORD);
        // A channel of the caller's own (extra QEMU arguments) is not ours to use.
        let link = if offered && vm.has_channel() {
            let stream = ChannelStream::new(vm.connect_channel()?, idle_timeout)
                .map_err(Error::io("setting up the virtio-console channel"))?;
            Link::Virtio(
                Client::new(stream)
                    .with_framing(Framing::Raw)
                    .with_max_payload(MAX_PAYLOAD),
            )
        } else {
            Link::Serial
        };
        Ok(Session {
            vm,
            link,
            ready,
            idle_timeout,
            poisoned: false,
        })
    }

    /// The channel in use: [`Transport::Virtio`] or [`Transport::Serial`].
    pub fn transport(&self) -> Transport {
        match self.link {
            Link::Serial => Transport::Serial,
            Link::Virtio(_) => Transport::Virtio,
        }
    }

    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// QEMU's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.vm.pid()
    }

    pub fn vm(&mut self) -> &mut Vm {
        &mut self.vm
    }

    /// How long a response may go without a new byte before the request fails
    /// (the VM's request timeout by default; large files take longer than that in total).
    pub fn set_idle_timeout(&mut self, t: Duration) {
        self.idle_timeout = t;
    }

    /// Sends one request and returns its decoded response, error responses included.
    pub fn request(&mut self, req: &Request) -> Result<Response> {
        self.exchange(&encode_request(req))
    }

    /// Sends any line (a newline is added) and decodes the framed response to it: for
    /// requests [`encode_request`] cannot make (malformed, overlong).
    pub fn raw(&mut self, line: &[u8]) -> Result<Response> {
        if line.iter().any(|&b| b == b'\n' || b == b'\r') {
            return Err(Error::BadRequest(
                String::from_utf8_lossy(line).into_owned(),
            ));
        }
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        self.exchange(&bytes)
    }

    fn exchange(&mut self, bytes: &[u8]) -> Result<Response> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        let idle = self.idle_timeout;
        let result = match &mut self.link {
            Link::Virtio(client) => {
                client.get_mut().set_idle(idle);
                client.exchange(bytes)
            }
            Link::Serial => {
                let console = self.vm.console();
                // Whatever arrived since the last response (stray log lines) is noise.
                let stale = console.buffered().len();
                console.consume(stale);
                console.forget_echo();
                let mut client =
                    Client::new(ConsoleStream { console, idle }).with_max_payload(MAX_PAYLOAD);
                let result = client.exchange(bytes);
                // What came after the response (an app's summary line...) is not the
                // client's.
                let rest = client.take_buffered();
                self.vm.console().unread(&rest);
                result
            }
        };
        self.checked(result)
    }

    /// Sends every request and hands `each` its index and response, in order. On the
    /// virtio channel requests are pipelined (up to [`PIPELINE_DEPTH`] in flight), so
    /// latency is paid once, not per request; on the serial console they go one at a
    /// time. When `each` fails, the responses already asked for are read and dropped
    /// (the stream stays in step) and its error is returned.
    pub fn pipeline<E: From<Error>>(
        &mut self,
        requests: &[Request],
        mut each: impl FnMut(usize, Response) -> Result<(), E>,
    ) -> Result<(), E> {
        if !matches!(self.link, Link::Virtio(_)) {
            for (i, req) in requests.iter().enumerate() {
                let resp = self.request(req)?;
                each(i, resp)?;
            }
            return Ok(());
        }
        if self.poisoned {
            return Err(Error::Poisoned.into());
        }
        let lines: Vec<Vec<u8>> = requests.iter().map(encode_request).collect();
        let mut in_flight: VecDeque<usize> = VecDeque::new();
        let (mut next, mut bytes, mut failed) = (0, 0usize, None);
        while next < lines.len() || !in_flight.is_empty() {
            if failed.is_none() {
                while next < lines.len()
                    && in_flight.len() < PIPELINE_DEPTH
                    && (in_flight.is_empty() || bytes + lines[next].len() <= PIPELINE_BYTES)
                {
                    let sent = self.channel_client()?.send(&lines[next]);
                    self.checked(sent)?;
                    bytes += lines[next].len();
                    in_flight.push_back(next);
                    next += 1;
                }
            }
            let Some(i) = in_flight.pop_front() else {
                break;
            };
            bytes -= lines[i].len();
            let idle = self.idle_timeout;
            let client = self.channel_client()?;
            client.get_mut().set_idle(idle);
            let received = client.receive();
            let resp = self.checked(received)?;
            if failed.is_none() {
                if let Err(e) = each(i, resp) {
                    failed = Some(e);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// The virtio channel's client (pipelining needs it).
    fn channel_client(&mut self) -> Result<&mut Client<ChannelStream>> {
        match &mut self.link {
            Link::Virtio(client) => Ok(client),
            Link::Serial => Err(Error::Protocol(
                "pipelined requests need the virtio channel".into(),
            )),
        }
    }

    /// The session's view of a client result: a damaged stream or a timeout poisons it.
    fn checked<T>(&mut self, result: Result<T, ClientError>) -> Result<T> {
        let idle = self.idle_timeout;
        match result {
            Ok(v) => Ok(v),
            Err(ClientError::Damaged(e)) => {
                self.poisoned = true;
                Err(Error::Damaged(e.to_string()))
            }
            Err(ClientError::Closed) => Err(Error::ConsoleClosed { what: "a response" }),
            Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                // The stream position is unknown now: later answers cannot be trusted.
                self.poisoned = true;
                Err(Error::Timeout {
                    what: "a response",
                    timeout: idle,
                })
            }
            Err(ClientError::Io(source)) => Err(Error::Io {
                context: match self.link {
                    Link::Serial => "talking to the console",
                    Link::Virtio(_) => "talking on the virtio channel",
                },
                source,
            }),
        }
    }

    /// A successful response's header fields and payload; error responses become
    /// [`Error::Remote`].
    fn ok(&mut self, req: &Request) -> Result<(Vec<String>, Vec<u8>)> {
        ok_of(self.request(req)?)
    }

    /// A whole file (a symlink: its target), checked against its Git blob id.
    pub fn get_blob(&mut self, path: impl AsRef<[u8]>) -> Result<Blob> {
        let path = path.as_ref();
        let resp = self.request(&Request::Get(path.to_vec()))?;
        blob_of(path, resp)
    }

    /// [`Session::get_blob`] for every path, pipelined on the virtio channel: `each`
    /// gets the index and the blob or its error (an error response does not stop the
    /// others).
    pub fn get_each<P: AsRef<[u8]>, E: From<Error>>(
        &mut self,
        paths: &[P],
        mut each: impl FnMut(usize, Result<Blob>) -> Result<(), E>,
    ) -> Result<(), E> {
        let requests: Vec<Request> = paths
            .iter()
            .map(|p| Request::Get(p.as_ref().to_vec()))
            .collect();
        self.pipeline(&requests, |i, resp| {
            each(i, blob_of(paths[i].as_ref(), resp))
        })
    }

    /// [`Session::ls`] for every directory, pipelined on the virtio channel.
    pub fn ls_each<P: AsRef<[u8]>, E: From<Error>>(
        &mut self,
        dirs: &[P],
        mut each: impl FnMut(usize, Result<Vec<Record>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let requests: Vec<Request> = dirs
            .iter()
            .map(|p| Request::Ls(p.as_ref().to_vec()))
            .collect();
        self.pipeline(&requests, |i, resp| each(i, records_of(resp)))
    }

    /// A whole file's bytes, checked against its Git blob id.
    pub fn get(&mut self, path: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        self.get_blob(path).map(|b| b.data)
    }

    /// `len` bytes from `offset` (fewer at the end of the file).
    pub fn range_slice(&mut self, path: impl AsRef<[u8]>, offset: u64, len: u64) -> Result<Slice> {
        let path = path.as_ref().to_vec();
        let (fields, data) = self.ok(&Request::Range { offset, len, path })?;
        let [size, id] = fields.as_slice() else {
            return Err(Error::Protocol(format!("@range header fields {fields:?}")));
        };
        let size: u64 = size
            .parse()
            .map_err(|_| Error::Protocol(format!("@range size {size:?}")))?;
        check_id(id)?;
        let expected = size.saturating_sub(offset).min(len);
        if data.len() as u64 != expected {
            return Err(Error::Protocol(format!(
                "@range {offset} {len} of a {size}-byte file gave {} bytes",
                data.len()
            )));
        }
        Ok(Slice {
            size,
            id: id.clone(),
            data,
        })
    }

    pub fn range(&mut self, path: impl AsRef<[u8]>, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.range_slice(path, offset, len).map(|s| s.data)
    }

    /// A directory's entries in byte order of names ("" or "/" is the root).
    pub fn ls(&mut self, path: impl AsRef<[u8]>) -> Result<Vec<Record>> {
        let resp = self.request(&Request::Ls(path.as_ref().to_vec()))?;
        records_of(resp)
    }

    /// One entry; its name is the full path (empty for the root).
    pub fn stat(&mut self, path: impl AsRef<[u8]>) -> Result<Record> {
        let (_, payload) = self.ok(&Request::Stat(path.as_ref().to_vec()))?;
        let mut records = parse_records(&payload).map_err(|e| Error::Protocol(e.to_string()))?;
        match (records.pop(), records.is_empty()) {
            (Some(r), true) => Ok(r),
            _ => Err(Error::Protocol("@stat did not give one record".into())),
        }
    }

    /// The Git object id (40 hex) and kind of a path.
    pub fn digest(&mut self, path: impl AsRef<[u8]>) -> Result<(Kind, String)> {
        let (fields, payload) = self.ok(&Request::Digest(path.as_ref().to_vec()))?;
        let kind = fields
            .first()
            .and_then(|k| Kind::parse(k.as_bytes()))
            .ok_or_else(|| Error::Protocol(format!("@digest fields {fields:?}")))?;
        let id = String::from_utf8(payload)
            .map_err(|_| Error::Protocol("@digest id is not text".into()))?;
        check_id(&id)?;
        Ok((kind, id))
    }

    /// `key=value` pairs: commit, tree, rev, counts, boot figures.
    pub fn info(&mut self) -> Result<Vec<(String, String)>> {
        let (_, payload) = self.ok(&Request::Info)?;
        Ok(parse_info(&payload))
    }

    pub fn ping(&mut self) -> Result<()> {
        self.ok(&Request::Ping).map(drop)
    }

    /// Asks the unikernel to quit and returns how QEMU ended.
    pub fn quit(mut self) -> Result<Exit> {
        if self.poisoned {
            // The console is out of step: asking politely could hang; end it.
            self.vm.kill();
        } else {
            self.ok(&Request::Quit)?;
        }
        let t = self.vm.stop_timeout();
        self.vm.wait_exit(t)
    }
}

/// An error response as [`Error::Remote`].
fn ok_of(resp: Response) -> Result<(Vec<String>, Vec<u8>)> {
    match resp {
        Response::Ok { fields, payload } => Ok((fields, payload)),
        Response::Err { code, message } => Err(Error::Remote { code, message }),
    }
}

/// The blob an `@get` response carries, checked against its id.
fn blob_of(path: &[u8], resp: Response) -> Result<Blob> {
    let (fields, data) = ok_of(resp)?;
    let [kind, mode, id] = fields.as_slice() else {
        return Err(Error::Protocol(format!("@get header fields {fields:?}")));
    };
    let kind = Kind::parse(kind.as_bytes())
        .ok_or_else(|| Error::Protocol(format!("@get kind {kind:?}")))?;
    let mode =
        u32::from_str_radix(mode, 8).map_err(|_| Error::Protocol(format!("@get mode {mode:?}")))?;
    check_id(id)?;
    if matches!(kind, Kind::File | Kind::Exec | Kind::Symlink) {
        let actual = blob_id(&data);
        if actual != *id {
            return Err(Error::IdMismatch {
                path: show(path),
                expected: id.clone(),
                actual,
            });
        }
    }
    Ok(Blob {
        kind,
        mode,
        id: id.clone(),
        data,
    })
}

/// The entries an `@ls` response carries, as many as it announced.
fn records_of(resp: Response) -> Result<Vec<Record>> {
    let (fields, payload) = ok_of(resp)?;
    let records = parse_records(&payload).map_err(|e| Error::Protocol(e.to_string()))?;
    if fields.first().map(String::as_str) != Some(records.len().to_string().as_str()) {
        return Err(Error::Protocol(format!(
            "@ls announced {fields:?} entries, sent {}",
            records.len()
        )));
    }
    Ok(records)
}

fn check_id(id: &str) -> Result<()> {
    if id.len() == 40 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(Error::Protocol(format!("bad object id {id:?}")))
    }
}

/// Git's blob id: SHA-1 of `blob <len>\0` and the bytes.
pub fn blob_id(data: &[u8]) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    h.digest().to_string()
}

/// A path for messages (lossy UTF-8).
fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// The serial console as a byte stream for [`Client`]: writes are sent (their echo
/// expected and removed), reads wait at most `idle` for clean bytes.
struct ConsoleStream<'a> {
    console: &'a mut crate::console::Console,
    idle: Duration,
}

impl std::io::Read for ConsoleStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let deadline = Instant::now() + self.idle;
        while self.console.buffered().is_empty() {
            if self.console.ended() {
                return Ok(0);
            }
            if !self.console.pump(deadline) {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
        }
        let n = buf.len().min(self.console.buffered().len());
        buf[..n].copy_from_slice(&self.console.buffered()[..n]);
        self.console.consume(n);
        Ok(n)
    }
}

impl std::io::Write for ConsoleStream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.console
            .send_bytes(buf)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_fields() {
        let r = Ready::parse("gitfs ready commit=ab objects=3 files=2 boot_ms=120");
        assert_eq!(r.get("commit"), Some("ab"));
        assert_eq!(r.num("files"), Some(2));
        assert_eq!(r.num("boot_ms"), Some(120));
        assert_eq!(r.num("commit"), None);
        assert_eq!(r.get("nope"), None);
    }

    #[test]
    fn blob_ids_match_git() {
        // `git hash-object /dev/null` and `printf 'hello\n' | git hash-object --stdin`.
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
