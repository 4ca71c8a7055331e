//! What the server needs from a file tree: the trait the unikernel implements over its
//! verified image reads.

use std::sync::Arc;

/// What a path names. Symlinks are reported as such; the server follows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    /// A file with the executable bit (served like a file).
    Exec,
    Symlink,
    Dir,
    /// A submodule: its content is not in the image.
    Submodule,
}

/// A looked-up path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// Blob size for files and symlinks (a symlink's target length); 0 otherwise.
    pub size: u64,
    /// Git object id: the blob, the tree of a directory, or the submodule's commit.
    pub id: [u8; 20],
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub kind: Kind,
    /// As in [`Node::size`].
    pub size: u64,
}

/// Why a content operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// No such path, or a component under something that is not a directory.
    #[error("not found")]
    NotFound,
    /// The image does not hold what it claims (id mismatch, bad object): a 500, never bytes.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    #[error("I/O error: {0}")]
    Io(String),
}

/// A read-only tree of files. Paths are raw bytes: components separated by `/`, no
/// leading or trailing `/`, no `.` or `..` components; the empty path is the root.
pub trait Content {
    /// The node at `path`, without following a symlink in any component.
    fn stat(&mut self, path: &[u8]) -> Result<Node, ContentError>;

    /// The entries of the directory at `path`, in any order (the server sorts them).
    fn list(&mut self, path: &[u8]) -> Result<Vec<DirEntry>, ContentError>;

    /// Verified bytes of the file or symlink at `path` from `offset`: at most `max`,
    /// and at least one when `offset` is below the size. Corruption must be reported as
    /// [`ContentError::Corrupt`] before any byte of the blob is returned.
    fn read(&mut self, path: &[u8], offset: u64, max: usize) -> Result<&[u8], ContentError>;

    /// The whole verified blob at `path`, shared, for implementations that hold blobs
    /// whole anyway: the server then streams from it with no further call (no lock held,
    /// no second verification when connections interleave). `None`: the server uses
    /// [`Content::read`].
    fn blob(&mut self, path: &[u8]) -> Option<Result<Arc<[u8]>, ContentError>> {
        let _ = path;
        None
    }

    /// Commit time, Unix seconds: every file's `Last-Modified`.
    fn last_modified(&self) -> u64;

    /// One line about something that went wrong (corruption, I/O). Not for requests.
    fn log(&mut self, line: &str);
}
