//! Random-access storage an image is read from.

use alloc::vec::Vec;

use crate::{Error, Result};

/// A readable disk. Reads may have any size at any offset; callers make few, large
/// reads because a virtio-blk request is expensive in a guest.
pub trait BlockDevice {
    /// Size in bytes (for a VM disk: padded, so possibly larger than the image).
    fn len(&self) -> u64;

    /// Fills `buf` from `offset`; a read past the end is [`Error::Truncated`].
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Says whether the reads that follow mostly start where the previous one ended
    /// (the path tree's build reads every tree object in the order they were written):
    /// a device that pays per request may then read ahead. Only a hint; by default
    /// nothing changes.
    fn set_sequential(&mut self, _on: bool) {}
}

fn read_slice(data: &[u8], offset: u64, buf: &mut [u8]) -> Result<()> {
    let start = usize::try_from(offset).map_err(|_| Error::Truncated)?;
    let end = start.checked_add(buf.len()).ok_or(Error::Truncated)?;
    let src = data.get(start..end).ok_or(Error::Truncated)?;
    buf.copy_from_slice(src);
    Ok(())
}

impl BlockDevice for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        read_slice(self, offset, buf)
    }
}

impl BlockDevice for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        read_slice(self, offset, buf)
    }
}

impl<D: BlockDevice + ?Sized> BlockDevice for &mut D {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }

    fn set_sequential(&mut self, on: bool) {
        (**self).set_sequential(on)
    }
}

/// Reads `len` bytes at `offset` into a new buffer, refusing lengths past the device end
/// before allocating.
pub(crate) fn read_vec<D: BlockDevice + ?Sized>(
    dev: &mut D,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>> {
    let end = offset.checked_add(len).ok_or(Error::Truncated)?;
    if end > dev.len() {
        return Err(Error::Truncated);
    }
    let n = usize::try_from(len).map_err(|_| Error::TooLarge)?;
    let mut buf = alloc::vec![0u8; n];
    dev.read_at(offset, &mut buf)?;
    Ok(buf)
}

/// An image file on the host, read with positioned reads (feature `std`, Unix).
#[cfg(all(feature = "std", unix))]
pub struct FileDevice {
    file: std::fs::File,
    len: u64,
}

#[cfg(all(feature = "std", unix))]
impl FileDevice {
    /// Opens `path` for reading; a directory is refused.
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
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

#[cfg(all(feature = "std", unix))]
impl BlockDevice for FileDevice {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_are_bounded() {
        let mut d: &[u8] = b"hello";
        let mut b = [0u8; 3];
        d.read_at(2, &mut b).unwrap();
        assert_eq!(&b, b"llo");
        assert_eq!(d.read_at(3, &mut b), Err(Error::Truncated));
        assert_eq!(d.read_at(u64::MAX, &mut b), Err(Error::Truncated));
        let mut v = alloc::vec![1u8, 2];
        assert_eq!(read_vec(&mut v, 0, 3), Err(Error::Truncated));
        assert_eq!(read_vec(&mut v, 1, 1).unwrap(), alloc::vec![2]);
    }

    #[cfg(all(feature = "std", unix))]
    #[test]
    fn file_device_reads_exact_bytes() {
        let path = std::env::temp_dir().join(alloc::format!(
            "gitfs-format-filedev-{}",
            std::process::id()
        ));
        let data: alloc::vec::Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut f = FileDevice::open(&path).unwrap();
        assert_eq!(f.len(), 10_000);
        let mut buf = alloc::vec![0u8; 777];
        f.read_at(9_000, &mut buf).unwrap();
        assert_eq!(buf, data[9_000..9_777]);
        assert_eq!(f.read_at(9_500, &mut buf), Err(Error::Truncated));
        assert!(FileDevice::open(&std::env::temp_dir()).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
