//! Writing a served tree out to a host directory, as `git archive | tar -x` would:
//! files with their exec bit, symbolic links as links, submodules as empty
//! directories, names as bytes. Nothing is ever written outside the destination: a name
//! the image gives that is not a plain file name (empty, `.`, `..`, `/` or NUL in it)
//! stops the export, and no file or directory is opened through a symbolic link.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use gitfs_format::is_plain_name;
use thiserror::Error;

use crate::error::Error as SessionError;
use crate::session::{EntryKind, Session};

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("{0}: not empty (--force writes into it)")]
    NotEmpty(String),
    #[error("{0}: not a directory in the image")]
    NotADirectory(String),
    #[error("{0}: a directory (export writes directories)")]
    NotAFile(String),
    #[error("the image names an entry {name:?} in {dir:?}: not a plain file name, export refused")]
    UnsafeName { dir: String, name: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Session(#[from] SessionError),
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes the image's directory `subdir` (`""`: the whole tree) into `dest`, which is
/// created if missing and must be empty unless `force`.
pub fn export(
    s: &mut Session,
    subdir: &[u8],
    dest: &Path,
    force: bool,
) -> Result<Summary, ExportError> {
    let subdir = trim_slashes(subdir);
    if !subdir.is_empty() && s.stat(subdir)?.kind != EntryKind::Dir {
        return Err(ExportError::NotADirectory(show(subdir)));
    }
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if !force && entries.next().is_some() {
                return Err(ExportError::NotEmpty(dest.display().to_string()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(io(dest))?
        }
        Err(e) => return Err(io(dest)(e)),
    }
    // Directories level by level, then every file: on the virtio channel each batch of
    // requests is pipelined, so a tree of thousands of files pays the latency of a few
    // round trips, not of one per file.
    let mut summary = Summary::default();
    let mut leaves: Vec<(Vec<u8>, PathBuf, EntryKind)> = Vec::new();
    let mut level = vec![(subdir.to_vec(), dest.to_path_buf())];
    while !level.is_empty() {
        let dirs: Vec<&[u8]> = level.iter().map(|(d, _)| d.as_slice()).collect();
        let mut next = Vec::new();
        s.ls_each(&dirs, |i, records| {
            let (dir, host_dir) = &level[i];
            for entry in records? {
                if !is_plain_name(&entry.name) {
                    return Err(ExportError::UnsafeName {
                        dir: show(dir),
                        name: show(&entry.name),
                    });
                }
                let mut path = dir.clone();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(&entry.name);
                let host = host_dir.join(OsStr::from_bytes(&entry.name));
                match entry.kind {
                    EntryKind::Dir | EntryKind::Submodule => {
                        make_dir(&host, force)?;
                        summary.dirs += 1;
                        if entry.kind == EntryKind::Dir {
                            next.push((path, host));
                        }
                    }
                    EntryKind::Symlink | EntryKind::File | EntryKind::Exec => {
                        leaves.push((path, host, entry.kind));
                    }
                }
            }
            Ok(())
        })?;
        level = next;
    }
    let paths: Vec<&[u8]> = leaves.iter().map(|(p, _, _)| p.as_slice()).collect();
    s.get_each(&paths, |i, blob| {
        let (_, host, kind) = &leaves[i];
        write_leaf(host, *kind, &blob?.data, force, &mut summary)
    })?;
    Ok(summary)
}

/// Fetches each of `paths` (files or symbolic links) into `dest` at the same relative
/// path, creating the directories on the way (existing real directories are used; a
/// link to one is not). An existing file is kept, and the fetch refused, unless
/// `force`. Paths are resolved by the image's own rules; each must be a file or a link.
pub fn get_into(
    s: &mut Session,
    paths: &[&[u8]],
    dest: &Path,
    force: bool,
) -> Result<Summary, ExportError> {
    fs::create_dir_all(dest).map_err(io(dest))?;
    let mut rels = Vec::with_capacity(paths.len());
    for &path in paths {
        let rel = trim_slashes(path);
        if rel.is_empty() || !rel.split(|&b| b == b'/').all(is_plain_name) {
            return Err(ExportError::UnsafeName {
                dir: String::new(),
                name: show(path),
            });
        }
        rels.push(rel);
    }
    let mut summary = Summary::default();
    s.get_each(&rels, |i, blob| {
        let blob = blob?;
        if matches!(blob.kind, EntryKind::Dir | EntryKind::Submodule) {
            return Err(ExportError::NotAFile(show(paths[i])));
        }
        let comps: Vec<&[u8]> = rels[i].split(|&b| b == b'/').collect();
        let mut host = dest.to_path_buf();
        for (n, c) in comps.iter().enumerate() {
            host.push(OsStr::from_bytes(c));
            if n + 1 < comps.len() {
                make_dir(&host, true)?;
            }
        }
        write_leaf(&host, blob.kind, &blob.data, force, &mut summary)
    })?;
    Ok(summary)
}

/// Writes a file (`data`, exec bit from `kind`) or a symbolic link (target `data`) at
/// `host`, and counts it.
fn write_leaf(
    host: &Path,
    kind: EntryKind,
    data: &[u8],
    force: bool,
    summary: &mut Summary,
) -> Result<(), ExportError> {
    if kind == EntryKind::Symlink {
        if force {
            remove_if_file_or_link(host)?;
        }
        std::os::unix::fs::symlink(OsStr::from_bytes(data), host).map_err(io(host))?;
        summary.symlinks += 1;
    } else {
        let mode = if kind == EntryKind::Exec {
            0o755
        } else {
            0o644
        };
        write_file(host, data, mode, force)?;
        summary.files += 1;
        summary.bytes += data.len() as u64;
    }
    Ok(())
}

fn trim_slashes(p: &[u8]) -> &[u8] {
    let start = p.iter().position(|&b| b != b'/').unwrap_or(p.len());
    let end = p.iter().rposition(|&b| b != b'/').map_or(start, |i| i + 1);
    &p[start..end.max(start)]
}

/// A new directory; with `force` an existing real directory is reused (a link to one
/// is not: it could lead outside).
fn make_dir(host: &Path, force: bool) -> Result<(), ExportError> {
    match fs::create_dir(host) {
        Ok(()) => Ok(()),
        Err(e) if force && e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = fs::symlink_metadata(host).map_err(io(host))?;
            if meta.is_dir() {
                Ok(())
            } else {
                Err(io(host)(e))
            }
        }
        Err(e) => Err(io(host)(e)),
    }
}

/// With `--force`, what stands where a file or link goes is replaced, unless it is a
/// directory.
fn remove_if_file_or_link(host: &Path) -> Result<(), ExportError> {
    match fs::symlink_metadata(host) {
        Ok(m) if !m.is_dir() => fs::remove_file(host).map_err(io(host)),
        _ => Ok(()),
    }
}

/// Creates `host` afresh (`O_EXCL`: never through a link, never over an existing file).
fn write_file(host: &Path, data: &[u8], mode: u32, force: bool) -> Result<(), ExportError> {
    if force {
        remove_if_file_or_link(host)?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(host)
        .map_err(io(host))?;
    f.write_all(data).map_err(io(host))?;
    // The mode given at creation is filtered by the umask, as `tar -x` does; set it
    // exactly so the exec bit is always what the image says.
    fs::set_permissions(host, fs::Permissions::from_mode(mode)).map_err(io(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdirs_lose_their_slashes() {
        assert_eq!(trim_slashes(b"/docs/"), b"docs");
        assert_eq!(trim_slashes(b"a/b"), b"a/b");
        assert_eq!(trim_slashes(b"///"), b"");
        assert_eq!(trim_slashes(b""), b"");
    }
}
