//! `signature_time` against stock git: the committer line of a real commit object and
//! `git log --format=%ct`.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str], date: &str) -> Vec<u8> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // format-local renders in TZ; names of days and months in C.
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn committer_time_matches_git() {
    let dir = std::env::temp_dir().join(format!("gitfs-http-time-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q"], "");
    for date in [
        "2023-11-14T22:13:20+0000",
        "1999-12-31T23:59:59-0830",
        "2038-01-19T03:14:08+1400",
    ] {
        git(
            &dir,
            &[
                "-c",
                "user.name=A <b>",
                "-c",
                "user.email=x@y",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "m",
            ],
            date,
        );
        let raw = git(&dir, &["cat-file", "commit", "HEAD"], "");
        let line = raw
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(b"committer "))
            .unwrap();
        let want: u64 = String::from_utf8(git(&dir, &["log", "-1", "--format=%ct"], ""))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(gitfs_http::signature_time(line), Some(want), "{date}");
        // And the Last-Modified text agrees with git's own RFC 2822 rendering in UTC.
        let git_utc = String::from_utf8(git(
            &dir,
            &[
                "log",
                "-1",
                "--date=format-local:%a, %d %b %Y %H:%M:%S GMT",
                "--format=%cd",
            ],
            "",
        ))
        .unwrap();
        assert_eq!(gitfs_http::format_http_date(want), git_utc.trim(), "{date}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(gitfs_http::signature_time(b"A <b> x +0000"), None);
    assert_eq!(gitfs_http::signature_time(b"A <b>"), None);
}
