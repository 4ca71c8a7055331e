//! The image as a mounted file system: the questions the kernel's VFS asks (stat,
//! open, read, list), answered with POSIX errno values. Target-independent and tested
//! on the host; `hermit/mount.rs` only turns the kernel's C calls into these.
//!
//! Every byte handed out comes from a blob whose SHA-1 was checked against its id when
//! the file was opened; an open file holds its verified blob until it is closed.

use std::sync::{Arc, Mutex, MutexGuard};

use gitfs_format::{BlockDevice, EntryMode, Error};
use hermit_abi::errno;

use crate::fs::{Fs, FsError};
use crate::tree::NodeId;

/// A POSIX error number (positive), as in `hermit_abi::errno`.
pub type Errno = i32;

/// What `stat` reports: the fields of `struct stat` that a Git tree determines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Stable for the life of the mount: the node's index in the path tree, plus one.
    pub ino: u64,
    /// File type and permission bits (`st_mode`).
    pub mode: u32,
    /// Blob size for files and symlinks (the target's length), 0 for directories.
    pub size: u64,
    /// The commit's committer time (Unix seconds), for every node.
    pub mtime: u64,
}

impl Attr {
    pub fn is_dir(&self) -> bool {
        self.mode & hermit_abi::S_IFMT == hermit_abi::S_IFDIR
    }
}

/// A directory entry: name bytes and `d_type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub d_type: u8,
}

/// `st_mode` for a tree entry: Git's own permission bits (644 or 755 for files); a
/// submodule shows as an empty directory, as in a checkout without it.
pub fn st_mode(mode: EntryMode) -> u32 {
    match mode {
        EntryMode::Tree | EntryMode::Submodule => hermit_abi::S_IFDIR | 0o755,
        EntryMode::File => hermit_abi::S_IFREG | 0o644,
        EntryMode::Executable => hermit_abi::S_IFREG | 0o755,
        EntryMode::Symlink => hermit_abi::S_IFLNK | 0o777,
    }
}

fn d_type(mode: EntryMode) -> u8 {
    match mode {
        EntryMode::Tree | EntryMode::Submodule => hermit_abi::DT_DIR,
        EntryMode::File | EntryMode::Executable => hermit_abi::DT_REG,
        EntryMode::Symlink => hermit_abi::DT_LNK,
    }
}

/// The errno for a failed file-system operation. A corrupt object is `EIO`: never
/// wrong bytes.
pub fn errno_of(e: &FsError) -> Errno {
    match e {
        FsError::NotFound => errno::ENOENT,
        FsError::IsADirectory | FsError::Submodule => errno::EISDIR,
        FsError::NotADirectory => errno::ENOTDIR,
        FsError::BadPath(_) | FsError::BadRange { .. } => errno::EINVAL,
        FsError::TooManyLinks => errno::ELOOP,
        FsError::Corrupt(_) | FsError::Io => errno::EIO,
    }
}

/// An open file: its verified content and attributes.
struct Open {
    data: Arc<[u8]>,
    attr: Attr,
}

/// Open files by handle. A handle is a slot's index plus one (0 is never given);
/// closed slots are reused, as descriptors are. Not a hash map: std's SipHash of the
/// handle cost more than the rest of a `fstat` under QEMU TCG.
#[derive(Default)]
struct OpenFiles {
    slots: Vec<Option<Open>>,
    free: Vec<usize>,
}

impl OpenFiles {
    fn insert(&mut self, file: Open) -> u64 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(file);
                slot
            }
            None => {
                self.slots.push(Some(file));
                self.slots.len() - 1
            }
        };
        slot as u64 + 1
    }

    fn slot(handle: u64) -> Option<usize> {
        usize::try_from(handle.checked_sub(1)?).ok()
    }

    fn get(&self, handle: u64) -> Option<&Open> {
        self.slots.get(Self::slot(handle)?)?.as_ref()
    }

    fn remove(&mut self, handle: u64) -> Option<Open> {
        let slot = Self::slot(handle)?;
        let file = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(file)
    }

    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// A mounted image.
pub struct Volume<D: BlockDevice> {
    fs: Mutex<Fs<D>>,
    open: Mutex<OpenFiles>,
    mtime: u64,
    max_file_bytes: u64,
}

impl<D: BlockDevice> Volume<D> {
    /// Reads the commit time once; files larger than `max_file_bytes` are refused at
    /// open with `EFBIG` (a file must fit in memory while it is open).
    pub fn new(mut fs: Fs<D>, max_file_bytes: u64) -> Result<Self, FsError> {
        let mtime = fs.commit_time()?;
        Ok(Volume {
            fs: Mutex::new(fs),
            open: Mutex::new(OpenFiles::default()),
            mtime,
            max_file_bytes,
        })
    }

