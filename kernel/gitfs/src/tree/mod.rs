//! The path tree, rebuilt at boot from the root tree of the image.
//!
//! Compact on purpose (the goal is well under 100 bytes per file): one array of 24-byte
//! nodes, all names in one byte arena, objects named by their IDX position (4 bytes
//! instead of a 20-byte id), a directory's children contiguous and sorted by name bytes
//! (binary search). Only submodule commits, which are not in the image, keep their ids,
//! in a side table. Blob sizes are not stored: they are read lazily from the PACK.

use std::fmt;
use std::ops::Range;

use gitfs_format::{object::TreeIter, BlockDevice, EntryMode, Error, Image, ObjectId, ObjectKind};

/// Test kit for this crate and its dependants (feature `testing`): images built with
/// stock git, on the host.
#[cfg(all(not(target_os = "hermit"), any(test, feature = "testing")))]
pub mod testimage {
    pub use gitfs_testkit::repo::*;
}

/// Index of a node; the root is [`Tree::ROOT`].
pub type NodeId = u32;

/// Default cap on nodes: a hostile image of shared subtrees could otherwise expand to
/// billions of paths.
pub const DEFAULT_MAX_NODES: usize = 16 << 20;

#[derive(Clone, Copy, Debug)]
struct Node {
    name_off: u32,
    name_len: u16,
    kind: u8,
    parent: u32,
    /// IDX position; for a submodule, the index in `Tree::submodules`.
    obj: u32,
    /// Directories: children are `first..first + count`.
    first: u32,
    count: u32,
}

const KINDS: [EntryMode; 5] = [
    EntryMode::File,
    EntryMode::Executable,
    EntryMode::Symlink,
    EntryMode::Tree,
    EntryMode::Submodule,
];

fn kind_code(m: EntryMode) -> u8 {
    match m {
        EntryMode::File => 0,
        EntryMode::Executable => 1,
        EntryMode::Symlink => 2,
        EntryMode::Tree => 3,
        EntryMode::Submodule => 4,
    }
}

/// Where a node's object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjRef {
    /// Position in the image's IDX.
    Idx(u32),
    /// A gitlink: a commit of another repository, not in the image.
    Submodule(ObjectId),
}

/// Entries by kind (the root directory is not counted in `dirs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Regular files, executable or not.
    pub files: u64,
    pub executables: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub submodules: u64,
}

/// Why the tree could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// Reading or checking a tree object failed.
    Image(Error),
    /// A tree entry the reader refuses (bad name, unknown mode, duplicate...).
    BadEntry {
        dir: String,
        name: String,
        why: &'static str,
    },
    TooManyNodes(usize),
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeError::Image(e) => write!(f, "{e}"),
            TreeError::BadEntry { dir, name, why } => {
                write!(f, "tree entry {name:?} in {dir:?}: {why}")
            }
            TreeError::TooManyNodes(max) => write!(f, "more than {max} paths in the tree"),
        }
    }
}

impl std::error::Error for TreeError {}

impl From<Error> for TreeError {
    fn from(e: Error) -> Self {
        TreeError::Image(e)
    }
}

/// Why a path does not resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    BadPath(&'static str),
    NotFound,
    /// A component below a file, symlink or submodule (or a trailing `/` after one).
    NotADirectory,
}

/// The whole path tree of an image.
pub struct Tree {
    nodes: Vec<Node>,
    names: Vec<u8>,
    submodules: Vec<ObjectId>,
    counts: Counts,
}

impl Tree {
    pub const ROOT: NodeId = 0;

    /// Reads every tree object once (SHA-1 checked), without recursion.
    pub fn build<D: BlockDevice>(image: &mut Image<D>) -> Result<Tree, TreeError> {
        Self::build_with_limit(image, DEFAULT_MAX_NODES)
    }

