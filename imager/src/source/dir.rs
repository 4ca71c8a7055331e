//! A plain directory as Git would store it with `git add -A && git commit`:
//! modes 100644/100755/120000/40000, symlinks not followed, `.git` left out,
//! empty directories dropped, names kept as bytes. The commit is synthesised
//! deterministically (fixed identity and message, date from options).

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use gitfs_format::{ObjectId, ObjectKind};

use crate::hash::object_id;

use super::{walk, Data, Snapshot, SourceError, SourceOptions, Store};

const IDENTITY: &str = "gitfs <gitfs@localhost>";
const MESSAGE: &str = "gitfs snapshot of a directory\n";

pub(crate) fn load(root: &Path, opts: &SourceOptions) -> Result<Snapshot, SourceError> {
    let date = commit_date(opts)?;
    let mut files = Vec::new();
    let shape = scan(root, &mut files)?;
    let blobs = hash_files(&files)?;

    // Trees and symbolic-link targets in memory; files by path, read again when packed.
    drop(files);
    let mut store: HashMap<ObjectId, (ObjectKind, Vec<u8>)> = HashMap::new();
    let on_disk: HashMap<ObjectId, u64> = blobs.iter().copied().collect();
    let blob_ids: Vec<ObjectId> = blobs.iter().map(|&(id, _)| id).collect();
    drop(blobs);
    let tree = match build_tree(&shape, &blob_ids, &mut store) {
        Some(id) => id,
        // Nothing to store: Git's empty tree, as `git write-tree` gives for an empty index.
        None => {
            let id = object_id(ObjectKind::Tree, b"");
            store.insert(id, (ObjectKind::Tree, Vec::new()));
            id
        }
    };
    // The shape and the file list are in the trees now: free them before the walk
    // (with a million files they are a few hundred bytes each).
    drop(shape);
    drop(blob_ids);
    let commit = format!(
        "tree {tree}\nauthor {IDENTITY} {date} +0000\ncommitter {IDENTITY} {date} +0000\n\n{MESSAGE}"
    )
    .into_bytes();
    let commit_id = object_id(ObjectKind::Commit, &commit);
    let internal = |id: ObjectId| SourceError::Git {
        message: format!("internal: object {id} missing from the directory store"),
        source: None,
    };
    // Symbolic-link targets apart from trees: the walk asks for each by its own callback.
    let (links, mut trees): (HashMap<_, _>, HashMap<_, _>) = store
        .into_iter()
        .partition(|(_, (kind, _))| *kind == ObjectKind::Blob);
    let objects = walk::collect(
        (commit_id, commit),
        tree,
        false,
        on_disk.len() + trees.len() + links.len() + 1,
        |id| trees.remove(&id).ok_or_else(|| internal(id)),
        |id| {
            // A link target first: a file may hold the same bytes, but the blob's
            // first path may be the link's, which must not be read through.
            if let Some((_, target)) = links.get(&id) {
                return Ok((target.len() as u64, Data::Held(target.clone())));
            }
            match on_disk.get(&id) {
                Some(&size) => Ok((size, Data::File)),
                None => Err(internal(id)),
            }
        },
    )?;
    Ok(Snapshot {
        commit: commit_id,
        tree,
        // Nothing of where the directory lies: the same content and options give the
        // same image bytes wherever it is built.
        rev: String::new(),
        objects,
        store: Store::Dir(root.to_path_buf()),
    })
}

fn commit_date(opts: &SourceOptions) -> Result<i64, SourceError> {
    if let Some(d) = opts.date {
        return Ok(d);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse().map_err(|_| SourceError::BadDate(v)),
        Err(_) => Ok(0),
    }
}

/// A directory's entries, with files as indexes into the flat file list.
struct Dir {
    entries: Vec<(Vec<u8>, Node)>,
}