    /// The file system, for callers that want the direct API.
    pub fn fs(&self) -> MutexGuard<'_, Fs<D>> {
        self.fs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_files(&self) -> MutexGuard<'_, OpenFiles> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn attr_of(&self, fs: &mut Fs<D>, node: NodeId) -> Result<Attr, FsError> {
        let size = fs.size(node)?.unwrap_or(0);
        Ok(self.attr(node, fs.tree().mode(node), size))
    }

    fn attr(&self, node: NodeId, mode: EntryMode, size: u64) -> Attr {
        Attr {
            ino: u64::from(node) + 1,
            mode: st_mode(mode),
            size,
            mtime: self.mtime,
        }
    }

    /// `stat` (`follow`) or `lstat` of `path` (relative to the mount point).
    pub fn stat(&self, path: &[u8], follow: bool) -> Result<Attr, Errno> {
        let mut fs = self.fs();
        let node = fs.lookup(path, follow).map_err(|e| errno_of(&e))?;
        self.attr_of(&mut fs, node).map_err(|e| self.failed(path, &e))
    }

    /// Opens the file at `path` (links followed): reads and verifies it whole.
    pub fn open(&self, path: &[u8]) -> Result<u64, Errno> {
        let (data, attr) = {
            let mut fs = self.fs();
            let node = fs.lookup(path, true).map_err(|e| errno_of(&e))?;
            let mode = fs.tree().mode(node);
            if matches!(mode, EntryMode::Tree | EntryMode::Submodule) {
                return Err(errno::EISDIR);
            }
            let max = self.max_file_bytes;
            let data = match fs.content_if(node, |size| size <= max && fits_in_memory(size)) {
                Ok(data) => data,
                Err(FsError::Corrupt(Error::TooLarge)) => return Err(errno::EFBIG),
                Err(e) => return Err(self.failed(path, &e)),
            };
            let attr = self.attr(node, mode, data.len() as u64);
            (data, attr)
        };
        Ok(self.open_files().insert(Open { data, attr }))
    }

    /// Copies bytes of an open file from `offset` into `buf`: the count, 0 at the end.
    pub fn read(&self, handle: u64, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let open = self.open_files();
        let file = open.get(handle).ok_or(errno::EBADF)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(file.data.len());
        let n = buf.len().min(file.data.len() - start);
        buf[..n].copy_from_slice(&file.data[start..start + n]);
        Ok(n)
    }

    pub fn fstat(&self, handle: u64) -> Result<Attr, Errno> {
        self.open_files()
            .get(handle)
            .map(|f| f.attr)
            .ok_or(errno::EBADF)
    }

    pub fn close(&self, handle: u64) {
        self.open_files().remove(handle);
    }

    /// Files open now.
    pub fn open_count(&self) -> usize {
        self.open_files().len()
    }

    /// The entries of the directory at `path` (links followed), in name-byte order.
    pub fn read_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>, Errno> {
        let fs = &mut *self.fs();
        let node = fs.lookup(path, true).map_err(|e| errno_of(&e))?;
        let tree = fs.tree();
        match tree.mode(node) {
            EntryMode::Tree => {}
            EntryMode::Submodule => return Ok(Vec::new()),
            _ => return Err(errno::ENOTDIR),
        }
        Ok(tree
            .children(node)
            .map(|c| DirEntry {
                name: tree.name(c).to_vec(),
                d_type: d_type(tree.mode(c)),
            })
            .collect())
    }

    /// The target of the symbolic link at `path` (earlier components followed).
    pub fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let mut fs = self.fs();
        let node = fs.lookup(path, false).map_err(|e| errno_of(&e))?;
        if fs.tree().mode(node) != EntryMode::Symlink {
            return Err(errno::EINVAL);
        }
        let target = fs.content(node).map_err(|e| self.failed(path, &e))?;
        Ok(target.to_vec())
    }

    /// The errno for `e`; a corrupt image also gets a line on stderr, which is where
    /// the operator looks when an app reports an I/O error.
    fn failed(&self, path: &[u8], e: &FsError) -> Errno {
        if matches!(e, FsError::Corrupt(_)) {
            eprintln!("gitfs: {}: {e}", String::from_utf8_lossy(path));
        }
        errno_of(e)
    }
}

/// Whether a file of `size` bytes, plus as much again for inflating it, can be
/// allocated now: an allocation that fails later would abort the whole unikernel.
fn fits_in_memory(size: u64) -> bool {
    let Some(need) = usize::try_from(size).ok().and_then(|s| s.checked_mul(2)) else {
        return false;
    };
    Vec::<u8>::new().try_reserve_exact(need).is_ok()
}

#[cfg(test)]
mod tests;
