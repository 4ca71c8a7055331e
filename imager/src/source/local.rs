//! A Git repository on disk (work tree or bare), read with gix.

use std::path::Path;

use gitfs_format::{ObjectId, ObjectKind};

use super::error::root_cause;
use super::{walk, Data, Snapshot, SourceError, SourceOptions, Store};

pub(crate) fn load(path: &Path, opts: &SourceOptions) -> Result<Snapshot, SourceError> {
    let repo = open(path)?;
    let rev = opts.rev.as_deref().unwrap_or("HEAD");
    snapshot(&repo, rev, None)
}

pub(crate) fn open(path: &Path) -> Result<gix::Repository, SourceError> {
    // Isolated: the snapshot must not depend on the user's or system's Git config.
    let mut repo =
        gix::open_opts(path, gix::open::Options::isolated()).map_err(|e| SourceError::Git {
            message: format!(
                "cannot open repository {}: {}",
                path.display(),
                root_cause(&e)
            ),
            source: Some(Box::new(e)),
        })?;
    // Trees and blobs are each read once; a pack cache speeds up delta chains.
    repo.object_cache_size_if_unset(32 * 1024 * 1024);
    Ok(repo)
}

/// Resolves `rev` (anything gix rev-parse takes; tags peeled) to a commit and
/// collects its tree.
pub(crate) fn snapshot(
    repo: &gix::Repository,
    rev: &str,
    keep: Option<tempfile::TempDir>,
) -> Result<Snapshot, SourceError> {
    let id = repo
        .rev_parse_single(rev)
        .map_err(|_| SourceError::UnknownRevision(rev.to_string()))?;
    let object = id
        .object()
        .map_err(|e| SourceError::git(format!("cannot read {rev}"), e))?;
    let commit = object
        .peel_to_kind(gix::object::Kind::Commit)
        .map_err(|_| SourceError::NotACommit {
            rev: rev.to_string(),
        })?;
    commit_snapshot(repo, commit.id, commit.data.clone(), rev, keep)
}

/// Collects the snapshot of commit `id` whose raw data is `data`; `keep` is the
/// temporary directory the repository lies in, if any, kept as long as the snapshot.
pub(crate) fn commit_snapshot(
    repo: &gix::Repository,
    id: gix::ObjectId,
    data: Vec<u8>,
    rev: &str,
    keep: Option<tempfile::TempDir>,
) -> Result<Snapshot, SourceError> {
    let commit = oid(&id)?;
    // A commit always starts with its tree: "tree <40 hex>\n".
    let tree = data
        .strip_prefix(b"tree ")
        .and_then(|rest| ObjectId::from_hex(rest.get(..40)?))
        .ok_or_else(|| SourceError::Git {
            message: format!("malformed commit {id}"),
            source: None,
        })?;
    let objects = walk::collect(
        (commit, data),
        tree,
        true,
        0,
        |want| {
            let obj = repo.find_object(gid(want)).map_err(|e| missing(want, e))?;
            Ok((kind(obj.kind), obj.detach().data))
        },
        |want| {
            let header = repo.find_header(gid(want)).map_err(|e| missing(want, e))?;
            if header.kind() != gix::object::Kind::Blob {
                return Err(SourceError::Git {
                    message: format!(
                        "object {want} is a {}, expected a blob",
                        kind(header.kind()).as_str()
                    ),
                    source: None,
                });
            }
            Ok((header.size(), Data::Stored))
        },
    )?;
    let shared = repo.clone().into_sync();
    Ok(Snapshot {
        commit,
        tree,
        rev: rev.to_string(),
        objects,
        store: Store::Git {
            repo: Box::new(shared),
            _dir: keep,
        },
    })
}

/// The bytes of blob `id` (checked against the id by the caller).
pub(crate) fn read_blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, SourceError> {
    let obj = repo.find_object(gid(id)).map_err(|e| missing(id, e))?;
    Ok(obj.detach().data)
}

fn gid(id: ObjectId) -> gix::ObjectId {
    gix::ObjectId::Sha1(*id.as_bytes())
}

/// Object `id` could not be read; gix's error stays as the source.
fn missing(id: ObjectId, e: impl std::error::Error + Send + Sync + 'static) -> SourceError {
    SourceError::Git {
        message: format!("object {id} is missing: {}", root_cause(&e)),
        source: Some(Box::new(e)),
    }
}

fn kind(k: gix::object::Kind) -> ObjectKind {
    match k {
        gix::object::Kind::Commit => ObjectKind::Commit,
        gix::object::Kind::Tree => ObjectKind::Tree,
        gix::object::Kind::Blob => ObjectKind::Blob,
        gix::object::Kind::Tag => ObjectKind::Tag,
    }
}

fn oid(id: &gix::oid) -> Result<ObjectId, SourceError> {
    ObjectId::from_slice(id.as_bytes()).ok_or_else(|| SourceError::Git {
        message: format!("object id {id} is not SHA-1 (SHA-256 repositories are not supported)"),
        source: None,
    })
}
