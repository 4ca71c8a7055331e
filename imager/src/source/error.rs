//! Source errors: one line each in `Display`; library detail (gix chains) in `source()`.

use std::path::PathBuf;

type Detail = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source not found: {}", .0.display())]
    NotFound(PathBuf),
    #[error("source is not a directory: {} (give a directory, a Git repository or a URL)", .0.display())]
    NotADirectory(PathBuf),
    #[error("not a Git repository: {}", .0.display())]
    NotARepository(PathBuf),
    #[error("a revision ({rev}) was given but {} is a plain directory, not a Git repository", .path.display())]
    RevOnDirectory { path: PathBuf, rev: String },
    #[error("unknown revision: {0}")]
    UnknownRevision(String),
    #[error("revision {rev} does not name a commit")]
    NotACommit { rev: String },
    #[error("remote {url}: {message}")]
    Remote {
        url: String,
        message: String,
        #[source]
        source: Option<Detail>,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tree entry {name:?} in {dir:?}/ is not a plain file name (empty, `.`, `..`, `/` or NUL): refused")]
    UnsafeName { dir: String, name: String },
    #[error("SOURCE_DATE_EPOCH is not a whole number of seconds: {0:?}")]
    BadDate(String),
    #[error("{} changed while the image was made (its bytes no longer hash to {id}): run again", .path.display())]
    Changed {
        path: PathBuf,
        id: gitfs_format::ObjectId,
    },
    #[error("git: {message}")]
    Git {
        message: String,
        #[source]
        source: Option<Detail>,
    },
}

impl SourceError {
    pub(crate) fn git(message: impl Into<String>, source: impl Into<Detail>) -> Self {
        SourceError::Git {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// The innermost cause of a gix error, as one line: what a person can act on
/// ("Connection refused", "repository not found") without the wrapping chain.
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    if let Some(io) = cur.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::UnexpectedEof {
            // What a server that rejects the request does (its reason, if any,
            // went to stderr, e.g. from ssh): say that, not "failed to fill buffer".
            return "the remote closed the connection early (wrong path, or no access?)".into();
        }
    }
    let text = cur.to_string();
    text.lines().next().unwrap_or("").trim().to_string()
}
