//! x86 port I/O and interrupt masking (the application runs in ring 0).

use core::arch::asm;

pub unsafe fn outl(port: u16, value: u32) {
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

pub unsafe fn inl(port: u16) -> u32 {
    let value: u32;
    unsafe {
        asm!("in eax, dx", out("eax") value, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Runs `f` with interrupts disabled, restoring the previous interrupt flag.
pub fn without_interrupts<T>(f: impl FnOnce() -> T) -> T {
    let flags: u64;
    // SAFETY: saving RFLAGS and clearing IF is allowed in ring 0.
    unsafe { asm!("pushfq", "pop {}", "cli", out(reg) flags, options(nomem)) };
    let result = f();
    if flags & (1 << 9) != 0 {
        // SAFETY: interrupts were enabled before; re-enabling restores that state.
        unsafe { asm!("sti", options(nomem, nostack)) };
    }
    result
}
