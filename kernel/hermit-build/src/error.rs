use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// Why the kernel could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("environment variable {0} is not set")]
    Env(&'static str),
    #[error("{name}={value:?}: {why}")]
    Option {
        name: &'static str,
        value: String,
        why: String,
    },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{what}: cannot start: {source}")]
    Spawn { what: String, source: io::Error },
    #[error("{what}: failed with {status}")]
    Failed { what: String, status: ExitStatus },
    #[error("cargo metadata: {0}")]
    Metadata(String),
    #[error("{}: not where a crate's manifest should be", .0.display())]
    Layout(PathBuf),
    #[error("patch {patch}: {why}")]
    Patch { patch: String, why: String },
    #[error("symbol export: {0}")]
    Export(String),
    #[error("libhermit.a: {0}")]
    Archive(String),
}

/// Attaches `path` to an I/O result.
pub(crate) fn io<T>(path: &Path, r: io::Result<T>) -> Result<T, Error> {
    r.map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
