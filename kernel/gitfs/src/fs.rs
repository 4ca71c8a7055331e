//! File-system operations over an image and its path tree, with typed results.
//!
//! Every blob is read with its SHA-1 checked against its id before any byte of it is
//! returned. Verified blobs are kept (see [`BlobCache`]): successive range reads of one
//! large file, and small files read again, inflate and hash once.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use gitfs_format::{BlockDevice, Commit, EntryMode, Error, Image, ObjectId, ObjectKind};

use crate::blob_cache::BlobCache;
use crate::tree::{Counts, LookupError, NodeId, ObjRef, Tree, TreeError};

/// Symbolic links one lookup follows at most (Linux's limit).
pub const MAX_SYMLINK_HOPS: usize = 40;
/// A longer symlink target is not followed (Linux's `PATH_MAX`).
pub const MAX_LINK_TARGET: u64 = 4096;

/// Why an operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    IsADirectory,
    NotADirectory,
    BadPath(&'static str),
    /// A range starting past the end of the file.
    BadRange {
        offset: u64,
        size: u64,
    },
    /// The content of a submodule is not in the image.
    Submodule,
    /// More than [`MAX_SYMLINK_HOPS`] symbolic links in one lookup.
    TooManyLinks,
    /// The image does not hold what it claims (SHA-1 mismatch, bad object, ...).
    Corrupt(Error),
    Io,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => write!(f, "no such file or directory"),
            FsError::IsADirectory => write!(f, "is a directory"),
            FsError::NotADirectory => write!(f, "not a directory"),
            FsError::BadPath(why) => write!(f, "bad path: {why}"),
            FsError::BadRange { offset, size } => {
                write!(
                    f,
                    "offset {offset} is past the end of the file ({size} bytes)"
                )
            }
            FsError::Submodule => write!(f, "a submodule: its content is not in the image"),
            FsError::TooManyLinks => write!(f, "too many levels of symbolic links"),
            FsError::Corrupt(e) => write!(f, "corrupt image: {e}"),
            FsError::Io => write!(f, "disk I/O error"),
        }
    }
}

impl std::error::Error for FsError {}

impl From<Error> for FsError {
    fn from(e: Error) -> Self {
        match e {
            Error::Io => FsError::Io,
            other => FsError::Corrupt(other),
        }
    }
}

impl From<LookupError> for FsError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::BadPath(why) => FsError::BadPath(why),
            LookupError::NotFound => FsError::NotFound,
            LookupError::NotADirectory => FsError::NotADirectory,
        }
    }
}

/// Why an image could not be opened for serving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    Image(Error),
    Tree(TreeError),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Image(e) => write!(f, "{e}"),
            OpenError::Tree(e) => write!(f, "path tree: {e}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<Error> for OpenError {
    fn from(e: Error) -> Self {
        OpenError::Image(e)
    }
}

/// Figures measured by the caller at boot, reported by `info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootFigures {
    /// From power-on (or process start) to ready.
    pub boot_ms: Option<u64>,
    /// Time spent building the path tree.
    pub tree_ms: Option<u64>,
    /// Heap in use when ready.
    pub heap_bytes: Option<u64>,
}

/// A whole file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File<'a> {
    pub mode: EntryMode,
    pub id: ObjectId,
    /// The content; for a symlink, its target.
    pub data: &'a [u8],
}

/// Part of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice<'a> {
    pub mode: EntryMode,
    pub id: ObjectId,
    /// Size of the whole file.
    pub size: u64,
    pub data: &'a [u8],
}

/// A directory entry or the result of `stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat<'a> {
    pub node: NodeId,
    pub name: &'a [u8],
    pub mode: EntryMode,
    /// Blob size; `None` for directories and submodules.
    pub size: Option<u64>,
    pub id: ObjectId,
}

/// What `info` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    pub commit: ObjectId,
    pub tree: ObjectId,
    pub rev: String,
    pub objects: u64,
    pub counts: Counts,
    /// Nodes of the path tree (root included) and the memory they take.
    pub tree_nodes: u64,
    pub tree_bytes: u64,
    pub boot: BootFigures,
}

/// An image ready to serve.
pub struct Fs<D: BlockDevice> {
    image: Image<D>,
    tree: Tree,
    /// Verified blobs by IDX position; shared so that HTTP connections keep streaming
    /// a blob after the cache let it go.
    cache: BlobCache,
    boot: BootFigures,
}

impl<D: BlockDevice> Fs<D> {
    /// Opens the image on `dev` and builds the path tree.
    pub fn open(dev: D) -> Result<Self, OpenError> {
        Self::new(Image::open(dev)?)
    }

