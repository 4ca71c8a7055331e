//! `virtio_drivers::Hal` for Hermit: DMA from the std heap, device memory mapped
//! uncached, buffers shared in place when physically contiguous and bounced otherwise.

use core::ptr::NonNull;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::sync::Mutex;

use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

use super::paging::{contiguous_phys, map_uncached};

/// Largest DMA block: heap blocks aligned to their power-of-two size up to 2 MiB never
/// cross a 2 MiB page, so they are physically contiguous.
const MAX_DMA: usize = 2 << 20;

/// A block aligned to its own power-of-two size (at least one page).
fn dma_layout(len: usize) -> Option<Layout> {
    let size = len.max(PAGE_SIZE).checked_next_power_of_two()?;
    if size > MAX_DMA {
        return None;
    }
    Layout::from_size_align(size, size).ok()
}

/// Allocates a zeroed DMA block; (phys, ptr, layout).
fn alloc_dma(len: usize) -> Option<(u64, NonNull<u8>, Layout)> {
    let layout = dma_layout(len)?;
    // SAFETY: the layout has a non-zero size.
    let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
    match contiguous_phys(ptr.as_ptr() as u64, layout.size()) {
        Some(phys) => Some((phys, ptr, layout)),
        None => {
            // SAFETY: allocated just above with this layout.
            unsafe { dealloc(ptr.as_ptr(), layout) };
            None
        }
    }
}

/// Bounce buffers in flight: (device address, bounce block, its layout).
struct Bounce(u64, NonNull<u8>, Layout);
// SAFETY: the pointer is owned by the table entry, used under the mutex only.
unsafe impl Send for Bounce {}
static BOUNCES: Mutex<Vec<Bounce>> = Mutex::new(Vec::new());

pub struct HermitHal;

// SAFETY: DMA blocks are physically contiguous, zeroed and stay allocated until
// dma_dealloc; shared buffers are either used in place (contiguous) or bounced.
unsafe impl Hal for HermitHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match pages.checked_mul(PAGE_SIZE).and_then(alloc_dma) {
            Some((phys, ptr, _)) => (phys, ptr),
            None => (0, NonNull::dangling()), // the driver reports DmaError
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        match dma_layout(pages * PAGE_SIZE) {
            Some(layout) => {
                // SAFETY: allocated by dma_alloc with the same layout.
                unsafe { dealloc(vaddr.as_ptr(), layout) };
                0
            }
            None => -1,
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // The trait gives no way to fail: without page-table frames nothing can run.
        let va = map_uncached(paddr, size).expect("cannot map virtio device memory");
        NonNull::new(va as *mut u8).expect("device memory mapped at address 0")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let len = buffer.len();
        let va = buffer.as_ptr() as *mut u8 as u64;
        if let Some(phys) = contiguous_phys(va, len) {
            return phys;
        }
        let (phys, bounce, layout) = alloc_dma(len).expect("cannot allocate a DMA bounce buffer");
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: both regions are at least `len` bytes and do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(va as *const u8, bounce.as_ptr(), len) };
        }
        if let Ok(mut table) = BOUNCES.lock() {
            table.push(Bounce(phys, bounce, layout));
        }
        phys
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let Ok(mut table) = BOUNCES.lock() else {
            return;
        };
        let Some(i) = table.iter().position(|b| b.0 == paddr) else {
            return;
        };
        let Bounce(_, bounce, layout) = table.swap_remove(i);
        if direction != BufferDirection::DriverToDevice {
            let dst = buffer.as_ptr() as *mut u8;
            // SAFETY: the bounce block holds at least buffer.len() bytes.
            unsafe { core::ptr::copy_nonoverlapping(bounce.as_ptr(), dst, buffer.len()) };
        }
        // SAFETY: allocated by alloc_dma with this layout.
        unsafe { dealloc(bounce.as_ptr(), layout) };
    }
}
