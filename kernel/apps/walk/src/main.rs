//! `walk`: a plain Hermit app that mounts the gitfs disk and prints, for every file and
//! symlink below the mount point, the line `git -c core.quotePath=false ls-tree -r -l`
//! prints: `<mode> blob <id> <size>\t<path>`. Everything comes through `std::fs`
//! (plus `gitfs::read_link` and `gitfs::mode`, which std's Hermit backend lacks): the
//! id is the SHA-1 of the bytes read, so the output proves them against git.
//!
//! Arguments: an optional directory to walk instead of the mount point (on the host,
//! any checkout).

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::exit;

fn main() {
    let root = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => match gitfs::mount() {
            Ok(m) => PathBuf::from(m.path),
            Err(e) => {
                eprintln!("walk: {e}");
                exit(1);
            }
        },
    };
    let mut out = BufWriter::new(io::stdout().lock());
    if let Err(e) = walk(&root, &mut Vec::new(), &mut out).and_then(|()| out.flush()) {
        eprintln!("walk: {e}");
        exit(1);
    }
}

/// Lists `dir` (its path below the root is `rel`) in Git's tree order: names compared
/// as bytes, a directory's name with a `/` after it.
fn walk(dir: &Path, rel: &mut Vec<u8>, out: &mut impl Write) -> io::Result<()> {
    let mut entries = Vec::new();
    let listing = match fs::read_dir(dir) {
        Ok(listing) => Some(listing),
        Err(e) if gitfs::is_empty_listing(&e) => None,
        Err(e) => return Err(e),
    };
    for entry in listing.into_iter().flatten() {
        let entry = entry?;
        let name = entry.file_name().into_encoded_bytes();
        let ft = entry.file_type()?;
        let mut key = name.clone();
        if ft.is_dir() {
            key.push(b'/');
        }
        entries.push((key, name, entry.path(), ft));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, name, path, ft) in entries {
        let len = rel.len();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(&name);
        if ft.is_dir() {
            walk(&path, rel, out)?;
        } else {
            let (mode, data) = if ft.is_symlink() {
                let target = gitfs::read_link(&path)?;
                (0o120000, target.into_os_string().into_encoded_bytes())
            } else {
                let data = fs::read(&path)?;
                let size = fs::metadata(&path)?.len();
                if size != data.len() as u64 {
                    return Err(io::Error::other(format!(
                        "{}: metadata says {size} bytes, read {}",
                        path.display(),
                        data.len()
                    )));
                }
                let exec = gitfs::mode(&path)? & 0o111 != 0;
                (if exec { 0o100755 } else { 0o100644 }, data)
            };
            let mut sha = sha1_smol::Sha1::new();
            sha.update(format!("blob {}\0", data.len()).as_bytes());
            sha.update(&data);
            write!(out, "{mode:06o} blob {} {:>7}\t", sha.digest(), data.len())?;
            out.write_all(&quote(rel))?;
            out.write_all(b"\n")?;
        }
        rel.truncate(len);
    }
    Ok(())
}

/// A path as git prints it with `core.quotePath=false`: as it is, unless it holds a
/// control character, `"` or `\`; then C-quoted (bytes of 0x80 and above stay raw).
fn quote(path: &[u8]) -> Vec<u8> {
    let special = |b: u8| b < 0x20 || b == 0x7f || b == b'"' || b == b'\\';
    if !path.iter().any(|&b| special(b)) {
        return path.to_vec();
    }
    let mut q = vec![b'"'];
    for &b in path {
        match b {
            0x07 => q.extend_from_slice(b"\\a"),
            0x08 => q.extend_from_slice(b"\\b"),
            b'\t' => q.extend_from_slice(b"\\t"),
            b'\n' => q.extend_from_slice(b"\\n"),
            0x0b => q.extend_from_slice(b"\\v"),
            0x0c => q.extend_from_slice(b"\\f"),
            b'\r' => q.extend_from_slice(b"\\r"),
            b'"' => q.extend_from_slice(b"\\\""),
            b'\\' => q.extend_from_slice(b"\\\\"),
            b if special(b) => q.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            b => q.push(b),
        }
    }
    q.push(b'"');
    q
}
