//! The console request loop: both faces of `docs/console-protocol.md` over any
//! `BufRead`/`Write` pair (the serial console in the guest, memory in host tests).

use std::fmt::Write as _;
use std::io::{self, BufRead, Write};

use gitfs_console::{
    err_header, ok_header, parse_line, ErrorCode, Face, Framer, Framing, Kind, ParseError, Record,
    Request, MAX_LINE,
};
use gitfs_format::{BlockDevice, EntryMode, ObjectId};

use gitfs::fs::{Fs, FsError};

/// Payload bytes escaped and written per `write_all`: bounded memory for any file size.
pub const CHUNK: usize = 16 * 1024;
/// Bytes beyond [`MAX_LINE`] tolerated before trimming (`\r`, spaces).
const LINE_SLACK: usize = 8;

/// Why [`serve`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitRequest {
    /// `quit` (either face): answered, then stop with success.
    Quit,
    /// The input ended (never on the serial console; host use and tests).
    EndOfInput,
    InputError,
    OutputError,
}

/// What a person sees for `help`.
pub const HELP: &str = "\
gitfs console. Paths are relative to the root of the image; '/' separates components.
  help              this text
  ls [PATH]         list a directory: mode, kind, size, name
  cat PATH          print a file (a symlink prints its target)
  stat PATH         kind, mode, size and Git id of a path
  digest PATH       Git object id of a path
  range OFF LEN PATH  print LEN bytes of a file from byte OFF
  info              commit, counts and boot figures
  quit              stop the unikernel
Programs: the same commands prefixed with '@' (paths percent-encoded) get framed,
binary-safe responses; see docs/console-protocol.md.
";

/// The line printed once the file system is ready (see the protocol document).
pub fn ready_line<D: BlockDevice>(fs: &Fs<D>, boot_ms: u64, heap_bytes: u64) -> String {
    let info = fs.info();
    format!(
        "gitfs ready commit={} objects={} files={} dirs={} boot_ms={boot_ms} tree_bytes={} heap_bytes={heap_bytes}",
        info.commit, info.objects, info.counts.files, info.counts.dirs, info.tree_bytes
    )
}

/// Serves requests from `input` until `quit`, the end of the input or an I/O error.
/// Bad requests and failed operations are answered and the loop goes on.
pub fn serve<D: BlockDevice, R: BufRead, W: Write>(
    fs: &mut Fs<D>,
    input: R,
    output: W,
) -> ExitRequest {
    serve_with(input, output, |line, out| {
        handle_line(fs, line, Framing::Escaped, out)
    })
}

/// [`serve`] with each line answered by `answer` (`Ok(true)` for `quit`): lets a caller
/// lock a shared [`Fs`] per request, so other users (HTTP) run between requests.
/// Output is flushed after every answer.
pub fn serve_with<R: BufRead, W: Write, F>(input: R, output: W, answer: F) -> ExitRequest
where
    F: FnMut(&[u8], &mut W) -> io::Result<bool>,
{
    serve_loop(input, output, |_| false, answer)
}

/// [`serve_with`] for a channel where requests arrive pipelined: output is flushed only
/// when no further whole request is already waiting in `input`'s buffer, so a batch of
/// small answers leaves in a few large writes instead of one write each.
pub fn serve_pipelined<R: io::Read, W: Write, F>(
    input: io::BufReader<R>,
    output: W,
    answer: F,
) -> ExitRequest
where
    F: FnMut(&[u8], &mut W) -> io::Result<bool>,
{
    serve_loop(input, output, |i| i.buffer().contains(&b'\n'), answer)
}

fn serve_loop<R: BufRead, W: Write, F>(
    mut input: R,
    mut output: W,
    queued: impl Fn(&R) -> bool,
    mut answer: F,
) -> ExitRequest
where
    F: FnMut(&[u8], &mut W) -> io::Result<bool>,
{
    let mut line = Vec::with_capacity(256);
    loop {
        let result = match read_line(&mut input, &mut line) {
            Err(_) => return ExitRequest::InputError,
            Ok(LineRead::Eof) => return ExitRequest::EndOfInput,
            Ok(LineRead::TooLong(n)) => {
                let framed = line.iter().find(|b| !b" \t\0".contains(b)) == Some(&b'@');
                let face = if framed { Face::Framed } else { Face::Human };
                let msg = ParseError::TooLong(n).to_string();
                reply_error(&mut output, face, ErrorCode::TooLong, &msg).map(|()| false)
            }
            Ok(LineRead::Line) => answer(&line, &mut output),
        };
        let flushed = |quit: bool| {
            if quit || !queued(&input) {
                output.flush()?;
            }
            Ok(quit)
        };
        match result.and_then(flushed) {
            Ok(true) => return ExitRequest::Quit,
            Ok(false) => {}
            Err(_) => return ExitRequest::OutputError,
        }
    }
}

