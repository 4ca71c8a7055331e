//! The object walk shared by every source: commit, then the tree closure.

use std::collections::HashSet;

use gitfs_format::{ObjectId, ObjectKind};

use crate::hash::object_id;

use super::{Data, SourceError, SourceObject};

pub(crate) const MODE_TREE: &[u8] = b"40000";
pub(crate) const MODE_GITLINK: &[u8] = b"160000";

/// One entry of a raw tree object.
pub(crate) struct Entry<'a> {
    pub mode: &'a [u8],
    pub name: &'a [u8],
    pub id: ObjectId,
}

/// Parses raw tree data (`<mode> <name>\0<20-byte id>`*); `None` if malformed.
pub(crate) fn parse_tree(mut data: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let sp = data.iter().position(|&b| b == b' ')?;
        let nul = sp + 1 + data[sp + 1..].iter().position(|&b| b == 0)?;
        let id = ObjectId::from_slice(data.get(nul + 1..nul + 21)?)?;
        out.push(Entry {
            mode: &data[..sp],
            name: &data[sp + 1..nul],
            id,
        });
        data = &data[nul + 21..];
    }
    Some(out)
}

/// Collects the commit and every tree and blob reachable from `tree`, once each,
/// in `git rev-list --objects` order (depth first, entries in tree order), so an
/// object's path is that of its first occurrence as Git sees it. `fetch` returns
/// a tree's kind and data; with `verify`, each is checked against its id (a
/// corrupt store must not make an image; objects hashed by the caller need not).
/// `blob` says a blob's size and where its bytes are (read only when packed).
/// `expected` is how many objects there will be, when known (0 otherwise): the lists
/// are made that large at once instead of doubling, which for a million objects
/// would briefly hold both copies.
pub(crate) fn collect(
    commit: (ObjectId, Vec<u8>),
    tree: ObjectId,
    verify: bool,
    expected: usize,
    fetch: impl FnMut(ObjectId) -> Result<(ObjectKind, Vec<u8>), SourceError>,
    mut blob: impl FnMut(ObjectId) -> Result<(u64, Data), SourceError>,
) -> Result<Vec<SourceObject>, SourceError> {
    let mut fetch = Fetch { fetch, verify };
    let mut objects = Vec::with_capacity(expected);
    objects.push(SourceObject {
        id: commit.0,
        kind: ObjectKind::Commit,
        size: commit.1.len() as u64,
        data: Data::Held(commit.1),
        path: Vec::new(),
    });
    let mut seen = HashSet::with_capacity(expected);
    seen.insert(tree);
    // Explicit stack (no recursion: tree depth comes from the data) of the
    // remaining children of each open tree, reversed so `pop` yields them in order.
    let mut stack = vec![expand(&mut fetch, &mut objects, tree, Vec::new())?];
    while let Some(top) = stack.last_mut() {
        let Some(child) = top.pop() else {
            stack.pop();
            continue;
        };
        // Marked when visited, not when listed, as git does: the first
        // occurrence in depth-first order names the object.
        if !seen.insert(child.id) {
            continue;
        }
        if child.is_tree {
            let children = expand(&mut fetch, &mut objects, child.id, child.path)?;
            stack.push(children);
        } else {
            let (size, data) = blob(child.id)?;
            objects.push(SourceObject {
                id: child.id,
                kind: ObjectKind::Blob,
                size,
                data,
                path: child.path,
            });
        }
    }
    Ok(objects)
}

struct Child {
    is_tree: bool,
    id: ObjectId,
    path: Vec<u8>,
}

/// Stores tree `id` and returns its children (gitlinks left out), last first.
fn expand<F: FnMut(ObjectId) -> Result<(ObjectKind, Vec<u8>), SourceError>>(
    fetch: &mut Fetch<F>,
    objects: &mut Vec<SourceObject>,
    id: ObjectId,
    path: Vec<u8>,
) -> Result<Vec<Child>, SourceError> {
    let data = fetch.get(id, ObjectKind::Tree)?;
    let entries = parse_tree(&data).ok_or_else(|| SourceError::Git {
        message: format!("malformed tree {id}"),
        source: None,
    })?;
    // A name that is not one plain component would lead a checkout (or an export of
    // the image) outside its directory; the unikernel refuses such a tree at boot.
    if let Some(e) = entries
        .iter()
        .find(|e| !gitfs_format::is_plain_name(e.name))
    {
        return Err(SourceError::UnsafeName {
            dir: String::from_utf8_lossy(&path).into_owned(),
            name: String::from_utf8_lossy(e.name).into_owned(),
        });
    }
    let mut children: Vec<Child> = entries
        .into_iter()
        .filter(|e| e.mode != MODE_GITLINK)
        .map(|e| Child {
            is_tree: e.mode == MODE_TREE,
            id: e.id,
            path: join(&path, e.name),
        })
        .collect();
    children.reverse();
    objects.push(SourceObject {
        id,
        kind: ObjectKind::Tree,
        size: data.len() as u64,
        data: Data::Held(data),
        path,
    });
    Ok(children)
}

struct Fetch<F> {
    fetch: F,
    verify: bool,
}

impl<F: FnMut(ObjectId) -> Result<(ObjectKind, Vec<u8>), SourceError>> Fetch<F> {
    fn get(&mut self, id: ObjectId, want: ObjectKind) -> Result<Vec<u8>, SourceError> {
        let (kind, data) = (self.fetch)(id)?;
        if kind != want {
            return Err(SourceError::Git {
                message: format!(
                    "object {id} is a {}, expected a {}",
                    kind.as_str(),
                    want.as_str()
                ),
                source: None,
            });
        }
        if self.verify && object_id(kind, &data) != id {
            return Err(SourceError::Git {
                message: format!("object {id} is corrupt (its data hashes to another id)"),
                source: None,
            });
        }
        Ok(data)
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    if !dir.is_empty() {
        p.extend_from_slice(dir);
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}
