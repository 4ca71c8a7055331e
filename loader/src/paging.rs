//! The page tables handed to the kernel: identity maps of the loader image (4 KiB pages;
//! it holds boot info, FDT, command line, stack and these tables) and of the kernel
//! image (2 MiB pages). Nothing else: the kernel maps page 0, the EBDA and the BIOS area
//! itself and fails on entries that already exist there.

const PRESENT_WRITABLE: u64 = 0b11;
const HUGE: u64 = 1 << 7;
const PAGE: u64 = 4096;
const LARGE: u64 = 2 << 20;
/// PML4, PDPT, one PD per GiB below 4 GiB, one PT for the first 2 MiB.
const FRAMES: usize = 7;

#[repr(C, align(4096))]
struct Table([u64; 512]);

static mut POOL: [Table; FRAMES] = [const { Table([0; 512]) }; FRAMES];

/// Builds the tables; returns the PML4 address for CR3. `kernel` must be 2 MiB aligned
/// and below 4 GiB; `loader` must lie inside the first 2 MiB.
pub fn build(loader: (u64, u64), kernel: (u64, u64)) -> u64 {
    // SAFETY: called once, before the jump; nothing else touches POOL.
    let pool = unsafe { &mut *core::ptr::addr_of_mut!(POOL) };
    let addr = |t: &Table| t as *const Table as u64;
    let [pml4, pdpt, pd0, pd1, pd2, pd3, pt] = pool;
    let pds = [pd0, pd1, pd2, pd3];
    pml4.0[0] = addr(pdpt) | PRESENT_WRITABLE;
    for (i, pd) in pds.iter().enumerate() {
        pdpt.0[i] = addr(pd) | PRESENT_WRITABLE;
    }
    pds[0].0[0] = addr(pt) | PRESENT_WRITABLE;
    let mut a = loader.0 & !(PAGE - 1);
    while a < loader.1 {
        pt.0[(a / PAGE) as usize] = a | PRESENT_WRITABLE;
        a += PAGE;
    }
    let mut a = kernel.0;
    while a < kernel.1 {
        let gib = (a >> 30) as usize;
        pds[gib].0[((a >> 21) & 511) as usize] = a | PRESENT_WRITABLE | HUGE;
        a += LARGE;
    }
    addr(pml4)
}
