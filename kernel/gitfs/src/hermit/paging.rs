//! Reads the live x86_64 page tables (4 levels) and maps device memory uncached.
//!
//! Kernel 0.11 maps RAM, including every page-table frame, at virtual == physical, so
//! a table's physical address is also a usable pointer.

use core::arch::asm;
use std::alloc::{alloc_zeroed, Layout};
use std::sync::Mutex;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const WRITE_THROUGH: u64 = 1 << 3;
const NO_CACHE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
pub const PAGE: u64 = 4096;

fn pml4() -> *mut u64 {
    let cr3: u64;
    // SAFETY: reading CR3 is allowed in ring 0 and has no side effect.
    unsafe { asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags)) };
    (cr3 & ADDR_MASK) as *mut u64
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 511) as usize
}

/// Physical address of `va`, honouring 1 GiB and 2 MiB pages; `None` if unmapped.
pub fn virt_to_phys(va: u64) -> Option<u64> {
    let mut table = pml4();
    for level in (0..4).rev() {
        // SAFETY: `table` is a live page table, identity-mapped by the kernel.
        let entry = unsafe { table.add(index(va, level)).read_volatile() };
        if entry & PRESENT == 0 {
            return None;
        }
        let is_leaf = level == 0 || (level < 3 && entry & HUGE != 0);
        if is_leaf {
            let page_size = 1u64 << (12 + 9 * level);
            let base = entry & ADDR_MASK & !(page_size - 1);
            return Some(base + (va & (page_size - 1)));
        }
        table = (entry & ADDR_MASK) as *mut u64;
    }
    None
}

/// Physical address of `len` bytes at `va` if they are physically contiguous.
pub fn contiguous_phys(va: u64, len: usize) -> Option<u64> {
    let start = virt_to_phys(va)?;
    let end = va.checked_add(len.max(1) as u64 - 1)?;
    let mut page = va & !(PAGE - 1);
    while page <= end {
        let expect = start + (page.max(va) - va);
        if virt_to_phys(page.max(va))? != expect {
            return None;
        }
        page += PAGE;
    }
    Some(start)
}

/// Next free virtual address in our upper-half PML4 slot (0 before the first mapping).
static NEXT_MMIO: Mutex<u64> = Mutex::new(0);

/// A zeroed, 4 KiB-aligned frame for a new page table, and its physical address.
fn new_table() -> Option<u64> {
    let layout = Layout::from_size_align(PAGE as usize, PAGE as usize).ok()?;
    // SAFETY: non-zero size; the frame is never freed (page tables live forever).
    let ptr = unsafe { alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    virt_to_phys(ptr as u64)
}

/// Maps `size` bytes of device memory at `phys` with 4 KiB pages, present | writable |
/// PCD | PWT (uncached under the default PAT), in a PML4 slot of the upper half that
/// the kernel does not use. Returns the virtual address of `phys`.
pub fn map_uncached(phys: u64, size: usize) -> Option<u64> {
    let mut next = NEXT_MMIO.lock().ok()?;
    let root = pml4();
    if *next == 0 {
        // SAFETY: the PML4 is live and identity-mapped.
        let slot = (256..512).find(|&i| unsafe { root.add(i).read_volatile() } & PRESENT == 0)?;
        *next = 0xFFFF_0000_0000_0000 | (slot as u64) << 39;
    }
    let first = phys & !(PAGE - 1);
    let last = phys.checked_add(size.max(1) as u64 - 1)? & !(PAGE - 1);
    let pages = (last - first) / PAGE + 1;
    let base = *next;
    if index(base, 3) != index(base + pages * PAGE - 1, 3) {
        return None; // the slot (512 GiB) is full
    }
    for i in 0..pages {
        let va = base + i * PAGE;
        let mut table = root;
        for level in (1..4).rev() {
            // SAFETY: live, identity-mapped tables; new ones come zeroed from new_table.
            unsafe {
                let entry = table.add(index(va, level));
                if entry.read_volatile() & PRESENT == 0 {
                    entry.write_volatile(new_table()? | PRESENT | WRITABLE);
                }
                table = (entry.read_volatile() & ADDR_MASK) as *mut u64;
            }
        }
        let flags = PRESENT | WRITABLE | WRITE_THROUGH | NO_CACHE;
        // SAFETY: `table` is our own page table for `va`; then flush its TLB entry.
        unsafe {
            table
                .add(index(va, 0))
                .write_volatile((first + i * PAGE) | flags);
            asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags));
        }
    }
    *next = base + pages * PAGE;
    Some(base + (phys - first))
}