    /// Checks the commit (it must hash to its id and name the header's tree), then
    /// builds the path tree.
    pub fn new(mut image: Image<D>) -> Result<Self, OpenError> {
        let commit_id = image.header().commit;
        let obj = image.read_verified(&commit_id)?;
        if obj.kind != ObjectKind::Commit {
            return Err(Error::BadObject("image commit is not a commit").into());
        }
        if Commit::parse(&obj.data)?.tree != image.header().tree {
            return Err(Error::BadHeader("tree is not the commit's tree").into());
        }
        let tree = Tree::build(&mut image).map_err(OpenError::Tree)?;
        Ok(Fs {
            image,
            tree,
            cache: BlobCache::default(),
            boot: BootFigures::default(),
        })
    }

    pub fn set_boot_figures(&mut self, boot: BootFigures) {
        self.boot = boot;
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn image(&self) -> &Image<D> {
        &self.image
    }

    pub fn image_mut(&mut self) -> &mut Image<D> {
        &mut self.image
    }

    /// Forgets the cached blobs (frees their memory).
    pub fn drop_cache(&mut self) {
        self.cache.clear();
    }

    pub fn resolve(&self, path: &[u8]) -> Result<NodeId, FsError> {
        Ok(self.tree.lookup(path)?)
    }

    /// Resolves `path` below the root, following symbolic links in every component
    /// and, when `follow`, in the last one: POSIX path resolution inside the tree.
    /// Empty components and `.` are skipped, `..` goes up; a link target is relative to
    /// the link's directory. A target that is absolute, empty or too long, and `..`
    /// above the root, leave the tree: `NotFound`, as for a dangling link.
    pub fn lookup(&mut self, path: &[u8], follow: bool) -> Result<NodeId, FsError> {
        if path.contains(&0) {
            return Err(FsError::BadPath("NUL byte in path"));
        }
        // The path left to resolve is `buf[at..]`, borrowed from the caller until a link
        // is followed: a lookup without links allocates nothing (in a Hermit app each
        // allocation is a kernel call, and this runs for every open and stat).
        let mut buf: Cow<'_, [u8]> = Cow::Borrowed(path);
        let mut at = Some(0);
        let mut cur = Tree::ROOT;
        let mut hops = 0;
        while let Some(start) = at {
            let end = match buf[start..].iter().position(|&b| b == b'/') {
                Some(i) => {
                    at = Some(start + i + 1);
                    start + i
                }
                None => {
                    at = None;
                    buf.len()
                }
            };
            let comp = &buf[start..end];
            match comp {
                b"" | b"." | b".." if !self.tree.is_dir(cur) => {
                    return Err(FsError::NotADirectory)
                }
                b"" | b"." => continue,
                b".." => {
                    if cur == Tree::ROOT {
                        return Err(FsError::NotFound);
                    }
                    cur = self.tree.parent(cur);
                    continue;
                }
                _ => {}
            }
            if !self.tree.is_dir(cur) {
                return Err(FsError::NotADirectory);
            }
            let node = self.tree.child(cur, comp).ok_or(FsError::NotFound)?;
            if self.tree.mode(node) != EntryMode::Symlink || (!follow && at.is_none()) {
                cur = node;
                continue;
            }
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(FsError::TooManyLinks);
            }
            if self.size_of(node)?.unwrap_or(0) > MAX_LINK_TARGET {
                return Err(FsError::NotFound);
            }
            let target = self.blob_arc(node)?;
            if target.is_empty() || target[0] == b'/' {
                return Err(FsError::NotFound);
            }
            // The target, then what followed the link, resolved from the link's directory.
            let mut next = target.to_vec();
            if let Some(rest) = at {
                next.push(b'/');
                next.extend_from_slice(&buf[rest..]);
            }
            buf = Cow::Owned(next);
            at = Some(0);
        }
        Ok(cur)
    }

    /// The verified bytes of the file or symlink `node`, shared with the cache.
    pub fn content(&mut self, node: NodeId) -> Result<Arc<[u8]>, FsError> {
        self.blob_arc(node)
    }

    /// The blob size of `node` without inflating it; `None` for directories and
    /// submodules.
    pub fn size(&mut self, node: NodeId) -> Result<Option<u64>, FsError> {
        self.size_of(node)
    }

    /// The committer time of the image's commit (Unix seconds), read and verified.
    pub fn commit_time(&mut self) -> Result<u64, FsError> {
        let id = self.image.header().commit;
        let obj = self.image.read_verified(&id)?;
        if obj.kind != ObjectKind::Commit {
            return Err(FsError::Corrupt(Error::BadObject("image commit is not a commit")));
        }
        Commit::parse(&obj.data)?
            .time()
            .ok_or(FsError::Corrupt(Error::BadObject("commit without a time")))
    }