    pub fn build_with_limit<D: BlockDevice>(
        image: &mut Image<D>,
        max_nodes: usize,
    ) -> Result<Tree, TreeError> {
        let root_id = image.header().tree;
        let root_pos = image
            .index()
            .lookup(&root_id)
            .ok_or(Error::NotFound(root_id))?;
        let mut t = Tree {
            nodes: vec![Node {
                name_off: 0,
                name_len: 0,
                kind: kind_code(EntryMode::Tree),
                parent: 0,
                obj: root_pos,
                first: 0,
                count: 0,
            }],
            names: Vec::new(),
            submodules: Vec::new(),
            counts: Counts::default(),
        };
        let max_nodes = max_nodes.min(u32::MAX as usize);
        image.device_mut().set_sequential(true);
        let built = t.expand_all(image, max_nodes);
        image.device_mut().set_sequential(false);
        built?;
        t.nodes.shrink_to_fit();
        t.names.shrink_to_fit();
        t.submodules.shrink_to_fit();
        Ok(t)
    }

    /// Expands every directory once, depth first with subdirectories in name order:
    /// the imager writes trees in that order, one after another, so the reads are
    /// adjacent on the disk. A directory's children are appended together when it is
    /// expanded, so they stay contiguous.
    fn expand_all<D: BlockDevice>(
        &mut self,
        image: &mut Image<D>,
        max_nodes: usize,
    ) -> Result<(), TreeError> {
        let mut pending = vec![Self::ROOT as usize];
        while let Some(dir) = pending.pop() {
            self.expand(image, dir, max_nodes)?;
            let d = &self.nodes[dir];
            let kids = d.first as usize..(d.first + d.count) as usize;
            let nodes = &self.nodes;
            pending.extend(
                kids.rev()
                    .filter(|&k| nodes[k].kind == kind_code(EntryMode::Tree)),
            );
        }
        Ok(())
    }

    fn expand<D: BlockDevice>(
        &mut self,
        image: &mut Image<D>,
        dir: usize,
        max_nodes: usize,
    ) -> Result<(), TreeError> {
        let pos = self.nodes[dir].obj;
        let id = image
            .index()
            .id_at(pos)
            .ok_or(Error::BadIdx("position out of range"))?;
        let obj = image.read_verified(&id)?;
        if obj.kind != ObjectKind::Tree {
            return Err(Error::BadObject("a directory entry is not a tree").into());
        }
        let first = self.nodes.len();
        for entry in TreeIter::new(&obj.data) {
            let e = entry?;
            let bad = |why| TreeError::BadEntry {
                dir: String::from_utf8_lossy(&self.path(dir as NodeId)).into_owned(),
                name: String::from_utf8_lossy(e.name).into_owned(),
                why,
            };
            let mode = e.kind().ok_or_else(|| bad("unknown mode"))?;
            if !gitfs_format::is_plain_name(e.name) {
                return Err(bad("invalid name"));
            }
            let name_len = u16::try_from(e.name.len()).map_err(|_| bad("name too long"))?;
            let name_off =
                u32::try_from(self.names.len()).map_err(|_| TreeError::TooManyNodes(max_nodes))?;
            let obj = if mode == EntryMode::Submodule {
                self.submodules.push(e.id);
                self.counts.submodules += 1;
                (self.submodules.len() - 1) as u32
            } else {
                image
                    .index()
                    .lookup(&e.id)
                    .ok_or(TreeError::Image(Error::NotFound(e.id)))?
            };
            match mode {
                EntryMode::File => self.counts.files += 1,
                EntryMode::Executable => {
                    self.counts.files += 1;
                    self.counts.executables += 1;
                }
                EntryMode::Symlink => self.counts.symlinks += 1,
                EntryMode::Tree => self.counts.dirs += 1,
                EntryMode::Submodule => {}
            }
            if self.nodes.len() >= max_nodes {
                return Err(TreeError::TooManyNodes(max_nodes));
            }
            self.names.extend_from_slice(e.name);
            self.nodes.push(Node {
                name_off,
                name_len,
                kind: kind_code(mode),
                parent: dir as u32,
                obj,
                first: 0,
                count: 0,
            });
        }
        let names = &self.names;
        let name =
            |n: &Node| &names[n.name_off as usize..n.name_off as usize + n.name_len as usize];
        let kids = &mut self.nodes[first..];
        // Git's order is byte order but for directories (compared as if their names
        // ended in '/'), so most trees are in order already, and one pass says so.
        // Strictly increasing: sorted, and no name twice.
        let dup = if kids.windows(2).all(|w| name(&w[0]) < name(&w[1])) {
            None
        } else {
            kids.sort_unstable_by(|a, b| name(a).cmp(name(b)));
            kids.windows(2)
                .find(|w| name(&w[0]) == name(&w[1]))
                .map(|w| String::from_utf8_lossy(name(&w[0])).into_owned())
        };
        if let Some(dup) = dup {
            return Err(TreeError::BadEntry {
                dir: String::from_utf8_lossy(&self.path(dir as NodeId)).into_owned(),
                name: dup,
                why: "duplicate name",
            });
        }
        let count = (self.nodes.len() - first) as u32;
        let d = &mut self.nodes[dir];
        d.first = first as u32;
        d.count = count;
        Ok(())
    }

