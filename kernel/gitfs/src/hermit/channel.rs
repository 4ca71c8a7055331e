//! A virtio-console port as a byte stream for programs: QEMU's `virtio-serial-pci` with a
//! `virtconsole` on port 0 (no multiport), driven by polling through virtio-drivers'
//! console driver.
//!
//! QEMU drops console output its chardev cannot take at once, so the port sends only
//! what the host has granted credit for (`gitfs_console::flow`); credit bytes are taken
//! out of the input here.
//!
//! Hermit threads switch only when one yields, and the driver's send spins until the
//! device has taken the bytes: sends go in [`SEND_CHUNK`] pieces with a yield between
//! them, and a wait for credit yields too, so a large response or a host that reads
//! slowly lets the app's other threads (the serial console, HTTP) run.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use gitfs_console::flow::Credit;
use virtio_drivers::device::console::VirtIOConsole;
use virtio_drivers::transport::pci::bus::PciRoot;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::DeviceType;

use super::blk::OpenError;
use super::hal::HermitHal;
use super::pci::{enable, find_virtio, PortCam};

const NAME: &str = "virtio-console";
/// Bytes per device send: small enough to yield often, large enough that QEMU's
/// per-request cost stays small (and below the Hal's largest bounce block).
pub const SEND_CHUNK: usize = 64 * 1024;
/// A send waits for at least this much credit (or for all it has to send, if less):
/// fewer, larger writes. The host's window is larger than this plus one credit unit,
/// so the wait always ends once the host has read what is in flight.
const MIN_SEND: usize = 8 * 1024;
/// After this long without traffic a waiting thread naps instead of spinning.
const HOT: Duration = Duration::from_millis(50);
/// Hermit blocks a sleeping thread (instead of busy-waiting) from 10 ms up.
const NAP: Duration = Duration::from_millis(10);

/// Port 0 of the first virtio-console device.
pub struct Channel {
    console: VirtIOConsole<HermitHal, PciTransport>,
    last_traffic: Instant,
    credit: Credit,
    /// Input read while waiting for credit, credit bytes removed.
    pending: VecDeque<u8>,
}

/// Opens the first virtio-console device; `Ok(None)` when there is none.
pub fn open() -> Result<Option<Channel>, OpenError> {
    let mut root = PciRoot::new(PortCam);
    let Some((df, _)) = find_virtio(&root, DeviceType::Console) else {
        return Ok(None);
    };
    enable(&mut root, df);
    let transport = PciTransport::new::<HermitHal, _>(&mut root, df)
        .map_err(|e| OpenError::Transport(NAME, e))?;
    let console = VirtIOConsole::new(transport).map_err(|e| OpenError::Device(NAME, e))?;
    Ok(Some(Channel {
        console,
        last_traffic: Instant::now(),
        credit: Credit::default(),
        pending: VecDeque::new(),
    }))
}

fn io_error(e: virtio_drivers::Error) -> io::Error {
    io::Error::other(format!("{NAME}: {e}"))
}

impl Channel {
    /// Waits for the next poll: spins (yielding to other threads) while traffic is
    /// recent, naps when the channel has been idle.
    fn idle(&self) {
        if self.last_traffic.elapsed() < HOT {
            std::thread::yield_now();
        } else {
            std::thread::sleep(NAP);
        }
    }

    /// Moves what the device has received into `pending` (credit taken out); whether
    /// anything came.
    fn poll_input(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 512];
        let mut n = 0;
        while n < buf.len() {
            match self.console.recv(true).map_err(io_error)? {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 {
            return Ok(false);
        }
        let data = self.credit.take_from(&mut buf[..n]);
        self.pending.extend(&buf[..data]);
        self.last_traffic = Instant::now();
        Ok(true)
    }
}

impl io::Read for Channel {
    /// Waits for at least one byte, then returns what has arrived.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pending.is_empty() {
            if !self.poll_input()? {
                self.idle();
            }
        }
        let n = out.len().min(self.pending.len());
        for (o, b) in out.iter_mut().zip(self.pending.drain(..n)) {
            *o = b;
        }
        Ok(n)
    }
}

impl io::Write for Channel {
    /// Sends up to [`SEND_CHUNK`] bytes of `data`, as far as the host's credit goes;
    /// returns once the device has them.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let want = data.len().min(SEND_CHUNK);
        while self.credit.available() < want.min(MIN_SEND) {
            if !self.poll_input()? {
                self.idle();
            }
        }
        let part = &data[..want.min(self.credit.available())];
        self.console.send_bytes(part).map_err(io_error)?;
        self.credit.spend(part.len());
        self.last_traffic = Instant::now();
        std::thread::yield_now();
        Ok(part.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One end of a [`Channel`] split into a reading and a writing half.
pub struct Half(std::sync::Arc<std::sync::Mutex<Channel>>);

impl Channel {
    /// A reader and a writer over the same port, for code that takes them apart (a
    /// request loop reading lines and writing responses).
    pub fn split(self) -> (Half, Half) {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(self));
        (Half(shared.clone()), Half(shared))
    }
}

impl Half {
    fn with<T>(&self, f: impl FnOnce(&mut Channel) -> io::Result<T>) -> io::Result<T> {
        let mut channel = self
            .0
            .lock()
            .map_err(|_| io::Error::other("virtio-console: a user of the channel panicked"))?;
        f(&mut channel)
    }
}

impl io::Read for Half {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.with(|c| io::Read::read(c, out))
    }
}

impl io::Write for Half {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.with(|c| io::Write::write(c, data))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
