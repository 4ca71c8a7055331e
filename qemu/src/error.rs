//! Errors of the harness library.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while building, booting or talking to the VM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found at {path} (set {env} or build it)")]
    ArtifactMissing {
        what: &'static str,
        path: PathBuf,
        env: &'static str,
    },
    #[error("no example app named {0:?} (known: walk, webserver)")]
    UnknownApp(String),
    #[error("building the {what} failed ({status}): {tail}")]
    BuildFailed {
        what: &'static str,
        status: String,
        tail: String,
    },
    #[error("cannot start {program}: {source} (is QEMU installed? `just setup` installs it)")]
    QemuSpawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("I/O error while {context}: {source}")]
    Io {
        context: &'static str,
        source: std::io::Error,
    },
    #[error("no ready line within {timeout:?}; console so far: {transcript}")]
    BootTimeout {
        timeout: Duration,
        transcript: String,
    },
    #[error("QEMU exited ({exit}) before the ready line; console: {transcript}; stderr: {stderr}")]
    ExitedEarly {
        exit: crate::exit::Exit,
        transcript: String,
        stderr: String,
    },
    #[error("QEMU stopped the guest: {stderr}")]
    GuestStopped { stderr: String },
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        what: &'static str,
        timeout: Duration,
    },
    #[error("console closed (QEMU exited) while waiting for {what}")]
    ConsoleClosed { what: &'static str },
    #[error("line to send contains a line break or is not plain text: {0:?}")]
    BadRequest(String),
    /// The unikernel answered with an error response (`=ERR <code> <message>`).
    #[error("{message} ({code})")]
    Remote { code: String, message: String },
    /// The response was damaged on the way (escape, CRC or trailer check failed); the
    /// session cannot be trusted any more.
    #[error("damaged response: {0}")]
    Damaged(String),
    /// A well-formed response that does not fit the request.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// Bytes that do not hash to the Git id the response carries.
    #[error("{path}: content hashes to {actual}, not to its id {expected}")]
    IdMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("the session is unusable after an earlier damaged response")]
    Poisoned,
    /// `--transport virtio` asked for the virtio-console channel and there is none.
    #[error("no virtio channel: {0} (--transport serial uses the serial console)")]
    NoChannel(String),
}

impl Error {
    /// The code of an error response (`not-found`, `is-a-directory`, ...).
    pub fn remote_code(&self) -> Option<&str> {
        match self {
            Error::Remote { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
