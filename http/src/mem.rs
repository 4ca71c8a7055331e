//! An in-memory [`Content`] for tests and examples.

use std::collections::{BTreeMap, BTreeSet};

use crate::content::{Content, ContentError, DirEntry, Kind, Node};

#[derive(Clone, Debug)]
enum Entry {
    File { data: Vec<u8>, exec: bool },
    Symlink(Vec<u8>),
    Submodule,
}

/// Files by full path; directories are implied by the paths below them.
#[derive(Clone, Debug, Default)]
pub struct MemContent {
    entries: BTreeMap<Vec<u8>, Entry>,
    corrupt: BTreeSet<Vec<u8>>,
    /// Largest slice one `read` returns (to exercise the streaming loop).
    pub max_read: usize,
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
            data: data.to_vec(),
            exec: false,
        };
        self.entries.insert(path.as_bytes().to_vec(), e);
        self
    }

    pub fn exec(&mut self, path: &str, data: &[u8]) -> &mut Self {
        let e = Entry::File {
            data: data.to_vec(),
            exec: true,
        };
        self.entries.insert(path.as_bytes().to_vec(), e);
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let e = Entry::Symlink(target.as_bytes().to_vec());
        self.entries.insert(path.as_bytes().to_vec(), e);
        self
    }

    pub fn submodule(&mut self, path: &str) -> &mut Self {
        self.entries
            .insert(path.as_bytes().to_vec(), Entry::Submodule);
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

    fn node(path: &[u8], e: &Entry) -> Node {
        match e {
            Entry::File { data, exec } => Node {
                kind: if *exec { Kind::Exec } else { Kind::File },
                size: data.len() as u64,
                id: fake_id(1, data),
            },
            Entry::Symlink(t) => Node {
                kind: Kind::Symlink,
                size: t.len() as u64,
                id: fake_id(1, t),
            },
            Entry::Submodule => Node {
                kind: Kind::Submodule,
                size: 0,
                id: fake_id(3, path),
            },
        }
    }
}

impl Content for MemContent {
    fn stat(&mut self, path: &[u8]) -> Result<Node, ContentError> {
        if let Some(e) = self.entries.get(path) {
            return Ok(Self::node(path, e));
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
                    let n = Self::node(k, e);
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
            Some(Entry::File { data, .. }) => data,
            Some(Entry::Symlink(t)) => t,
            _ => return Err(ContentError::NotFound),
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(max.min(self.max_read)).min(data.len());
        Ok(&data[start..end])
    }

    fn last_modified(&self) -> u64 {
        self.time
    }

    fn log(&mut self, line: &str) {
        self.log.push(line.to_string());
    }
}