enum LineRead {
    Line,
    /// The line's full length; `line` holds its start.
    TooLong(usize),
    Eof,
}

/// Reads one line into `line` (newline removed), keeping at most about [`MAX_LINE`]
/// bytes: longer lines are read to their end and reported, never buffered whole.
fn read_line<R: BufRead>(input: &mut R, line: &mut Vec<u8>) -> io::Result<LineRead> {
    line.clear();
    let cap = MAX_LINE + LINE_SLACK;
    let mut total = 0usize;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(match total {
                0 => LineRead::Eof,
                n if n > cap => LineRead::TooLong(n),
                _ => LineRead::Line,
            });
        }
        let (part, used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        total += part.len();
        let room = (cap + 1).saturating_sub(line.as_slice().len());
        line.extend_from_slice(&part[..part.len().min(room)]);
        input.consume(used);
        if done {
            return Ok(if total > cap {
                LineRead::TooLong(total)
            } else {
                LineRead::Line
            });
        }
    }
}

/// Answers one request line, framed responses as `framing` (the channel's);
/// `Ok(true)` for `quit`.
pub fn handle_line<D: BlockDevice, W: Write>(
    fs: &mut Fs<D>,
    line: &[u8],
    framing: Framing,
    out: &mut W,
) -> io::Result<bool> {
    match parse_line(line) {
        None => Ok(false),
        Some((face, Err(e))) => reply_parse_error(out, face, &e),
        Some((face, Ok(req))) => handle_request(fs, face, req, framing, out),
    }
}

fn reply_parse_error<W: Write>(out: &mut W, face: Face, e: &ParseError) -> io::Result<bool> {
    let code = match e {
        ParseError::TooLong(_) => ErrorCode::TooLong,
        _ => ErrorCode::BadRequest,
    };
    reply_error(out, face, code, &e.to_string())?;
    Ok(false)
}

fn handle_request<D: BlockDevice, W: Write>(
    fs: &mut Fs<D>,
    face: Face,
    req: Request,
    framing: Framing,
    out: &mut W,
) -> io::Result<bool> {
    match face {
        Face::Framed => framed(fs, req, Sender { out, framing }),
        Face::Human => human(fs, req, out),
    }
}

/// Runs the closure it is given with the shared [`Fs`] locked.
pub type LendFs<'a, D> = dyn Fn(&mut dyn FnMut(&mut Fs<D>)) + 'a;

/// Answers one request line on a channel that shares the file system with others:
/// `with_fs` runs a closure with the [`Fs`] locked. A whole file (`@get`) is taken out
/// under the lock and sent after it is released, so a long transfer on one channel does
/// not hold up the others.
pub fn answer_shared<D: BlockDevice, W: Write>(
    with_fs: &LendFs<'_, D>,
    line: &[u8],
    framing: Framing,
    out: &mut W,
) -> io::Result<bool> {
    let (face, req) = match parse_line(line) {
        None => return Ok(false),
        // A malformed line needs no file system.
        Some((face, Err(e))) => return reply_parse_error(out, face, &e),
        Some((face, Ok(req))) => (face, req),
    };
    if let (Face::Framed, Request::Get(p)) = (face, &req) {
        let mut got = None;
        with_fs(&mut |fs| got = Some(fs.get_shared(p)));
        let got = got.ok_or_else(|| io::Error::other("the file system was not lent"))?;
        let mut sender = Sender { out, framing };
        return match got {
            Ok((mode, id, data)) => sender.file(mode, id, &data).map(|()| false),
            Err(e) => sender.fs_error(p, &e),
        };
    }
    let (mut req, mut result) = (Some(req), Ok(false));
    with_fs(&mut |fs| {
        if let Some(req) = req.take() {
            result = handle_request(fs, face, req, framing, out);
        }
    });
    result
}

fn error_code(e: &FsError) -> ErrorCode {
    match e {
        FsError::NotFound => ErrorCode::NotFound,
        FsError::IsADirectory => ErrorCode::IsADirectory,
        FsError::NotADirectory => ErrorCode::NotADirectory,
        FsError::BadPath(_) => ErrorCode::BadPath,
        FsError::BadRange { .. } => ErrorCode::BadRange,
        FsError::Submodule => ErrorCode::Unsupported,
        // Only `Fs::lookup` with links followed returns it; the server never follows.
        FsError::TooManyLinks => ErrorCode::NotFound,
        FsError::Corrupt(_) => ErrorCode::Corrupt,
        FsError::Io => ErrorCode::Io,
    }
}

