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

/// One commit and the objects of its tree. Blob bytes stay where they are (the
/// directory's files, the repository's object database) until [`Snapshot::reader`]
/// loads them one at a time, so packing holds only its window in memory.
#[derive(Debug)]
pub struct Snapshot {
    pub commit: ObjectId,
    pub tree: ObjectId,
    /// The revision as given (`HEAD` when none was); empty for a directory.
    pub rev: String,
    /// The commit first, then every tree and blob reachable from its tree once
    /// (root tree first, then depth first in tree order). Gitlinks are not followed.
    pub objects: Vec<SourceObject>,
    store: Store,
}

/// One Git object: its id, kind, size and where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceObject {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub size: u64,
    /// Path of its first occurrence, `/`-separated, relative to the root ("" for
    /// the commit and the root tree): feeds Git's name-hash ordering.
    pub path: Vec<u8>,
    pub data: Data,
}

/// Where an object's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// In memory: commits, trees and symbolic-link targets (small, and needed whole
    /// to walk the tree anyway).
    Held(Vec<u8>),
    /// A file of a directory source, at the object's path under the directory (the
    /// path is not stored twice: a million files cost no more memory than needed),
    /// read again and hashed again when packed.
    File,
    /// In the source repository's object database.
    Stored,
}

/// Where [`Data::File`] and [`Data::Stored`] objects are read from.
enum Store {
    /// The directory a directory source's files are in.
    Dir(std::path::PathBuf),
    /// A repository, and the temporary directory it lies in for a remote source
    /// (removed when the snapshot is dropped).
    Git {
        repo: Box<gix::ThreadSafeRepository>,
        _dir: Option<tempfile::TempDir>,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Store::Dir(_) => "Store::Dir",
            Store::Git { .. } => "Store::Git",
        })
    }
}

/// Equal when they name the same commit and objects, wherever the bytes are read from.
impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        (self.commit, self.tree, &self.rev, &self.objects)
            == (other.commit, other.tree, &other.rev, &other.objects)
    }
}

impl Snapshot {
    /// A reader of object bytes; one per thread.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            snap: self,
            repo: None,
        }
    }

    /// The bytes of `objects[index]` (verified against its id).
    pub fn data(&self, index: usize) -> Result<Vec<u8>, SourceError> {
        self.reader().load(index)
    }
}

/// Loads object bytes for one thread, each checked against its id, so a file that
/// changed after it was hashed, or a corrupt repository, never makes an image.
pub struct Reader<'a> {
    snap: &'a Snapshot,
    repo: Option<gix::Repository>,
}

impl Reader<'_> {
    pub fn load(&mut self, index: usize) -> Result<Vec<u8>, SourceError> {
        let obj = &self.snap.objects[index];
        let data = match &obj.data {
            Data::Held(d) => return Ok(d.clone()),
            Data::File => {
                let path = self.file_path(obj)?;
                std::fs::read(&path).map_err(|source| SourceError::Io { path, source })?
            }
            Data::Stored => {
                let Store::Git { repo: shared, .. } = &self.snap.store else {
                    return Err(SourceError::Git {
                        message: format!("internal: object {} has no store", obj.id),
                        source: None,
                    });
                };
                let repo = self.repo.get_or_insert_with(|| shared.to_thread_local());
                local::read_blob(repo, obj.id)?
            }
        };
        if data.len() as u64 != obj.size || crate::hash::object_id(obj.kind, &data) != obj.id {
            return Err(match &obj.data {
                Data::File => SourceError::Changed {
                    path: self.file_path(obj)?,
                    id: obj.id,
                },
                _ => SourceError::Git {
                    message: format!(
                        "object {} is corrupt (its data hashes to another id)",
                        obj.id
                    ),
                    source: None,
                },
            });
        }
        Ok(data)
    }

    fn file_path(&self, obj: &SourceObject) -> Result<std::path::PathBuf, SourceError> {
        use std::os::unix::ffi::OsStrExt;
        match &self.snap.store {
            Store::Dir(root) => Ok(root.join(std::ffi::OsStr::from_bytes(&obj.path))),
            Store::Git { .. } => Err(SourceError::Git {
                message: format!("internal: object {} has no file", obj.id),
                source: None,
            }),
        }
    }
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
