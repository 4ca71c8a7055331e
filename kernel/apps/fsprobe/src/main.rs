//! `fsprobe`: the end-to-end tests' and benchmarks' view of a gitfs mount through
//! `std::fs`. Not a product: it mounts the disk, prints a ready line, then answers one
//! request per console line with one line. Fields are separated by tabs (paths may hold
//! spaces); answers start with `ok` or `err <ErrorKind> <errno>`.
//!
//! Requests: `read P`, `seek P OPS` (OPS: `s|c|e<offset>:<len>` comma-separated: seek
//! from start, current or end, then read up to len), `stat P`, `lstat P`, `fstat P`,
//! `ls P`, `exists P`, `readlink P`, `writes P` (every changing call on P), `tmp` (the
//! kernel's own /tmp and /proc still work), `threads N ROUNDS P...`, `shared N CHUNK P`,
//! `bench ROUNDS`, `quit`.

// On the host (clippy, tests) the benchmark, which needs the mounted volume, is out.
#![cfg_attr(not(target_os = "hermit"), allow(unused))]

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

fn main() {
    let mounted = match gitfs::mount() {
        Ok(m) => m,
        Err(e) => {
            println!("gitfs error: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "gitfs ready probe mount={} commit={} files={}",
        mounted.path, mounted.commit, mounted.files
    );
    let root = PathBuf::from(&mounted.path);
    let stdin = io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim_end_matches('\r');
        let args: Vec<&str> = line.split('\t').collect();
        if args[0] == "quit" {
            break;
        }
        let answer = answer(&root, &args).unwrap_or_else(|e| err(&e));
        println!("{answer}");
    }
}

fn err(e: &io::Error) -> String {
    format!(
        "err {:?} {}",
        gitfs::error_kind(e),
        gitfs::os_error(e).unwrap_or(0)
    )
}

fn sha1(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

fn arg<'a>(args: &[&'a str], i: usize) -> io::Result<&'a str> {
    args.get(i)
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing argument"))
}

fn answer(root: &Path, args: &[&str]) -> io::Result<String> {
    let path = |i: usize| arg(args, i).map(|p| root.join(p.trim_start_matches('/')));
    match args[0] {
        "read" => {
            let data = fs::read(path(1)?)?;
            Ok(format!("ok {} {}", data.len(), sha1(&data)))
        }
        "seek" => seek(&path(1)?, arg(args, 2)?),
        "stat" => Ok(describe(&fs::metadata(path(1)?)?, &path(1)?)),
        "lstat" => Ok(describe(&fs::symlink_metadata(path(1)?)?, &path(1)?)),
        "fstat" => {
            let p = path(1)?;
            Ok(describe(&File::open(&p)?.metadata()?, &p))
        }
        "ls" => {
            let mut names = Vec::new();
            for e in entries(&path(1)?)? {
                let t = e.file_type()?;
                let kind = kind(&t, ["d", "l", "f", "?"]);
                names.push(format!("{kind}:{}", e.file_name().to_string_lossy()));
            }
            Ok(format!("ok {}", names.join("\t")))
        }
        "exists" => Ok(format!("ok {}", fs::exists(path(1)?)?)),
        "readlink" => Ok(format!("ok {}", gitfs::read_link(path(1)?)?.display())),
        "writes" => Ok(writes(&path(1)?)),
        "tmp" => {
            fs::write("/tmp/probe.txt", b"kept")?;
            let back = fs::read("/tmp/probe.txt")?;
            let version = fs::read_to_string("/proc/version")?;
            Ok(format!(
                "ok {} {}",
                String::from_utf8_lossy(&back),
                version.starts_with("HermitOS")
            ))
        }
        "threads" => threads(root, args),
        "shared" => shared(&path(3)?, args),
        "bench" => bench(root, arg(args, 1)?.parse().unwrap_or(1)),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown request {other:?}"),
        )),
    }
}

