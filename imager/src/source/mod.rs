//! Sources: turn a directory, a local Git repository or a remote Git URL into a
//! [`Snapshot`]: one commit and exactly the objects reachable from its tree.
//!
//! - a directory that is a Git repository (has `.git`, or is bare), or a `file://` URL:
//!   [`local`], resolved with gix rev-parse;
//! - a remote URL (`https://`, `http://`, `ssh://`, `git://`, scp-like `user@host:path`):
//!   [`remote`], a depth-1 fetch of one revision into a temporary bare repository;
//! - any other directory: [`dir`], hashed here with a deterministic synthesised commit.

mod dir;
mod error;
mod local;
mod remote;
mod walk;

use std::path::Path;

pub use error::SourceError;
use gitfs_format::{ObjectId, ObjectKind};

/// One commit and the objects of its tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub commit: ObjectId,
    pub tree: ObjectId,
    /// The revision as given (`HEAD` when none was); empty for a directory.
    pub rev: String,
    /// The commit first, then every tree and blob reachable from its tree once
    /// (root tree first, then depth first in tree order). Gitlinks are not followed.
    pub objects: Vec<SourceObject>,
}

/// One Git object with its uncompressed data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceObject {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub data: Vec<u8>,
    /// Path of its first occurrence, `/`-separated, relative to the root ("" for
    /// the commit and the root tree): feeds Git's name-hash ordering.
    pub path: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// Revision to take from a Git source (default `HEAD`; remote: a branch, a tag
    /// or a full commit id). Rejected for a plain directory.
    pub rev: Option<String>,
    /// Commit time (unix seconds) for a directory; else `SOURCE_DATE_EPOCH`, else 0.
    pub date: Option<i64>,
}

/// Loads `source` (a path or a URL) as a snapshot.
pub fn load(source: &str, opts: &SourceOptions) -> Result<Snapshot, SourceError> {
    if let Some(path) = source.strip_prefix("file://") {
        let path = Path::new(path);
        return match classify_path(path)? {
            PathKind::Git => local::load(path, opts),
            PathKind::Directory => Err(SourceError::NotARepository(path.to_path_buf())),
        };
    }
    let path = Path::new(source);
    if remote::is_url(source) && !path.exists() {
        return remote::load(source, opts);
    }
    match classify_path(path)? {
        PathKind::Git => local::load(path, opts),
        PathKind::Directory => {
            if let Some(rev) = &opts.rev {
                return Err(SourceError::RevOnDirectory {
                    path: path.to_path_buf(),
                    rev: rev.clone(),
                });
            }
            dir::load(path, opts)
        }
    }
}

enum PathKind {
    Git,
    Directory,
}

/// A directory is a Git source when it has `.git` or is itself a Git directory
/// (bare repository); nothing cleverer (no search upwards).
fn classify_path(path: &Path) -> Result<PathKind, SourceError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::NotFound(path.to_path_buf()),
        _ => SourceError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    if !meta.is_dir() {
        return Err(SourceError::NotADirectory(path.to_path_buf()));
    }
    if std::fs::symlink_metadata(path.join(".git")).is_ok() || is_git_dir(path) {
        Ok(PathKind::Git)
    } else {
        Ok(PathKind::Directory)
    }
}

/// The shape git itself checks for a Git directory: `HEAD`, `objects/`, `refs/`.
fn is_git_dir(path: &Path) -> bool {
    path.join("HEAD").is_file() && path.join("objects").is_dir() && path.join("refs").is_dir()
}
