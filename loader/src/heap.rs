//! Bump allocator over a static arena (the FDT builder is the only user). Everything
//! it hands out stays valid after the jump: the arena lies in the loader image, below
//! the kernel, and is identity-mapped for the kernel.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;

const ARENA_SIZE: usize = 128 * 1024;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

struct Bump {
    arena: Arena,
    next: UnsafeCell<usize>,
}

// Single CPU, no interrupts: no concurrent access.
unsafe impl Sync for Bump {}

#[global_allocator]
static HEAP: Bump = Bump {
    arena: Arena(UnsafeCell::new([0; ARENA_SIZE])),
    next: UnsafeCell::new(0),
};

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.arena.0.get() as usize;
        let next = &mut *self.next.get();
        let start = (base + *next).next_multiple_of(layout.align());
        let Some(end) = start.checked_add(layout.size()) else {
            return null_mut();
        };
        if end > base + ARENA_SIZE {
            return null_mut();
        }
        *next = end - base;
        start as *mut u8
    }

    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}