    /// The Git object id of a node.
    pub fn id_of(&self, node: NodeId) -> Result<ObjectId, FsError> {
        match self.tree.object(node) {
            ObjRef::Submodule(id) => Ok(id),
            ObjRef::Idx(pos) => self
                .image
                .index()
                .id_at(pos)
                .ok_or(FsError::Corrupt(Error::BadIdx("position out of range"))),
        }
    }

    /// The verified content of a file or symlink node.
    fn blob(&mut self, node: NodeId) -> Result<&[u8], FsError> {
        self.blob_arc(node)?;
        self.cache.last().ok_or(FsError::Io)
    }

    /// The verified content of a file or symlink node, shared (the cache's handle).
    fn blob_arc(&mut self, node: NodeId) -> Result<Arc<[u8]>, FsError> {
        self.content_if(node, |_| true)
    }

    /// The verified content of a file or symlink node if `accept` takes its size,
    /// asked before memory of that size is taken; a refusal is
    /// `FsError::Corrupt(Error::TooLarge)`. One device read for a small file, where
    /// [`size`](Self::size) then [`content`](Self::content) would take two.
    pub fn content_if(
        &mut self,
        node: NodeId,
        accept: impl FnOnce(u64) -> bool,
    ) -> Result<Arc<[u8]>, FsError> {
        let pos = match (self.tree.mode(node), self.tree.object(node)) {
            (EntryMode::Tree, _) => return Err(FsError::IsADirectory),
            (_, ObjRef::Submodule(_)) => return Err(FsError::Submodule),
            (_, ObjRef::Idx(pos)) => pos,
        };
        if let Some(data) = self.cache.get(pos) {
            return if accept(data.len() as u64) {
                Ok(data)
            } else {
                Err(FsError::Corrupt(Error::TooLarge))
            };
        }
        let id = self.id_of(node)?;
        let obj = self.image.read_verified_if(&id, accept)?;
        if obj.kind != ObjectKind::Blob {
            return Err(FsError::Corrupt(Error::BadObject(
                "a file entry is not a blob",
            )));
        }
        let data: Arc<[u8]> = Arc::from(obj.data);
        self.cache.insert(pos, Arc::clone(&data));
        Ok(data)
    }

    /// Blob size of a node without inflating it (`None` for directories, submodules).
    fn size_of(&mut self, node: NodeId) -> Result<Option<u64>, FsError> {
        let pos = match (self.tree.mode(node), self.tree.object(node)) {
            (EntryMode::Tree, _) | (_, ObjRef::Submodule(_)) => return Ok(None),
            (_, ObjRef::Idx(pos)) => pos,
        };
        if let Some(len) = self.cache.len_of(pos) {
            return Ok(Some(len as u64));
        }
        // One header read, not a walk down the delta chain to learn the kind: the tree
        // entry says it is a blob, and reading the content checks that.
        let id = self.id_of(node)?;
        Ok(Some(self.image.size_of(&id)?))
    }

