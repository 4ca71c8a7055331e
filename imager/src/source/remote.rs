//! A remote repository: fetch one revision at depth 1 with gix into a temporary
//! bare repository, then read it as a local one. No `git` binary is run
//! (`ssh://` does spawn `ssh`, as Git does).

use std::num::NonZeroU32;
use std::sync::atomic::AtomicBool;

use super::error::root_cause;
use super::{local, Snapshot, SourceError, SourceOptions};

/// URL schemes and the scp-like form (`[user@]host:path`) that name a remote.
pub(crate) fn is_url(source: &str) -> bool {
    const SCHEMES: [&str; 6] = [
        "https://",
        "http://",
        "ssh://",
        "git://",
        "git+ssh://",
        "ssh+git://",
    ];
    if SCHEMES.iter().any(|s| source.starts_with(s)) {
        return true;
    }
    if source.contains("://") {
        return false;
    }
    match source.split_once(':') {
        Some((host, path)) => !host.is_empty() && !host.contains('/') && !path.is_empty(),
        None => false,
    }
}

pub(crate) fn load(url: &str, opts: &SourceOptions) -> Result<Snapshot, SourceError> {
    // reqwest is built without a bundled crypto provider: use rustls' `ring` one.
    // Err only means a provider is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let remote_err = |e: gix::Error| SourceError::Remote {
        url: url.to_string(),
        message: root_cause(&e),
        source: Some(Box::new(e)),
    };
    let tmp = tempfile::Builder::new()
        .prefix("gitfs-fetch-")
        .tempdir()
        .map_err(|source| SourceError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let repo = gix::init_bare(tmp.path()).map_err(|e| {
        SourceError::git(
            format!("cannot create a repository in {}", tmp.path().display()),
            e,
        )
    })?;

    let rev = opts.rev.as_deref().unwrap_or("HEAD");
    // One-sided refspec: fetch the objects, write no local ref. A partial name
    // matches refs/tags/NAME and refs/heads/NAME as in `git fetch URL NAME`.
    let remote = repo
        .remote_at(url)
        .map_err(remote_err)?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs([rev], gix::remote::Direction::Fetch)
        .map_err(|_| SourceError::UnknownRevision(rev.to_string()))?;
    let connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(remote_err)?;
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(remote_err)?;
    let tip = prepare
        .ref_map()
        .mappings
        .iter()
        .find_map(|m| m.remote.as_id().map(|id| id.to_owned()))
        .ok_or_else(|| SourceError::UnknownRevision(rev.to_string()))?;
    let one = NonZeroU32::MIN;
    prepare
        .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(one))
        .receive(gix::progress::Discard, &AtomicBool::new(false))
        .map_err(remote_err)?;

    let object = repo.find_object(tip).map_err(|e| SourceError::Remote {
        url: url.to_string(),
        message: format!("the server did not send {tip}"),
        source: Some(Box::new(e)),
    })?;
    let commit = object
        .peel_to_kind(gix::object::Kind::Commit)
        .map_err(|_| SourceError::NotACommit {
            rev: rev.to_string(),
        })?;
    let data = commit.data.clone();
    local::commit_snapshot(&repo, commit.id, data, rev, Some(tmp))
}

#[cfg(test)]
mod tests {
    use super::is_url;

    #[test]
    fn urls_and_paths() {
        for url in [
            "https://example.com/r.git",
            "http://h/r",
            "ssh://u@h:22/r",
            "git://h/r",
            "git@github.com:owner/repo.git",
            "host:repo",
        ] {
            assert!(is_url(url), "{url}");
        }
        for path in [
            "/tmp/repo",
            "./repo",
            "repo",
            "dir/with:colon",
            "file:///x",
            ":x",
            "x:",
        ] {
            assert!(!is_url(path), "{path}");
        }
    }
}
