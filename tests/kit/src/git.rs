//! Stock git for tests (feature `std`): the oracle, and the way test repositories are
//! made. Every run has the same identity and dates, no system or user configuration,
//! and no repository inherited from the environment.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::string::String;
use std::vec::Vec;
use std::{format, panic};

/// The author and committer date of every commit a test makes.
pub const DATE: &str = "2024-01-01T00:00:00Z";

/// A `git` command in `dir` with the fixed environment.
pub fn command(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "gitfs tests")
        .env("GIT_AUTHOR_EMAIL", "tests@gitfs.invalid")
        .env("GIT_COMMITTER_NAME", "gitfs tests")
        .env("GIT_COMMITTER_EMAIL", "tests@gitfs.invalid")
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_DATE", DATE)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null());
    c
}

/// Runs `git ARGS` in `dir` with `input` on stdin; its stdout, or git's message.
pub fn try_run(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let mut cmd = command(dir);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(|e| format!("git: {e}"))?;
    // A thread writes, so a large input cannot deadlock against a full stdout pipe.
    let writer = match (input, child.stdin.take()) {
        (Some(data), Some(mut stdin)) => {
            let data = data.to_vec();
            Some(std::thread::spawn(move || stdin.write_all(&data)))
        }
        _ => None,
    };
    let out = child.wait_with_output().map_err(|e| format!("git: {e}"))?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    if !out.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Runs `git ARGS` in `dir`; its stdout. Panics with git's message on failure.
pub fn run(dir: &Path, args: &[&str]) -> Vec<u8> {
    try_run(dir, args, None).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`run`], with `input` on stdin.
pub fn run_with_input(dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    try_run(dir, args, Some(input)).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`run`], as text without the trailing newline.
pub fn text(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(run(dir, args))
        .expect("git printed UTF-8")
        .trim_end()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_get_the_fixed_identity_and_date() {
        let dir = std::env::temp_dir().join(std::format!("gitfs-testkit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        run(&dir, &["init", "-q", "-b", "main"]);
        // No input: stdin is empty, the empty blob.
        let empty = text(&dir, &["hash-object", "-w", "--stdin"]);
        assert_eq!(empty, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        let id = String::from_utf8(run_with_input(
            &dir,
            &["hash-object", "-w", "--stdin"],
            b"x\n",
        ))
        .unwrap();
        // `x\n` as a blob, as any git computes it.
        assert_eq!(id.trim(), "587be6b4c3f93f93c489c0111bba5596147a26cb");
        run(&dir, &["commit", "-q", "--allow-empty", "-m", "t"]);
        assert_eq!(
            text(&dir, &["log", "-1", "--format=%an <%ae> %aI %cI"]),
            "gitfs tests <tests@gitfs.invalid> 2024-01-01T00:00:00Z 2024-01-01T00:00:00Z"
        );
        assert!(try_run(&dir, &["no-such-command"], None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
