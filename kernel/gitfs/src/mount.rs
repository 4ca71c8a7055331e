//! The one call an app makes: find the disk, open the image, mount it.

#[cfg(target_os = "hermit")]
pub use imp::{mounted, Disk};

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::fs::OpenError;
use crate::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MOUNT_POINT, MOUNT_ENV};

/// Why the image could not be mounted.
#[derive(Debug, Error)]
pub enum MountError {
    #[error("gitfs mounts only on Hermit")]
    NotHermit,
    #[error("mount point {0:?}: expected an absolute path below /, such as /git")]
    BadMountPoint(String),
    #[error("no disk: {0}")]
    NoDisk(String),
    #[error("bad image: {0}")]
    BadImage(#[from] OpenError),
    #[error("bad image: {0}")]
    BadCommit(crate::fs::FsError),
    #[error("a gitfs image is already mounted (at {0})")]
    AlreadyMounted(String),
    #[error(
        "the kernel refused to mount at {path} (errno {errno}): the mount point must not \
         exist and its parent must be a directory such as /"
    )]
    Kernel { path: String, errno: i32 },
}

impl From<MountError> for io::Error {
    fn from(e: MountError) -> io::Error {
        let kind = match &e {
            MountError::NotHermit => io::ErrorKind::Unsupported,
            MountError::BadMountPoint(_) => io::ErrorKind::InvalidInput,
            MountError::NoDisk(_) => io::ErrorKind::NotFound,
            MountError::BadImage(_) | MountError::BadCommit(_) => io::ErrorKind::InvalidData,
            MountError::AlreadyMounted(_) | MountError::Kernel { .. } => {
                io::ErrorKind::AlreadyExists
            }
        };
        io::Error::new(kind, e)
    }
}

/// What was mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mounted {
    /// The mount point.
    pub path: String,
    /// The image's commit id (hex).
    pub commit: String,
    pub files: u64,
    pub dirs: u64,
}

/// Mount options: where, and the largest file that may be opened.
#[derive(Clone, Debug)]
pub struct Mount {
    path: String,
    max_file_bytes: u64,
}

