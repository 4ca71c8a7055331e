//! `webserver`: a small static file server that knows nothing of gitfs beyond the
//! mount call. It is ordinary `std::fs` + `std::net` code: GET and HEAD of files below
//! a root directory, `index.html` for directories, 404 otherwise, one request per
//! connection. The proof that existing std code serves a gitfs image.
//!
//! Arguments: `[ROOT] [PORT]` (default: the gitfs mount point, 8080). Prints
//! `webserver listening on PORT` once it accepts connections.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

fn main() {
    let mut args = std::env::args().skip(1);
    let root = match args.next() {
        Some(r) => PathBuf::from(r),
        None => match gitfs::mount() {
            Ok(m) => PathBuf::from(m.path),
            Err(e) => {
                eprintln!("webserver: {e}");
                std::process::exit(1);
            }
        },
    };
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("webserver: bind: {e}");
            std::process::exit(1);
        }
    };
    println!("webserver listening on {port}");
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                if let Err(e) = handle(s, &root) {
                    eprintln!("webserver: {e}");
                }
            }
            Err(e) => eprintln!("webserver: accept: {e}"),
        }
    }
}

fn handle(stream: TcpStream, root: &Path) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = stream;
    if method != "GET" && method != "HEAD" {
        return respond(&mut out, "405 Method Not Allowed", b"method not allowed\n", true);
    }
    let Some(path) = local_path(root, target) else {
        return respond(&mut out, "400 Bad Request", b"bad path\n", true);
    };
    let path = if path.is_dir() { path.join("index.html") } else { path };
    match fs::File::open(&path) {
        Ok(mut f) => {
            let len = f.metadata()?.len();
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: {}\r\nConnection: close\r\n\r\n",
                content_type(&path)
            )?;
            if method == "GET" {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])?;
                }
            }
            out.flush()
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            respond(&mut out, "404 Not Found", b"not found\n", method == "GET")
        }
        Err(e) => {
            eprintln!("webserver: {}: {e}", path.display());
            respond(&mut out, "500 Internal Server Error", b"error\n", method == "GET")
        }
    }
}

fn respond(out: &mut TcpStream, status: &str, body: &[u8], with_body: bool) -> io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if with_body {
        out.write_all(body)?;
    }
    out.flush()
}

/// The file for a request target: percent-decoded, below `root`, no `..`.
fn local_path(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let bytes = percent_decode(path.as_bytes())?;
    let decoded = String::from_utf8(bytes).ok()?;
    let rel = Path::new(decoded.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") | Some("htm") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("txt") | Some("md") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}