    /// A whole file (a symlink gives its target).
    pub fn get(&mut self, path: &[u8]) -> Result<File<'_>, FsError> {
        let node = self.resolve(path)?;
        let (mode, id) = (self.tree.mode(node), self.id_of(node)?);
        let data = self.blob(node)?;
        Ok(File { mode, id, data })
    }

    /// A whole file, shared: the caller may hold it while other reads go on.
    pub fn get_shared(&mut self, path: &[u8]) -> Result<(EntryMode, ObjectId, Arc<[u8]>), FsError> {
        let node = self.resolve(path)?;
        let (mode, id) = (self.tree.mode(node), self.id_of(node)?);
        Ok((mode, id, self.blob_arc(node)?))
    }

    /// Up to `len` bytes from `offset`: clamped at the end of the file; an offset past
    /// the end is an error (an offset equal to the size gives no bytes).
    pub fn range(&mut self, path: &[u8], offset: u64, len: u64) -> Result<Slice<'_>, FsError> {
        let node = self.resolve(path)?;
        let (mode, id) = (self.tree.mode(node), self.id_of(node)?);
        let data = self.blob(node)?;
        let size = data.len() as u64;
        if offset > size {
            return Err(FsError::BadRange { offset, size });
        }
        let end = offset.saturating_add(len).min(size);
        Ok(Slice {
            mode,
            id,
            size,
            data: &data[offset as usize..end as usize],
        })
    }

    fn stat_node(&mut self, node: NodeId) -> Result<Stat<'_>, FsError> {
        let size = self.size_of(node)?;
        let id = self.id_of(node)?;
        Ok(Stat {
            node,
            name: self.tree.name(node),
            mode: self.tree.mode(node),
            size,
            id,
        })
    }

    pub fn stat(&mut self, path: &[u8]) -> Result<Stat<'_>, FsError> {
        let node = self.resolve(path)?;
        self.stat_node(node)
    }

    /// The entries of a directory, in name-byte order.
    pub fn list(&mut self, path: &[u8]) -> Result<Vec<Stat<'_>>, FsError> {
        let dir = self.resolve(path)?;
        if !self.tree.is_dir(dir) {
            return Err(FsError::NotADirectory);
        }
        let mut sizes = Vec::with_capacity(self.tree.children(dir).len());
        for c in self.tree.children(dir) {
            sizes.push((c, self.size_of(c)?, self.id_of(c)?));
        }
        let tree = &self.tree;
        Ok(sizes
            .into_iter()
            .map(|(c, size, id)| Stat {
                node: c,
                name: tree.name(c),
                mode: tree.mode(c),
                size,
                id,
            })
            .collect())
    }

    /// The Git object id at `path` (a tree for a directory, a commit for a submodule).
    pub fn digest(&self, path: &[u8]) -> Result<(EntryMode, ObjectId), FsError> {
        let node = self.resolve(path)?;
        Ok((self.tree.mode(node), self.id_of(node)?))
    }

    pub fn info(&self) -> Info {
        let h = self.image.header();
        Info {
            commit: h.commit,
            tree: h.tree,
            rev: h.rev.clone(),
            objects: self.image.index().len() as u64,
            counts: self.tree.counts(),
            tree_nodes: self.tree.len() as u64,
            tree_bytes: self.tree.heap_bytes() as u64,
            boot: self.boot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::testimage::{corrupt_image, noise as big, Entry, Repo};

    fn sample() -> (Repo, Fs<Vec<u8>>) {
        let large = big(300_000, 7);
        let mut large2 = large.clone();
        large2[150_000..150_010].copy_from_slice(b"0123456789");
        let repo = Repo::new(&[
            Entry::file("a.txt", b"alpha\n"),
            Entry::file("empty", b""),
            Entry::file("dir/large.bin", &large),
            Entry::file("dir/large2.bin", &large2),
            Entry::exec("dir/run", b"#!/bin/sh\necho hi\n"),
            Entry::symlink("ln", "dir/run"),
            Entry::submodule("sub", "89abcdef0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        let fs = Fs::open(repo.image().unwrap()).unwrap();
        (repo, fs)
    }

    fn cat_file(repo: &Repo, path: &str) -> Vec<u8> {
        repo.git(&["cat-file", "blob", &format!("HEAD:{path}")], None)
            .unwrap()
    }

    #[test]
    fn files_match_git() {
        let (repo, mut fs) = sample();
        for p in [
            "a.txt",
            "empty",
            "dir/large.bin",
            "dir/large2.bin",
            "dir/run",
            "ln",
        ] {
            let want = cat_file(&repo, p);
            let want_id = repo.git_text(&["rev-parse", &format!("HEAD:{p}")]).unwrap();
            let f = fs.get(p.as_bytes()).unwrap();
            assert_eq!(f.data, &want[..], "{p}");
            assert_eq!(f.id.to_string(), want_id.trim());
        }
        assert_eq!(fs.get(b"ln").unwrap().mode, EntryMode::Symlink);
        assert_eq!(fs.get(b"ln").unwrap().data, b"dir/run");
        assert_eq!(fs.get(b"dir/run").unwrap().mode, EntryMode::Executable);
    }

    #[test]
    fn small_files_read_again_come_from_memory() {
        let (repo, mut fs) = sample();
        let small = ["a.txt", "dir/run", "ln"];
        for p in small {
            fs.get(p.as_bytes()).unwrap();
        }
        // A large file in between replaces the last blob, not the small ones.
        fs.get(b"dir/large.bin").unwrap();
        // The image is not asked at all (not even its own cache).
        let asked = |fs: &Fs<Vec<u8>>| {
            let s = fs.image().cache_stats();
            (s.hits, s.misses, s.inflated)
        };
        let before = asked(&fs);
        for p in small.iter().cycle().take(9) {
            assert_eq!(fs.get(p.as_bytes()).unwrap().data, &cat_file(&repo, p)[..]);
            assert!(fs.stat(p.as_bytes()).unwrap().size.is_some());
        }
        assert_eq!(asked(&fs), before);
    }

    #[test]
    fn ranges_are_clamped_and_checked() {
        let (repo, mut fs) = sample();
        let want = cat_file(&repo, "dir/large.bin");
        let n = want.len() as u64;
        for (off, len) in [
            (0, 10),
            (5, 100_000),
            (n - 3, 10),
            (n, 5),
            (1000, 0),
            (7, u64::MAX),
        ] {
            let s = fs.range(b"dir/large.bin", off, len).unwrap();
            let end = off.saturating_add(len).min(n) as usize;
            assert_eq!(s.data, &want[off as usize..end], "{off}+{len}");
            assert_eq!(s.size, n);
        }
        assert_eq!(
            fs.range(b"dir/large.bin", n + 1, 1).err(),
            Some(FsError::BadRange {
                offset: n + 1,
                size: n
            })
        );
        // Successive ranges reuse the verified blob: no further inflation.
        let before = fs.image().cache_stats().inflated;
        for i in 0..10 {
            fs.range(b"dir/large.bin", i * 1000, 1000).unwrap();
        }
        assert_eq!(fs.image().cache_stats().inflated, before);
    }

    #[test]
    fn listings_stat_and_digest_match_git() {
        let (repo, mut fs) = sample();
        let ls = fs.list(b"dir").unwrap();
        let got: Vec<String> = ls
            .iter()
            .map(|s| {
                format!(
                    "{:06o} {} {}\t{}",
                    s.mode.mode(),
                    s.id,
                    s.size.map_or("-".into(), |n| n.to_string()),
                    String::from_utf8_lossy(s.name)
                )
            })
            .collect();
        let want: Vec<String> = repo
            .git_text(&["ls-tree", "-l", "HEAD:dir"])
            .unwrap()
            .lines()
            .map(|l| {
                let (meta, name) = l.split_once('\t').unwrap();
                let w: Vec<&str> = meta.split_whitespace().collect();
                format!("{} {} {}\t{name}", w[0], w[2], w[3])
            })
            .collect();
        assert_eq!(got, want);
        let st = fs.stat(b"sub").unwrap();
        assert_eq!((st.mode, st.size), (EntryMode::Submodule, None));
        let st = fs.stat(b"").unwrap();
        assert_eq!((st.mode, st.name), (EntryMode::Tree, &b""[..]));
        assert_eq!(fs.stat(b"ln").unwrap().size, Some(7));
        let (m, id) = fs.digest(b"dir/").unwrap();
        assert_eq!(m, EntryMode::Tree);
        assert_eq!(
            id.to_string(),
            repo.git_text(&["rev-parse", "HEAD:dir"]).unwrap().trim()
        );
    }

    #[test]
    fn errors() {
        let (_repo, mut fs) = sample();
        assert_eq!(fs.get(b"dir").err(), Some(FsError::IsADirectory));
        assert_eq!(fs.get(b"nope").err(), Some(FsError::NotFound));
        assert_eq!(fs.get(b"a.txt/x").err(), Some(FsError::NotADirectory));
        assert_eq!(fs.list(b"a.txt").err(), Some(FsError::NotADirectory));
        assert_eq!(fs.get(b"sub").err(), Some(FsError::Submodule));
        assert!(matches!(fs.get(b"dir/../a.txt"), Err(FsError::BadPath(_))));
        assert!(matches!(fs.get(b"dir//run"), Err(FsError::BadPath(_))));
        let info = fs.info();
        assert_eq!(info.counts.files, 5);
        assert_eq!(info.counts.dirs, 1);
        assert_eq!(info.tree_nodes, 9);
    }

    #[test]
    fn corrupt_blobs_are_errors_not_bytes() {
        let mut fs = Fs::open(corrupt_image("m").unwrap()).unwrap();
        assert!(matches!(fs.get(b"m"), Err(FsError::Corrupt(_))));
        assert!(matches!(fs.range(b"m", 0, 1), Err(FsError::Corrupt(_))));
        assert_eq!(fs.get(b"ok").unwrap().data, b"fine");
    }

    #[test]
    fn bad_images_are_refused() {
        let repo = Repo::new(&[Entry::file("d/x", b"1")]).unwrap();
        let tree_id = repo.git_text(&["rev-parse", "HEAD:d"]).unwrap();
        let img = repo.image_without(&[tree_id.trim()]).unwrap();
        assert!(matches!(
            Fs::open(img),
            Err(OpenError::Tree(TreeError::Image(Error::NotFound(_))))
        ));
        let mut img = repo.image().unwrap();
        img[0] ^= 1;
        assert_eq!(Fs::open(img).err(), Some(OpenError::Image(Error::BadMagic)));
    }
}
