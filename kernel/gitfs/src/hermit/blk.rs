//! The virtio-blk disk: found on PCI, driven by polling, read-only.

use core::fmt;

use gitfs_format::{Error, Result};
use virtio_drivers::device::blk::{VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::transport::pci::bus::PciRoot;
use virtio_drivers::transport::pci::{PciTransport, VirtioPciError};
use virtio_drivers::transport::DeviceType;

use super::hal::HermitHal;
use super::pci::{enable, find_virtio, PortCam};
use crate::blockdev::{CachedDisk, SectorDisk};

/// One device request reads at most this much (bounded by the bounce-buffer size).
pub const MAX_REQUEST: usize = 256 * 1024;

/// Why a virtio device (the disk, the channel) could not be opened.
#[derive(Debug)]
pub enum OpenError {
    NoDevice,
    /// The device's name and what its PCI transport said.
    Transport(&'static str, VirtioPciError),
    Device(&'static str, virtio_drivers::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NoDevice => write!(f, "no virtio-blk device on the PCI bus"),
            OpenError::Transport(d, VirtioPciError::MissingCommonConfig) => write!(
                f,
                "{d} device has no modern (virtio 1.0) interface: do not use disable-modern=on"
            ),
            OpenError::Transport(d, e) => write!(f, "{d} PCI transport: {e}"),
            OpenError::Device(d, e) => write!(f, "{d} device: {e}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// A virtio-blk device as a sector disk.
pub struct VirtioDisk {
    blk: VirtIOBlk<HermitHal, PciTransport>,
    sectors: u64,
}

impl SectorDisk for VirtioDisk {
    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn max_request(&self) -> usize {
        MAX_REQUEST
    }

    fn read_sectors(&mut self, first: u64, buf: &mut [u8]) -> Result<()> {
        if buf.is_empty() || buf.len() % SECTOR_SIZE != 0 || buf.len() > MAX_REQUEST {
            return Err(Error::Io);
        }
        let end = first
            .checked_add((buf.len() / SECTOR_SIZE) as u64)
            .ok_or(Error::Truncated)?;
        if end > self.sectors {
            return Err(Error::Truncated);
        }
        let first = usize::try_from(first).map_err(|_| Error::Truncated)?;
        self.blk.read_blocks(first, buf).map_err(|_| Error::Io)
    }
}

/// Finds, enables and initialises the first virtio-blk device.
pub fn open() -> core::result::Result<CachedDisk<VirtioDisk>, OpenError> {
    let mut root = PciRoot::new(PortCam);
    let (df, _info) = find_virtio(&root, DeviceType::Block).ok_or(OpenError::NoDevice)?;
    enable(&mut root, df);
    let transport =
        PciTransport::new::<HermitHal, _>(&mut root, df)
        .map_err(|e| OpenError::Transport("virtio-blk", e))?;
    let blk = VirtIOBlk::<HermitHal, _>::new(transport).map_err(|e| OpenError::Device("virtio-blk", e))?;
    let sectors = blk.capacity();
    Ok(CachedDisk::new(VirtioDisk { blk, sectors }))
}