/// `names` for a directory, a symbolic link, a file, anything else.
fn kind(t: &fs::FileType, names: [&'static str; 4]) -> &'static str {
    let [dir, link, file, other] = names;
    if t.is_dir() {
        dir
    } else if t.is_symlink() {
        link
    } else if t.is_file() {
        file
    } else {
        other
    }
}

/// `ok <type> <mode> <size> <mtime> <readonly>`.
fn describe(m: &fs::Metadata, path: &Path) -> String {
    let t = m.file_type();
    let kind = kind(&t, ["dir", "symlink", "file", "other"]);
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(-1, |d| d.as_secs() as i64);
    let mode = if t.is_symlink() {
        0o120777
    } else {
        gitfs::mode(path).unwrap_or(0)
    };
    format!(
        "ok {kind} {mode:o} {} {mtime} {}",
        m.len(),
        m.permissions().readonly()
    )
}

fn seek(path: &Path, ops: &str) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut out = vec!["ok".to_string()];
    for op in ops.split(',') {
        let (how, rest) = op.split_at(1);
        let (off, len) = rest
            .split_once(':')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad op"))?;
        let off: i64 = off.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
        let len: usize = len.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
        let pos = match how {
            "s" => f.seek(SeekFrom::Start(off as u64)),
            "c" => f.seek(SeekFrom::Current(off)),
            _ => f.seek(SeekFrom::End(off)),
        };
        let pos = match pos {
            Ok(p) => p,
            Err(e) => {
                out.push(format!("E{}", gitfs::os_error(&e).unwrap_or(0)));
                continue;
            }
        };
        let mut buf = Vec::new();
        (&mut f).take(len as u64).read_to_end(&mut buf)?;
        out.push(format!("{pos}:{}:{}", buf.len(), sha1(&buf)));
    }
    Ok(out.join(" "))
}

/// Every call that would change `path`, each `name=<result>`.
fn writes(path: &Path) -> String {
    let r = |res: io::Result<()>| match res {
        Ok(()) => "ok".to_string(),
        Err(e) => format!(
            "{:?}/{}",
            gitfs::error_kind(&e),
            gitfs::os_error(&e).unwrap_or(0)
        ),
    };
    let new = path.with_file_name("probe-new-file");
    let results = [
        ("create", r(File::create(&new).map(drop))),
        ("create_new", r(OpenOptions::new().write(true).create_new(true).open(&new).map(drop))),
        ("write", r(OpenOptions::new().write(true).open(path).map(drop))),
        ("append", r(OpenOptions::new().append(true).open(path).map(drop))),
        ("truncate", r(OpenOptions::new().write(true).truncate(true).open(path).map(drop))),
        ("set_len", r(File::open(path).and_then(|f| f.set_len(0)))),
        ("write_all", r(File::open(path).and_then(|mut f| f.write_all(b"x")))),
        ("remove_file", r(fs::remove_file(path))),
        ("rename", r(fs::rename(path, &new))),
        ("create_dir", r(fs::create_dir(path.with_file_name("probe-new-dir")))),
        ("remove_dir", r(fs::remove_dir(path.parent().unwrap_or(path)))),
    ];
    let parts: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("ok {}", parts.join(" "))
}

/// `threads N ROUNDS P...`: N threads at once, thread i reading path i mod len ROUNDS
/// times; `ok` and each path's digests in thread order, or the first error.
fn threads(root: &Path, args: &[&str]) -> io::Result<String> {
    let n: usize = arg(args, 1)?.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
    let rounds: usize = arg(args, 2)?.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
    let paths: Vec<PathBuf> = args[3..].iter().map(|p| root.join(p)).collect();
    if paths.is_empty() {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let p = paths[i % paths.len()].clone();
            std::thread::spawn(move || -> io::Result<String> {
                let mut digests = Vec::new();
                for _ in 0..rounds {
                    digests.push(sha1(&fs::read(&p)?));
                }
                digests.dedup();
                Ok(digests.join("+"))
            })
        })
        .collect();
    let mut out = vec!["ok".to_string()];
    for h in handles {
        out.push(h.join().map_err(|_| io::Error::other("thread panicked"))??);
    }
    Ok(out.join(" "))
}

/// `shared N CHUNK P`: N threads read one open descriptor of P, CHUNK bytes per call,
/// until the end. The descriptor's position is shared, so the chunks must tile the
/// file: each equal to one CHUNK-aligned range of it (as `fs::read` gives it), every
/// range read once. `ok chunks=K bytes=B`, or what went wrong.
fn shared(path: &Path, args: &[&str]) -> io::Result<String> {
    let n: usize = arg(args, 1)?.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
    let chunk: usize = arg(args, 2)?.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
    if n == 0 || chunk == 0 {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let file = std::sync::Arc::new(File::open(path)?);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let file = file.clone();
            std::thread::spawn(move || -> io::Result<Vec<Vec<u8>>> {
                let mut got = Vec::new();
                loop {
                    let mut buf = vec![0u8; chunk];
                    let k = (&*file).read(&mut buf)?;
                    if k == 0 {
                        return Ok(got);
                    }
                    buf.truncate(k);
                    got.push(buf);
                }
            })
        })
        .collect();
    let mut chunks = Vec::new();
    for h in handles {
        chunks.extend(h.join().map_err(|_| io::Error::other("thread panicked"))??);
    }
    let whole = fs::read(path)?;
    let ranges: std::collections::HashMap<&[u8], usize> =
        whole.chunks(chunk).enumerate().map(|(i, c)| (c, i)).collect();
    let mut seen = vec![false; whole.len().div_ceil(chunk)];
    for c in &chunks {
        match ranges.get(&c[..]) {
            Some(&i) if !seen[i] => seen[i] = true,
            Some(&i) => return Ok(format!("err range {i} read twice")),
            None => return Ok(format!("err a chunk of {} bytes is no range", c.len())),
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Ok(format!("err range {i} never read"));
    }
    let bytes: usize = chunks.iter().map(Vec::len).sum();
    Ok(format!("ok chunks={} bytes={bytes}", chunks.len()))
}