impl Default for Mount {
    /// At `$GITFS_MOUNT`, else [`DEFAULT_MOUNT_POINT`]; files up to
    /// [`DEFAULT_MAX_FILE_BYTES`].
    fn default() -> Self {
        let path = std::env::var(MOUNT_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_MOUNT_POINT.to_string());
        Mount {
            path,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

impl Mount {
    /// At `path` (absolute, for example `/srv`).
    pub fn at(path: impl Into<String>) -> Self {
        Mount {
            path: path.into(),
            ..Mount::default()
        }
    }

    /// Opening a larger file fails with `EFBIG` (`ErrorKind::FileTooLarge` through
    /// [`error_kind`]); whatever this says, a file must also fit in free memory.
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// The mount point without trailing slashes; `/` alone is refused.
    fn mount_point(&self) -> Result<String, MountError> {
        let p = self.path.trim_end_matches('/');
        if !p.starts_with('/') || p.contains('\0') || p.split('/').any(|c| c == "." || c == "..") {
            return Err(MountError::BadMountPoint(self.path.clone()));
        }
        Ok(p.to_string())
    }

    /// Opens the first virtio-blk disk as a gitfs image (every tree is read and the
    /// path tree built), and mounts it read-only.
    pub fn mount(self) -> Result<Mounted, MountError> {
        let path = self.mount_point()?;
        imp::mount(&path, self.max_file_bytes)
    }
}

/// Mounts the first virtio-blk disk with the default options ([`Mount::default`]).
pub fn mount() -> Result<Mounted, MountError> {
    Mount::default().mount()
}

/// The target of the symbolic link at `path`. std's Hermit backend has no `readlink`
/// (`std::fs::read_link` fails with `Unsupported` there): use this for paths below a
/// gitfs mount. Elsewhere, and on other systems, it is `std::fs::read_link`.
pub fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    imp::read_link(path.as_ref())
}

/// `st_mode` of `path` (links followed), as `fs::metadata` reads it: file type and
/// permission bits, `0o100755` for an executable file. std's Hermit backend keeps the
/// mode to itself (no `PermissionsExt`/`MetadataExt` there); this makes the same `stat`
/// call. On other systems it is `MetadataExt::mode`.
pub fn mode(path: impl AsRef<Path>) -> io::Result<u32> {
    imp::mode(path.as_ref())
}

/// Whether an error from `std::fs::read_dir` means only "the directory is empty".
/// std's Hermit backend at the pinned toolchain turns `getdents64`'s 0 (no entries)
/// into `os error 0`, so an empty directory cannot be listed; in a gitfs image only
/// a submodule (and an empty tree) is one. Elsewhere this is never true.
pub fn is_empty_listing(e: &io::Error) -> bool {
    cfg!(target_os = "hermit") && e.raw_os_error() == Some(0)
}

/// The errno behind a `std::fs` error. std's Hermit backend at the pinned toolchain
/// keeps only an `io::ErrorKind` (`raw_os_error()` is `None`) and knows few errno
/// values: `EROFS`, `EISDIR`, `ENOTDIR`, `EFBIG` and `EIO` all come out as
/// `Uncategorized`. The kernel also leaves the errno of the thread's last failed
/// system call where `sys_get_errno` reads it: this returns it when it is consistent
/// with `e`. Call it right after the failing call, on the same thread.
pub fn os_error(e: &io::Error) -> Option<i32> {
    if let Some(raw) = e.raw_os_error() {
        return Some(raw);
    }
    let errno = imp::last_errno()?;
    // Only if std would have turned that errno into this very error kind.
    (errno > 0 && io::Error::from_raw_os_error(errno).kind() == e.kind()).then_some(errno)
}

/// The `io::ErrorKind` for an error from a gitfs mount, from [`os_error`], mapped as
/// Linux does: `EROFS` -> `ReadOnlyFilesystem`, `EISDIR` -> `IsADirectory`, `ENOTDIR`
/// -> `NotADirectory`, `EFBIG` -> `FileTooLarge`, and `EIO` (a corrupt object) ->
/// `InvalidData`.
pub fn error_kind(e: &io::Error) -> io::ErrorKind {
    use hermit_abi::errno;
    match os_error(e) {
        Some(errno::EROFS) => io::ErrorKind::ReadOnlyFilesystem,
        Some(errno::EISDIR) => io::ErrorKind::IsADirectory,
        Some(errno::ENOTDIR) => io::ErrorKind::NotADirectory,
        Some(errno::EFBIG) => io::ErrorKind::FileTooLarge,
        Some(errno::EBUSY) => io::ErrorKind::ResourceBusy,
        Some(errno::EIO) => io::ErrorKind::InvalidData,
        Some(errno::ENOENT) => io::ErrorKind::NotFound,
        _ => e.kind(),
    }
}

#[cfg(target_os = "hermit")]
mod imp {
    use std::io;
    use std::os::hermit::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use super::{MountError, Mounted};
    use crate::blockdev::CachedDisk;
    use crate::fs::Fs;
    use crate::hermit::{self, VirtioDisk};
    use crate::volume::Volume;

    /// The disk a mount reads.
    pub type Disk = CachedDisk<VirtioDisk>;

    /// The mounted volume and its mount point (one disk, one mount per app).
    static MOUNTED: OnceLock<(String, &'static Volume<Disk>)> = OnceLock::new();

    /// The mounted volume, for reads through the library itself (what the kernel's
    /// VFS calls), bypassing `std::fs`.
    pub fn mounted() -> Option<&'static Volume<Disk>> {
        MOUNTED.get().map(|(_, v)| *v)
    }

    pub fn mount(path: &str, max_file_bytes: u64) -> Result<Mounted, MountError> {
        if let Some((at, _)) = MOUNTED.get() {
            return Err(MountError::AlreadyMounted(at.clone()));
        }
        let disk = hermit::open_disk().map_err(|e| MountError::NoDisk(e.to_string()))?;
        let fs = Fs::open(disk)?;
        let info = fs.info();
        let volume = Volume::new(fs, max_file_bytes).map_err(MountError::BadCommit)?;
        let volume: &'static Volume<Disk> = Box::leak(Box::new(volume));
        if MOUNTED.set((path.to_string(), volume)).is_err() {
            return Err(MountError::AlreadyMounted(path.to_string()));
        }
        hermit::mount::mount(path, volume).map_err(|errno| MountError::Kernel {
            path: path.to_string(),
            errno,
        })?;
        Ok(Mounted {
            path: path.to_string(),
            commit: info.commit.to_string(),
            files: info.counts.files,
            dirs: info.counts.dirs,
        })
    }

    pub fn last_errno() -> Option<i32> {
        // SAFETY: reads this thread's errno slot.
        Some(unsafe { hermit_abi::get_errno() })
    }

    pub fn mode(path: &Path) -> io::Result<u32> {
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut st = hermit_abi::stat::default();
        // SAFETY: a NUL-terminated path and a writable stat buffer.
        let ret = unsafe { hermit_abi::stat(c.as_ptr(), &mut st) };
        if ret < 0 {
            return Err(io::Error::from_raw_os_error(-ret));
        }
        Ok(st.st_mode)
    }

    pub fn read_link(path: &Path) -> io::Result<PathBuf> {
        let below = MOUNTED.get().and_then(|(at, v)| {
            let rest = path.as_os_str().as_bytes().strip_prefix(at.as_bytes())?;
            match rest.first() {
                None => Some((*v, &rest[..0])),
                Some(b'/') => Some((*v, &rest[1..])),
                Some(_) => None,
            }
        });
        match below {
            Some((v, rel)) => v
                .read_link(rel)
                .map(|t| PathBuf::from(std::ffi::OsString::from_vec(t)))
                .map_err(io::Error::from_raw_os_error),
            None => std::fs::read_link(path),
        }
    }
}

#[cfg(not(target_os = "hermit"))]
mod imp {
    use std::io;
    use std::path::{Path, PathBuf};

    use super::{MountError, Mounted};

    pub fn mount(_path: &str, _max_file_bytes: u64) -> Result<Mounted, MountError> {
        Err(MountError::NotHermit)
    }

    pub fn read_link(path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }

    /// std keeps the errno in `raw_os_error()` here.
    pub fn last_errno() -> Option<i32> {
        None
    }

    #[cfg(unix)]
    pub fn mode(path: &Path) -> io::Result<u32> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::metadata(path)?.mode())
    }

