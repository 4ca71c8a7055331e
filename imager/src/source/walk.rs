//! The object walk shared by every source: commit, then the tree closure.

use std::collections::HashSet;

use gitfs_format::{object_id, ObjectId, ObjectKind};

use super::{SourceError, SourceObject};

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
/// depth first in tree order. `fetch` returns an object's kind and data;
/// every object is checked against its id (a corrupt store must not make an image).
pub(crate) fn collect(
    commit: (ObjectId, Vec<u8>),
    tree: ObjectId,
    mut fetch: impl FnMut(ObjectId) -> Result<(ObjectKind, Vec<u8>), SourceError>,
) -> Result<Vec<SourceObject>, SourceError> {
    let mut objects = vec![SourceObject {
        id: commit.0,
        kind: ObjectKind::Commit,
        data: commit.1,
        path: Vec::new(),
    }];
    let mut seen = HashSet::new();
    seen.insert(tree);
    // Stack of trees still to expand, each with its path.
    let mut stack = vec![(tree, Vec::new())];
    while let Some((id, path)) = stack.pop() {
        let data = fetch_checked(&mut fetch, id, ObjectKind::Tree)?;
        // Owned (is_tree, id, path) per new entry, so the tree can be stored before its blobs.
        let children: Vec<(bool, ObjectId, Vec<u8>)> = parse_tree(&data)
            .ok_or_else(|| SourceError::Git {
                message: format!("malformed tree {id}"),
                source: None,
            })?
            .into_iter()
            .filter(|e| e.mode != MODE_GITLINK && seen.insert(e.id))
            .map(|e| (e.mode == MODE_TREE, e.id, join(&path, e.name)))
            .collect();
        objects.push(SourceObject {
            id,
            kind: ObjectKind::Tree,
            data,
            path,
        });
        let mut subtrees = Vec::new();
        for (is_tree, child, child_path) in children {
            if is_tree {
                subtrees.push((child, child_path));
            } else {
                let data = fetch_checked(&mut fetch, child, ObjectKind::Blob)?;
                objects.push(SourceObject {
                    id: child,
                    kind: ObjectKind::Blob,
                    data,
                    path: child_path,
                });
            }
        }
        stack.extend(subtrees.into_iter().rev());
    }
    Ok(objects)
}

fn fetch_checked(
    fetch: &mut impl FnMut(ObjectId) -> Result<(ObjectKind, Vec<u8>), SourceError>,
    id: ObjectId,
    want: ObjectKind,
) -> Result<Vec<u8>, SourceError> {
    let (kind, data) = fetch(id)?;
    if kind != want {
        return Err(SourceError::Git {
            message: format!("object {id} is a {}, expected a {}", kind.as_str(), want.as_str()),
            source: None,
        });
    }
    if object_id(kind, &data) != id {
        return Err(SourceError::Git {
            message: format!("object {id} is corrupt (its data hashes to another id)"),
            source: None,
        });
    }
    Ok(data)
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
