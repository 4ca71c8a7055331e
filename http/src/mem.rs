//! An in-memory [`Content`] for tests and examples.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::content::{Content, ContentError, DirEntry, Kind, Node};

#[derive(Clone, Debug)]
enum Entry {
    File {
        data: Arc<[u8]>,
        exec: bool,
        id: [u8; 20],
    },
    Symlink(Vec<u8>, [u8; 20]),
    Submodule([u8; 20]),
}

/// Files by full path; directories are implied by the paths below them.
#[derive(Clone, Debug, Default)]
pub struct MemContent {
    entries: BTreeMap<Vec<u8>, Entry>,
    corrupt: BTreeSet<Vec<u8>>,
    /// Largest slice one `read` returns (to exercise the streaming loop).
    pub max_read: usize,
    /// Offer whole blobs through [`Content::blob`] (else the server uses `read`).
    pub share_blobs: bool,
    pub time: u64,
    /// Lines passed to [`Content::log`].
    pub log: Vec<String>,
}

/// A stand-in object id (FNV-1a spread over 20 bytes; not Git's SHA-1).
fn fake_id(kind: u8, bytes: &[u8]) -> [u8; 20] {
    let mut id = [0u8; 20];
    for (i, chunk) in id.chunks_mut(8).enumerate() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (i as u64) ^ (u64::from(kind) << 32);
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        chunk.copy_from_slice(&h.to_be_bytes()[..chunk.len()]);
    }
    id
}

impl MemContent {
    pub fn new(time: u64) -> Self {
        MemContent {
            max_read: usize::MAX,
            time,
            ..Default::default()
        }
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        let e = Entry::File {
            data: Arc::from(data),
            exec: false,
            id: fake_id(1, data),
        };
        self.entries.insert(path.as_bytes().to_vec(), e);
        self
    }

    pub fn exec(&mut self, path: &str, data: &[u8]) -> &mut Self {
        let e = Entry::File {
            data: Arc::from(data),
            exec: true,
            id: fake_id(1, data),
        };
        self.entries.insert(path.as_bytes().to_vec(), e);
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let e = Entry::Symlink(target.as_bytes().to_vec(), fake_id(1, target.as_bytes()));
        self.entries.insert(path.as_bytes().to_vec(), e);
        self
    }

    pub fn submodule(&mut self, path: &str) -> &mut Self {
        let e = Entry::Submodule(fake_id(3, path.as_bytes()));
        self.entries.insert(path.as_bytes().to_vec(), e);
        self
    }

    /// Reads of this path fail as a failed id check would.
    pub fn corrupt(&mut self, path: &str) -> &mut Self {
        self.corrupt.insert(path.as_bytes().to_vec());
        self
    }

    fn is_dir(&self, path: &[u8]) -> bool {
        if path.is_empty() {
            return true;
        }
        let mut prefix = path.to_vec();
        prefix.push(b'/');
        self.entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    fn node(e: &Entry) -> Node {
        match e {
            Entry::File { data, exec, id } => Node {
                kind: if *exec { Kind::Exec } else { Kind::File },
                size: data.len() as u64,
                id: *id,
            },
            Entry::Symlink(t, id) => Node {
                kind: Kind::Symlink,
                size: t.len() as u64,
                id: *id,
            },
            Entry::Submodule(id) => Node {
                kind: Kind::Submodule,
                size: 0,
                id: *id,
            },
        }
    }
}

impl Content for MemContent {
    fn stat(&mut self, path: &[u8]) -> Result<Node, ContentError> {
        if let Some(e) = self.entries.get(path) {
            return Ok(Self::node(e));
        }
        if self.is_dir(path) {
            let mut listing = Vec::new();
            for e in self.list(path)? {
                listing.extend_from_slice(&e.name);
                listing.push(0);
            }
            return Ok(Node {
                kind: Kind::Dir,
                size: 0,
                id: fake_id(2, &listing),
            });
        }
        Err(ContentError::NotFound)
    }

    fn list(&mut self, path: &[u8]) -> Result<Vec<DirEntry>, ContentError> {
        if !self.is_dir(path) {
            return Err(ContentError::NotFound);
        }
        let mut prefix = path.to_vec();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        let mut out: Vec<DirEntry> = Vec::new();
        for (k, e) in self.entries.range(prefix.clone()..) {
            let Some(rest) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            match rest.iter().position(|&b| b == b'/') {
                Some(i) => {
                    let name = &rest[..i];
                    if out.last().is_none_or(|l| l.name != name) {
                        out.push(DirEntry {
                            name: name.to_vec(),
                            kind: Kind::Dir,
                            size: 0,
                        });
                    }
                }
                None => {
                    let n = Self::node(e);
                    out.push(DirEntry {
                        name: rest.to_vec(),
                        kind: n.kind,
                        size: n.size,
                    });
                }
            }
        }
        Ok(out)
    }

    fn read(&mut self, path: &[u8], offset: u64, max: usize) -> Result<&[u8], ContentError> {
        if self.corrupt.contains(path) {
            return Err(ContentError::Corrupt(
                "object id mismatch (test corruption)".into(),
            ));
        }
        let data = match self.entries.get(path) {
            Some(Entry::File { data, .. }) => &data[..],
            Some(Entry::Symlink(t, _)) => &t[..],
            _ => return Err(ContentError::NotFound),
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(max.min(self.max_read)).min(data.len());
        Ok(&data[start..end])
    }

    fn blob(&mut self, path: &[u8]) -> Option<Result<Arc<[u8]>, ContentError>> {
        if !self.share_blobs {
            return None;
        }
        if self.corrupt.contains(path) {
            return Some(Err(ContentError::Corrupt(
                "object id mismatch (test corruption)".into(),
            )));
        }
        Some(match self.entries.get(path) {
            Some(Entry::File { data, .. }) => Ok(Arc::clone(data)),
            _ => Err(ContentError::NotFound),
        })
    }

    fn last_modified(&self) -> u64 {
        self.time
    }

    fn log(&mut self, line: &str) {
        self.log.push(line.to_string());
    }
}