    #[cfg(not(unix))]
    pub fn mode(_path: &Path) -> io::Result<u32> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points() {
        let ok = |p: &str| Mount::at(p).mount_point().unwrap();
        assert_eq!(ok("/git"), "/git");
        assert_eq!(ok("/srv/"), "/srv");
        assert_eq!(ok("/a b/é"), "/a b/é");
        for bad in ["", "/", "//", "git", "/a/../b", "/./x", "/a\0b"] {
            assert!(
                matches!(Mount::at(bad).mount_point(), Err(MountError::BadMountPoint(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn error_kinds_follow_errno() {
        use hermit_abi::errno;
        let k = |n| error_kind(&io::Error::from_raw_os_error(n));
        assert_eq!(k(errno::EROFS), io::ErrorKind::ReadOnlyFilesystem);
        assert_eq!(k(errno::EISDIR), io::ErrorKind::IsADirectory);
        assert_eq!(k(errno::ENOTDIR), io::ErrorKind::NotADirectory);
        assert_eq!(k(errno::EFBIG), io::ErrorKind::FileTooLarge);
        assert_eq!(k(errno::EIO), io::ErrorKind::InvalidData);
        assert_eq!(k(errno::ENOENT), io::ErrorKind::NotFound);
        let other = io::Error::new(io::ErrorKind::TimedOut, "x");
        assert_eq!(error_kind(&other), io::ErrorKind::TimedOut);
    }

    #[test]
    fn mounting_off_hermit_says_so() {
        assert!(matches!(mount(), Err(MountError::NotHermit)));
    }
}