enum Node {
    File { index: usize, exec: bool },
    Symlink(Vec<u8>),
    Dir(Dir),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the directory shape (not file contents), entries in Git tree order.
fn scan(dir: &Path, files: &mut Vec<PathBuf>) -> Result<Dir, SourceError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if name.as_bytes() == b".git" {
            continue;
        }
        let path = entry.path();
        let ft = entry.file_type().map_err(io_err(&path))?;
        let node = if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err(&path))?;
            Node::Symlink(target.as_os_str().as_bytes().to_vec())
        } else if ft.is_dir() {
            Node::Dir(scan(&path, files)?)
        } else if ft.is_file() {
            let mode = entry
                .metadata()
                .map_err(io_err(&path))?
                .permissions()
                .mode();
            files.push(path);
            Node::File {
                index: files.len() - 1,
                // Git looks at the owner's execute bit only (0o645 stays 100644).
                exec: mode & 0o100 != 0,
            }
        } else {
            // Sockets, FIFOs, devices: Git does not track them either.
            continue;
        };
        entries.push((name.as_bytes().to_vec(), node));
    }
    entries.sort_by(|a, b| {
        tree_order(
            &a.0,
            matches!(a.1, Node::Dir(_)),
            &b.0,
            matches!(b.1, Node::Dir(_)),
        )
    });
    Ok(Dir { entries })
}

/// Git's tree entry order: names compared bytewise, a directory as if it ended in '/'.
fn tree_order(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool) -> std::cmp::Ordering {
    let a_key = a.iter().chain(if a_dir { &b"/"[..] } else { &b""[..] });
    let b_key = b.iter().chain(if b_dir { &b"/"[..] } else { &b""[..] });
    a_key.cmp(b_key)
}

/// Reads and hashes every file, on all cores: returns (blob id, size) in `files`
/// order. The bytes are not kept: packing reads each file again.
fn hash_files(files: &[PathBuf]) -> Result<Vec<(ObjectId, u64)>, SourceError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<(ObjectId, u64)>>> = Mutex::new(vec![None; files.len()]);
    let first_err: Mutex<Option<SourceError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= files.len() {
                    break;
                }
                match fs::read(&files[i]) {
                    Ok(data) => {
                        let id = object_id(ObjectKind::Blob, &data);
                        if let Ok(mut o) = out.lock() {
                            o[i] = Some((id, data.len() as u64));
                        }
                    }
                    Err(e) => {
                        if let Ok(mut slot) = first_err.lock() {
                            slot.get_or_insert(io_err(&files[i])(e));
                        }
                        // Stop every worker early.
                        next.store(files.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e);
    }
    let out = out.into_inner().unwrap_or_default();
    out.into_iter()
        .zip(files)
        .map(|(data, path)| {
            data.ok_or_else(|| SourceError::Io {
                path: path.clone(),
                source: std::io::Error::other("file was not read"),
            })
        })
        .collect()
}

/// Builds the tree objects bottom-up into `store`; `None` for a directory with no
/// file below it (Git does not store empty trees).
fn build_tree(
    dir: &Dir,
    blob_ids: &[ObjectId],
    store: &mut HashMap<ObjectId, (ObjectKind, Vec<u8>)>,
) -> Option<ObjectId> {
    let mut data = Vec::new();
    for (name, node) in &dir.entries {
        let (mode, id): (&[u8], ObjectId) = match node {
            Node::File { index, exec } => {
                (if *exec { b"100755" } else { b"100644" }, blob_ids[*index])
            }
            Node::Symlink(target) => {
                let id = object_id(ObjectKind::Blob, target);
                store
                    .entry(id)
                    .or_insert_with(|| (ObjectKind::Blob, target.clone()));
                (b"120000", id)
            }
            Node::Dir(sub) => match build_tree(sub, blob_ids, store) {
                Some(id) => (walk::MODE_TREE, id),
                None => continue,
            },
        };
        data.extend_from_slice(mode);
        data.push(b' ');
        data.extend_from_slice(name);
        data.push(0);
        data.extend_from_slice(id.as_bytes());
    }
    if data.is_empty() {
        return None;
    }
    let id = object_id(ObjectKind::Tree, &data);
    store.entry(id).or_insert((ObjectKind::Tree, data));
    Some(id)
}
