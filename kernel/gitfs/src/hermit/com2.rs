//! The second serial port (COM2, I/O 0x2F8), written directly by the application.
//!
//! Hermit 0.11 drives only COM1 (stdout), where 0x08 and 0x7F become `08 20 08`. COM2 is
//! never touched by the kernel, so bytes written here arrive exactly as written (QEMU
//! `-serial stdio -serial file:X` or a socket). Polled, interrupts off at the device.

use core::arch::asm;

const BASE: u16 = 0x2F8;
const DATA: u16 = BASE;
const IER: u16 = BASE + 1;
const FCR: u16 = BASE + 2;
const LCR: u16 = BASE + 3;
const MCR: u16 = BASE + 4;
const LSR: u16 = BASE + 5;
const SCRATCH: u16 = BASE + 7;
/// Line status: the transmit holding register (and FIFO) is empty.
const LSR_THRE: u8 = 0x20;
/// Bytes a 16550A transmit FIFO holds.
const FIFO_LEN: usize = 16;

unsafe fn outb(port: u16, value: u8) {
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    value
}

/// COM2 is absent (QEMU was given a single `-serial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoCom2;

impl core::fmt::Display for NoCom2 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("no UART at 0x2f8 (give QEMU a second -serial)")
    }
}

/// An initialised COM2: 8N1, FIFOs on, no interrupts.
pub struct Com2(());

impl Com2 {
    /// Probes and initialises the port. An absent port reads 0xFF everywhere (THRE
    /// always set), so writes would "succeed" into nothing: the scratch register tells.
    pub fn open() -> Result<Com2, NoCom2> {
        // SAFETY: ring 0; these ports belong to COM2, which nothing else uses.
        unsafe {
            for probe in [0x5A, 0xA5] {
                outb(SCRATCH, probe);
                if inb(SCRATCH) != probe {
                    return Err(NoCom2);
                }
            }
            outb(IER, 0x00);
            outb(LCR, 0x80); // divisor latch
            outb(DATA, 0x01); // 115200 baud (QEMU ignores the rate)
            outb(IER, 0x00);
            outb(LCR, 0x03); // 8N1
            outb(FCR, 0xC7); // enable and clear FIFOs
            outb(MCR, 0x03); // DTR, RTS; OUT2 off: no interrupt line
        }
        Ok(Com2(()))
    }

    fn wait_thre() {
        // SAFETY: reading COM2's line status has no side effect on other devices.
        while unsafe { inb(LSR) } & LSR_THRE == 0 {
            core::hint::spin_loop();
        }
    }

    /// One line-status poll per byte (what Hermit does on COM1).
    pub fn write_polled(&mut self, data: &[u8]) {
        for &b in data {
            Self::wait_thre();
            // SAFETY: the holding register is empty.
            unsafe { outb(DATA, b) };
        }
    }

    /// One poll per 16 bytes: an empty THR means the whole FIFO is free.
    pub fn write_fifo(&mut self, data: &[u8]) {
        for chunk in data.chunks(FIFO_LEN) {
            Self::wait_thre();
            for &b in chunk {
                // SAFETY: the FIFO was empty and takes FIFO_LEN bytes.
                unsafe { outb(DATA, b) };
            }
        }
    }
}
