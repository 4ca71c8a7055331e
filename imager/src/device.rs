//! A [`BlockDevice`] over a host file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use gitfs_format::{BlockDevice, Error};

/// An image file opened for reading.
pub struct FileDevice {
    file: File,
    len: u64,
}

impl FileDevice {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        Ok(FileDevice {
            file,
            len: meta.len(),
        })
    }
}

impl BlockDevice for FileDevice {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> gitfs_format::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or(Error::Truncated)?;
        if end > self.len {
            return Err(Error::Truncated);
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::Truncated,
                _ => Error::Io,
            })
    }
}
