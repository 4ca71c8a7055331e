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
}