pub fn kind_of(mode: EntryMode) -> Kind {
    match mode {
        EntryMode::File => Kind::File,
        EntryMode::Executable => Kind::Exec,
        EntryMode::Symlink => Kind::Symlink,
        EntryMode::Tree => Kind::Dir,
        EntryMode::Submodule => Kind::Submodule,
    }
}

/// A path for messages: printable ASCII kept, other bytes as `\xNN`.
fn show(path: &[u8]) -> String {
    let mut s = String::with_capacity(path.len());
    for &b in path {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(b as char);
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

fn reply_error<W: Write>(out: &mut W, face: Face, code: ErrorCode, msg: &str) -> io::Result<()> {
    match face {
        Face::Framed => out.write_all(err_header(code, msg).as_bytes()),
        Face::Human => writeln!(out, "error: {msg}"),
    }
}

fn fs_error<W: Write>(out: &mut W, face: Face, path: &[u8], e: &FsError) -> io::Result<bool> {
    reply_error(out, face, error_code(e), &format!("{}: {e}", show(path)))?;
    Ok(false)
}

/// Where framed responses go, and how their payloads travel.
struct Sender<'a, W> {
    out: &'a mut W,
    framing: Framing,
}

impl<W: Write> Sender<'_, W> {
    /// Header, payload (escaped in [`CHUNK`]s, or raw in one write), trailer.
    fn ok(&mut self, data: &[u8], fields: &[&str]) -> io::Result<()> {
        let out = &mut *self.out;
        out.write_all(ok_header(data.len() as u64, fields).as_bytes())?;
        let mut framer = Framer::with_framing(data.len() as u64, self.framing);
        match self.framing {
            Framing::Raw => {
                framer.count(data);
                out.write_all(data)?;
            }
            Framing::Escaped => {
                let mut buf = Vec::with_capacity(CHUNK + CHUNK / 8);
                for c in data.chunks(CHUNK) {
                    buf.clear();
                    framer.chunk(c, &mut buf);
                    out.write_all(&buf)?;
                }
            }
        }
        let trailer = framer
            .finish()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        out.write_all(&trailer)
    }

    /// A whole file: kind, mode and id in the header.
    fn file(&mut self, mode: EntryMode, id: ObjectId, data: &[u8]) -> io::Result<()> {
        let octal = format!("{:06o}", mode.mode());
        self.ok(data, &[kind_of(mode).as_str(), &octal, &id.to_string()])
    }

    fn fs_error(&mut self, path: &[u8], e: &FsError) -> io::Result<bool> {
        fs_error(self.out, Face::Framed, path, e)
    }
}

fn info_pairs<D: BlockDevice>(fs: &Fs<D>) -> Vec<(&'static str, String)> {
    let i = fs.info();
    let rev: String = i
        .rev
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let mut v = vec![
        ("version", crate::VERSION.to_string()),
        ("commit", i.commit.to_string()),
        ("tree", i.tree.to_string()),
        ("rev", rev),
        ("objects", i.objects.to_string()),
        ("files", i.counts.files.to_string()),
        ("executables", i.counts.executables.to_string()),
        ("dirs", i.counts.dirs.to_string()),
        ("symlinks", i.counts.symlinks.to_string()),
        ("submodules", i.counts.submodules.to_string()),
        ("tree_nodes", i.tree_nodes.to_string()),
        ("tree_bytes", i.tree_bytes.to_string()),
    ];
    for (k, val) in [
        ("boot_ms", i.boot.boot_ms),
        ("tree_ms", i.boot.tree_ms),
        ("heap_bytes", i.boot.heap_bytes),
    ] {
        if let Some(n) = val {
            v.push((k, n.to_string()));
        }
    }
    v
}

