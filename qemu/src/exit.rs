//! How a QEMU run ended: plain data, shared by the VM and its errors.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// How QEMU ended, from isa-debug-exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The app exited 0 (QEMU rc 3).
    Success,
    /// The app or kernel failed (QEMU rc 1).
    AppFailure,
    /// The loader gave up (QEMU rc 65).
    LoaderFailure,
    Other(i32),
    /// Killed by a signal (our timeout kill, or someone else).
    Signal(i32),
}

impl Exit {
    pub fn from_status(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(3), _) => Exit::Success,
            (Some(1), _) => Exit::AppFailure,
            (Some(65), _) => Exit::LoaderFailure,
            (Some(n), _) => Exit::Other(n),
            (None, Some(s)) => Exit::Signal(s),
            (None, None) => Exit::Other(-1),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Success => f.write_str("success (QEMU rc 3)"),
            Exit::AppFailure => f.write_str("app failure (QEMU rc 1)"),
            Exit::LoaderFailure => f.write_str("loader failure (QEMU rc 65)"),
            Exit::Other(n) => write!(f, "QEMU rc {n}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let st = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(Exit::from_status(st(3)), Exit::Success);
        assert_eq!(Exit::from_status(st(1)), Exit::AppFailure);
        assert_eq!(Exit::from_status(st(65)), Exit::LoaderFailure);
        assert_eq!(Exit::from_status(st(0)), Exit::Other(0));
        assert_eq!(Exit::from_status(ExitStatus::from_raw(9)), Exit::Signal(9));
    }
}
