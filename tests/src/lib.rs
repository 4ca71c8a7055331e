//! Shared helpers for the end-to-end tests: images, VM configs, leftover-process checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gitfs_qemu::{artifacts, Artifacts, VmConfig};

/// The real loader and kernel, built by the harness if missing or stale. Panics (fails
/// the test) when they cannot be built: the test recipe is expected to provide the tools.
pub fn images() -> Artifacts {
    match Artifacts::find_or_build(&artifacts::repo_root()) {
        Ok(a) => a,
        Err(e) => panic!("cannot find or build the loader and kernel: {e}"),
    }
}

/// TCG, 256M, 1 CPU, host frequency, the real images, no disk; generous timeouts for a loaded
/// shared machine (a TCG boot takes well under a second when idle).
pub fn config() -> VmConfig {
    VmConfig {
        artifacts: Some(images()),
        // The app refuses to start without a disk unless told so.
        app_args: vec!["--no-disk".into()],
        boot_timeout: Duration::from_secs(90),
        request_timeout: Duration::from_secs(60),
        stop_timeout: Duration::from_secs(60),
        ..VmConfig::default()
    }
}

/// A scratch directory unique to this process and a name; removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates an empty scratch directory.
pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("gitfs-tests-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    Scratch(dir)
}

/// Process ids of live processes whose process group is `pgid` (QEMU leads its own group).
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| process_group(*pid) == Some(pgid))
        .collect()
}

/// The process group of `pid` from /proc/PID/stat (after the `(comm)` field).
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // Fields after comm: state ppid pgrp ...
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Asserts that the QEMU started as `pid` and everything in its process group is gone.
pub fn assert_gone(pid: u32) {
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "QEMU process {pid} is still there"
    );
    let left = group_members(pid);
    assert!(
        left.is_empty(),
        "processes left in QEMU's group {pid}: {left:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_group_is_seen() {
        let pgid = std::process::id();
        let members = group_members(process_group(pgid).unwrap_or(0));
        assert!(members.contains(&pgid));
    }
}