    fn node(&self, n: NodeId) -> &Node {
        &self.nodes[n as usize]
    }

    /// Number of nodes, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Heap memory held by the tree.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.names.capacity()
            + self.submodules.capacity() * std::mem::size_of::<ObjectId>()
    }

    /// The entry's name (empty for the root).
    pub fn name(&self, n: NodeId) -> &[u8] {
        let node = self.node(n);
        &self.names[node.name_off as usize..node.name_off as usize + node.name_len as usize]
    }

    pub fn mode(&self, n: NodeId) -> EntryMode {
        KINDS[self.node(n).kind as usize]
    }

    pub fn is_dir(&self, n: NodeId) -> bool {
        self.mode(n) == EntryMode::Tree
    }

    pub fn parent(&self, n: NodeId) -> NodeId {
        self.node(n).parent
    }

    pub fn object(&self, n: NodeId) -> ObjRef {
        let node = self.node(n);
        if self.mode(n) == EntryMode::Submodule {
            ObjRef::Submodule(self.submodules[node.obj as usize])
        } else {
            ObjRef::Idx(node.obj)
        }
    }

    /// Children of a directory in name-byte order (empty for anything else).
    pub fn children(&self, n: NodeId) -> Range<NodeId> {
        let node = self.node(n);
        node.first..node.first + node.count
    }

    /// The full path of a node, `/`-separated, without a leading `/`.
    pub fn path(&self, mut n: NodeId) -> Vec<u8> {
        let mut parts = Vec::new();
        while n != Self::ROOT {
            parts.push(n);
            n = self.parent(n);
        }
        let mut out = Vec::new();
        for (i, &p) in parts.iter().rev().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(self.name(p));
        }
        out
    }

    /// The child of directory `dir` named `name`.
    pub fn child(&self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        let range = self.children(dir);
        let (lo, hi) = (range.start as usize, range.end as usize);
        let kids = &self.nodes[lo..hi];
        kids.binary_search_by(|k| {
            self.names[k.name_off as usize..k.name_off as usize + k.name_len as usize].cmp(name)
        })
        .ok()
        .map(|i| (lo + i) as NodeId)
    }

    /// Resolves a path relative to the root. One leading `/` is allowed, and a trailing
    /// `/` for directories; `""` and `"/"` are the root. Symlinks are not followed.
    pub fn lookup(&self, path: &[u8]) -> Result<NodeId, LookupError> {
        if path.contains(&0) {
            return Err(LookupError::BadPath("NUL byte in path"));
        }
        let mut p = path.strip_prefix(b"/").unwrap_or(path);
        let must_be_dir = p.ends_with(b"/");
        if must_be_dir {
            p = &p[..p.len() - 1];
        }
        let mut cur = Self::ROOT;
        if p.is_empty() {
            return Ok(cur);
        }
        for comp in p.split(|&b| b == b'/') {
            match comp {
                b"" => return Err(LookupError::BadPath("empty path component")),
                b"." | b".." => return Err(LookupError::BadPath("'.' or '..' in path")),
                _ => {}
            }
            if !self.is_dir(cur) {
                return Err(LookupError::NotADirectory);
            }
            cur = self.child(cur, comp).ok_or(LookupError::NotFound)?;
        }
        if must_be_dir && !self.is_dir(cur) {
            return Err(LookupError::NotADirectory);
        }
        Ok(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::testimage::{self, Entry};
    use super::*;

    fn sample() -> (testimage::Repo, Image<Vec<u8>>) {
        let repo = testimage::Repo::new(&[
            Entry::file("README", b"hello\n"),
            Entry::file("src/main.rs", b"fn main() {}\n"),
            Entry::file("src/lib/a b.rs", b"x"),
            Entry::file("src/lib/z", b"y"),
            Entry::exec("run.sh", b"#!/bin/sh\n"),
            Entry::symlink("link", "src/main.rs"),
            Entry::submodule("vendor/dep", "0123456789abcdef0123456789abcdef01234567"),
            Entry::file("src-x", b"sorts between src and src/ in git order"),
        ])
        .unwrap();
        let img = Image::open(repo.image().unwrap()).unwrap();
        (repo, img)
    }

    #[test]
    fn builds_and_resolves_paths() {
        let (_repo, mut img) = sample();
        let t = Tree::build(&mut img).unwrap();
        assert_eq!(
            t.counts(),
            Counts {
                files: 6,
                executables: 1,
                dirs: 3,
                symlinks: 1,
                submodules: 1
            }
        );
        assert_eq!(t.len(), 1 + 6 + 3 + 1 + 1);
        let names: Vec<&[u8]> = t.children(Tree::ROOT).map(|c| t.name(c)).collect();
        assert_eq!(
            names,
            [
                &b"README"[..],
                b"link",
                b"run.sh",
                b"src",
                b"src-x",
                b"vendor"
            ]
        );
        let n = t.lookup(b"src/lib/a b.rs").unwrap();
        assert_eq!(t.path(n), b"src/lib/a b.rs");
        assert_eq!(t.mode(n), EntryMode::File);
        assert_eq!(t.mode(t.lookup(b"/run.sh").unwrap()), EntryMode::Executable);
        assert_eq!(t.mode(t.lookup(b"link").unwrap()), EntryMode::Symlink);
        assert_eq!(t.lookup(b"src/").unwrap(), t.lookup(b"src").unwrap());
        assert_eq!(t.lookup(b"").unwrap(), Tree::ROOT);
        assert_eq!(t.lookup(b"/").unwrap(), Tree::ROOT);
        let sub = t.lookup(b"vendor/dep").unwrap();
        assert_eq!(
            t.object(sub),
            ObjRef::Submodule(
                ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap()
            )
        );
        // Each IDX position names the object git has at that path.
        let ObjRef::Idx(pos) = t.object(t.lookup(b"src/main.rs").unwrap()) else {
            panic!("blob expected")
        };
        assert_eq!(
            img.index().id_at(pos).unwrap().to_string(),
            _repo
                .git_text(&["rev-parse", "HEAD:src/main.rs"])
                .unwrap()
                .trim()
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        let (_repo, mut img) = sample();
        let t = Tree::build(&mut img).unwrap();
        for p in [
            &b"src//main.rs"[..],
            b"src/../README",
            b"./README",
            b"src/.",
            b"a\0b",
            b"//x",
        ] {
            assert!(matches!(t.lookup(p), Err(LookupError::BadPath(_))), "{p:?}");
        }
        assert_eq!(t.lookup(b"nope"), Err(LookupError::NotFound));
        assert_eq!(t.lookup(b"src/nope/x"), Err(LookupError::NotFound));
        assert_eq!(t.lookup(b"README/x"), Err(LookupError::NotADirectory));
        assert_eq!(t.lookup(b"README/"), Err(LookupError::NotADirectory));
        assert_eq!(t.lookup(b"link/x"), Err(LookupError::NotADirectory));
    }

    /// Git never writes a name twice in a tree; a crafted one is refused whether the
    /// twins are adjacent or not.
    #[test]
    fn duplicate_names_are_refused() {
        let repo = testimage::Repo::new(&[Entry::file("a", b"x")]).unwrap();
        let blob = repo.git_text(&["rev-parse", "HEAD:a"]).unwrap();
        let blob = ObjectId::from_hex(blob.trim().as_bytes()).unwrap();
        for names in [&["a", "a"][..], &["x", "a", "x"]] {
            let mut raw = Vec::new();
            for n in names {
                raw.extend_from_slice(format!("100644 {n}\0").as_bytes());
                raw.extend_from_slice(&blob.0);
            }
            let hash = ["hash-object", "-t", "tree", "--literally", "-w", "--stdin"];
            let tree = repo.git(&hash, Some(&raw)).unwrap();
            let tree = String::from_utf8(tree).unwrap();
            let commit = repo
                .git_text(&["commit-tree", tree.trim(), "-m", "twins"])
                .unwrap();
            repo.git(&["update-ref", "refs/heads/main", commit.trim()], None)
                .unwrap();
            let mut img = Image::open(repo.image().unwrap()).unwrap();
            match Tree::build(&mut img) {
                Err(TreeError::BadEntry { name, why, .. }) => {
                    assert_eq!((name.as_str(), why), (names[0], "duplicate name"))
                }
                other => panic!("{names:?}: {:?}", other.map(|t| t.len())),
            }
        }
    }

    #[test]
    fn node_limit_and_missing_objects() {
        let (_repo, mut img) = sample();
        assert_eq!(
            Tree::build_with_limit(&mut img, 5).err(),
            Some(TreeError::TooManyNodes(5))
        );
        // An image whose PACK lacks a blob the tree names.
        let repo = testimage::Repo::new(&[Entry::file("a", b"1"), Entry::file("b", b"2")]).unwrap();
        let blob = repo.git_text(&["rev-parse", "HEAD:b"]).unwrap();
        let data = repo.image_without(&[blob.trim()]).unwrap();
        let mut img = Image::open(data).unwrap();
        assert!(matches!(
            Tree::build(&mut img),
            Err(TreeError::Image(Error::NotFound(_)))
        ));
    }

    #[test]
    fn twenty_thousand_files_stay_compact() {
        let entries: Vec<Entry> = (0..20_000)
            .map(|i| {
                let path = format!("d{:02}/m{:02}/file_{i:05}.txt", i % 20, (i / 20) % 10);
                Entry::file(path, format!("{i}\n").as_bytes())
            })
            .collect();
        let repo = testimage::Repo::new(&entries).unwrap();
        let mut img = Image::open(repo.image().unwrap()).unwrap();
        let t = Tree::build(&mut img).unwrap();
        assert_eq!(t.counts().files, 20_000);
        assert_eq!(t.counts().dirs, 20 + 200);
        for e in &entries {
            let n = t.lookup(&e.path).unwrap();
            assert_eq!(t.path(n), e.path);
        }
        let per_file = t.heap_bytes() as f64 / 20_000.0;
        assert!(per_file < 50.0, "{per_file} bytes per file");
    }

    #[test]
    fn compact_nodes() {
        assert_eq!(std::mem::size_of::<Node>(), 24);
    }
}