/// Every file read through std::fs and through the library directly, in this boot:
/// `ok files=N bytes=B std_ms=.. direct_ms=.. open_meta_p50_us=.. open_meta_p99_us=..`.
#[cfg(not(target_os = "hermit"))]
fn bench(_root: &Path, _rounds: usize) -> io::Result<String> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(target_os = "hermit")]
fn bench(root: &Path, rounds: usize) -> io::Result<String> {
    let Some(volume) = gitfs::mounted() else {
        return Err(io::Error::other("nothing mounted"));
    };
    let mut files = Vec::new();
    list_files(root, Path::new(""), &mut files)?;
    let mut bytes = 0u64;
    let (mut std_s, mut direct_s, mut volume_s) = (f64::MAX, f64::MAX, f64::MAX);
    let mut phases = [0.0f64; 4];
    let mut open_meta = Vec::new();
    for _ in 0..rounds.max(1) {
        // The library's own blob cache would serve the second reader from memory:
        // empty it before each pass so both passes inflate and hash every file.
        volume.fs().drop_cache();
        let t = Instant::now();
        bytes = 0;
        for rel in &files {
            bytes += fs::read(root.join(rel))?.len() as u64;
        }
        std_s = std_s.min(t.elapsed().as_secs_f64());
        volume.fs().drop_cache();
        let t = Instant::now();
        for rel in &files {
            let path = rel.as_os_str().as_encoded_bytes();
            let mut fs = volume.fs();
            let file = fs.get(path).map_err(|e| io::Error::other(e.to_string()))?;
            std::hint::black_box(file.data.to_vec());
        }
        direct_s = direct_s.min(t.elapsed().as_secs_f64());
        // The same calls the kernel makes on the mount, made directly: the cost of the
        // file-system layer without the system calls.
        volume.fs().drop_cache();
        let t = Instant::now();
        for rel in &files {
            let errno = io::Error::from_raw_os_error;
            let h = volume.open(rel.as_os_str().as_encoded_bytes()).map_err(errno)?;
            let mut buf = vec![0u8; volume.fstat(h).map_err(errno)?.size as usize];
            volume.read(h, 0, &mut buf).map_err(errno)?;
            volume.close(h);
        }
        volume_s = volume_s.min(t.elapsed().as_secs_f64());
        // fs::read taken apart into the calls it makes.
        volume.fs().drop_cache();
        phases = [0.0; 4];
        for rel in &files {
            let t = Instant::now();
            let mut f = File::open(root.join(rel))?;
            let t1 = Instant::now();
            let len = f.metadata()?.len() as usize;
            let t2 = Instant::now();
            let mut data = Vec::with_capacity(len);
            f.read_to_end(&mut data)?;
            let t3 = Instant::now();
            drop(f);
            let t4 = Instant::now();
            for (p, d) in phases.iter_mut().zip([t1 - t, t2 - t1, t3 - t2, t4 - t3]) {
                *p += d.as_secs_f64();
            }
        }
        for rel in &files {
            let t = Instant::now();
            let f = File::open(root.join(rel))?;
            f.metadata()?;
            open_meta.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    open_meta.sort_by(f64::total_cmp);
    let pct = |p: f64| open_meta[((open_meta.len() - 1) as f64 * p).round() as usize];
    let per_file = |s: f64| s * 1e6 / files.len().max(1) as f64;
    Ok(format!(
        "ok files={} bytes={bytes} std_ms={:.1} direct_ms={:.1} volume_ms={:.1} \
         open_meta_p50_us={:.0} open_meta_p99_us={:.0} \
         open_us={:.0} fstat_us={:.0} read_us={:.0} close_us={:.0}",
        files.len(),
        std_s * 1e3,
        direct_s * 1e3,
        volume_s * 1e3,
        pct(0.5),
        pct(0.99),
        per_file(phases[0]),
        per_file(phases[1]),
        per_file(phases[2]),
        per_file(phases[3]),
    ))
}

/// The entries of directory `dir`; none for an empty one, which std's Hermit backend
/// reports as an error.
fn entries(dir: &Path) -> io::Result<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Ok(listing) => listing.collect(),
        Err(e) if gitfs::is_empty_listing(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn list_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in entries(&root.join(rel))? {
        let t = e.file_type()?;
        let child = rel.join(e.file_name());
        if t.is_dir() {
            list_files(root, &child, out)?;
        } else if t.is_file() {
            out.push(child);
        }
    }
    Ok(())
}