fn framed<D: BlockDevice, W: Write>(
    fs: &mut Fs<D>,
    req: Request,
    mut out: Sender<'_, W>,
) -> io::Result<bool> {
    match req {
        Request::Get(p) => match fs.get(&p) {
            Ok(f) => out.file(f.mode, f.id, f.data)?,
            Err(e) => return out.fs_error(&p, &e),
        },
        Request::Range { offset, len, path } => match fs.range(&path, offset, len) {
            Ok(s) => out.ok(s.data, &[&s.size.to_string(), &s.id.to_string()])?,
            Err(e) => return out.fs_error(&path, &e),
        },
        Request::Ls(p) => match fs.list(&p) {
            Ok(entries) => {
                let mut text = String::new();
                for e in &entries {
                    Record {
                        mode: e.mode.mode(),
                        kind: kind_of(e.mode),
                        size: e.size,
                        id: e.id.0,
                        name: e.name.to_vec(),
                    }
                    .encode(&mut text);
                }
                out.ok(text.as_bytes(), &[&entries.len().to_string()])?;
            }
            Err(e) => return out.fs_error(&p, &e),
        },
        Request::Stat(p) => match fs.stat(&p) {
            Ok(st) => {
                let (node, mode, size, id) = (st.node, st.mode, st.size, st.id);
                let mut text = String::new();
                Record {
                    mode: mode.mode(),
                    kind: kind_of(mode),
                    size,
                    id: id.0,
                    name: fs.tree().path(node),
                }
                .encode(&mut text);
                out.ok(text.as_bytes(), &[])?;
            }
            Err(e) => return out.fs_error(&p, &e),
        },
        Request::Digest(p) => match fs.digest(&p) {
            Ok((mode, id)) => out.ok(id.to_string().as_bytes(), &[kind_of(mode).as_str()])?,
            Err(e) => return out.fs_error(&p, &e),
        },
        Request::Info => {
            let mut text = String::new();
            for (k, v) in info_pairs(fs) {
                let _ = writeln!(text, "{k}={v}");
            }
            out.ok(text.as_bytes(), &[])?;
        }
        Request::Help => out.ok(HELP.as_bytes(), &[])?,
        Request::Ping => out.ok(b"", &[])?,
        Request::Quit => {
            out.ok(b"", &[])?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Prints file bytes for a person: text as is (newline-terminated), binary summarised.
fn print_text<W: Write>(out: &mut W, data: &[u8], size: u64, path: &[u8]) -> io::Result<()> {
    if data[..data.len().min(8000)].contains(&0) {
        return writeln!(
            out,
            "({}: binary, {size} bytes; use '@get' or '@range' for its bytes)",
            show(path)
        );
    }
    for c in data.chunks(CHUNK) {
        out.write_all(c)?;
    }
    if !data.is_empty() && !data.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn human<D: BlockDevice, W: Write>(fs: &mut Fs<D>, req: Request, out: &mut W) -> io::Result<bool> {
    let face = Face::Human;
    match req {
        Request::Help => out.write_all(HELP.as_bytes())?,
        Request::Ping => writeln!(out, "pong")?,
        Request::Quit => {
            writeln!(out, "bye")?;
            return Ok(true);
        }
        Request::Get(p) => match fs.get(&p) {
            Ok(f) => {
                let size = f.data.len() as u64;
                print_text(out, f.data, size, &p)?
            }
            Err(e) => return fs_error(out, face, &p, &e),
        },
        Request::Range { offset, len, path } => match fs.range(&path, offset, len) {
            Ok(s) => print_text(out, s.data, s.size, &path)?,
            Err(e) => return fs_error(out, face, &path, &e),
        },
        Request::Ls(p) => match fs.list(&p) {
            Ok(entries) => {
                let mut text = String::new();
                for e in &entries {
                    let size = e.size.map_or("-".to_string(), |n| n.to_string());
                    let slash = if e.mode == EntryMode::Tree { "/" } else { "" };
                    let _ = writeln!(
                        text,
                        "{:06o} {:<9} {size:>10}  {}{slash}",
                        e.mode.mode(),
                        kind_of(e.mode).as_str(),
                        show(e.name)
                    );
                }
                let _ = writeln!(text, "({} entries)", entries.len());
                out.write_all(text.as_bytes())?;
            }
            Err(e) => return fs_error(out, face, &p, &e),
        },
        Request::Stat(p) => match fs.stat(&p) {
            Ok(st) => {
                let size = st.size.map_or("-".to_string(), |n| n.to_string());
                let text = format!(
                    "path: {}\nkind: {}\nmode: {:06o}\nsize: {size}\nid:   {}\n",
                    show(&p),
                    kind_of(st.mode).as_str(),
                    st.mode.mode(),
                    st.id
                );
                out.write_all(text.as_bytes())?;
            }
            Err(e) => return fs_error(out, face, &p, &e),
        },
        Request::Digest(p) => match fs.digest(&p) {
            Ok((mode, id)) => writeln!(out, "{id} {} {}", kind_of(mode).as_str(), show(&p))?,
            Err(e) => return fs_error(out, face, &p, &e),
        },
        Request::Info => {
            let mut text = String::new();
            for (k, v) in info_pairs(fs) {
                let _ = writeln!(text, "{k}: {v}");
            }
            out.write_all(text.as_bytes())?;
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests;
