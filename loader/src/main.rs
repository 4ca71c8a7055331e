//! gitfs-loader: a multiboot v1 loader for Hermit apps on x86_64 (QEMU `-kernel`).
//!
//! QEMU passes the app ELF as the first module (`-initrd`). The loader places it at the
//! first 2 MiB boundary after itself, builds the FDT, boot info and page tables inside its
//! own image (below the kernel, which only uses RAM above its image) and jumps to it.
//! Command line: see `cmdline`. Errors: one `gitfs-loader: error: ...` line on COM1, then
//! QEMU exits with status 65 through isa-debug-exit.

#![no_std]
#![no_main]

extern crate alloc;

mod cmdline;
mod elfcheck;
mod entry;
mod fdt;
mod heap;
mod multiboot;
mod paging;
mod serial;

use core::arch::asm;
use core::mem::MaybeUninit;
use core::num::{NonZeroU16, NonZeroU64};
use core::panic::PanicInfo;

use hermit_entry::boot_info::{BootInfo, HardwareInfo, PlatformInfo, RawBootInfo};
use hermit_entry::elf::KernelObject;

use serial::{fail, vlog};

pub const LOADER_STACK_SIZE: usize = 64 * 1024;
const KERNEL_STACK_SIZE: usize = 32 * 1024;
const LARGE_PAGE: u64 = 2 << 20;
/// Everything the loader touches lies in the 4 GiB identity map set up at entry.
const BOOT_MAP_END: u64 = 4 << 30;
/// Heap left to the app beyond what the kernel itself demands, so that a too small `-m`
/// is a clear loader error rather than an allocation failure in the app.
const MIN_HEAP: u64 = 32 << 20;

#[repr(C, align(4096))]
pub struct Stack<const N: usize>([u8; N]);

pub static mut LOADER_STACK: Stack<LOADER_STACK_SIZE> = Stack([0; LOADER_STACK_SIZE]);
static mut KERNEL_STACK: Stack<KERNEL_STACK_SIZE> = Stack([0; KERNEL_STACK_SIZE]);
static mut CMDLINE: [u8; cmdline::MAX_LEN] = [0; cmdline::MAX_LEN];
static mut BOOT_INFO: MaybeUninit<RawBootInfo> = MaybeUninit::uninit();

extern "C" {
    static __loader_start: u8;
    static __loader_end: u8;
}

#[no_mangle]
extern "C" fn loader_main(magic: u32, info_addr: u32) -> ! {
    if magic != multiboot::BOOTLOADER_MAGIC {
        fail(format_args!(
            "not started by a multiboot loader (eax = {magic:#x})"
        ));
    }
    let info = unsafe { multiboot::Info::new(info_addr) };

    // Copy the command line first: the kernel image may later overwrite QEMU's copy.
    let raw = info.command_line();
    if raw.len() > cmdline::MAX_LEN {
        fail(format_args!(
            "{}",
            cmdline::CmdlineError::TooLong(raw.len())
        ));
    }
    // SAFETY: single-threaded; the only reference to CMDLINE.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(CMDLINE) };
    buf[..raw.len()].copy_from_slice(raw);
    let opts = cmdline::parse(buf, raw.len()).unwrap_or_else(|e| fail(format_args!("{e}")));
    serial::set_verbose(opts.verbose);
    let kernel_cmdline: &'static str = core::str::from_utf8(&buf[..opts.kernel_len]).unwrap_or("");
    vlog!(
        "command line for the kernel: {kernel_cmdline:?}, freq {:?} MHz",
        opts.freq_mhz
    );

    let mem = info.memory_map();
    for r in mem.regions() {
        vlog!("RAM {:#x}..{:#x}", r.start, r.end);
    }

    let module = info
        .first_module()
        .unwrap_or_else(|| fail(format_args!("no module: pass the Hermit app with -initrd")));
    let (loader_start, loader_end) = (
        core::ptr::addr_of!(__loader_start) as u64,
        core::ptr::addr_of!(__loader_end) as u64,
    );
    vlog!(
        "loader {loader_start:#x}..{loader_end:#x}, module {:#x}..{:#x}",
        module.start,
        module.end
    );
    if module.end > BOOT_MAP_END || module.start < loader_end || module.start % 8 != 0 {
        fail(format_args!(
            "module at {:#x}..{:#x} is outside usable memory",
            module.start, module.end
        ));
    }
    let mut elf_addr = module.start;
    let elf_len = (module.end - module.start) as usize;
    let elf_info = {
        let elf = unsafe { core::slice::from_raw_parts(elf_addr as *const u8, elf_len) };
        elfcheck::check(elf).unwrap_or_else(|e| fail(format_args!("{e}")))
    };

    // Place the image: at its fixed address, or at the first 2 MiB boundary after us.
    let kernel_start = match elf_info.start_addr {
        Some(a) if a % LARGE_PAGE != 0 || a < loader_end => fail(format_args!(
            "the app's fixed load address {a:#x} is not usable (needs 2 MiB alignment above {loader_end:#x})"
        )),
        Some(a) => a,
        None => loader_end.next_multiple_of(LARGE_PAGE),
    };
    let kernel_end = kernel_start + elf_info.mem_size;
    let too_little = |what: core::fmt::Arguments| -> ! {
        let total_mib = mem.regions().iter().map(|r| r.end - r.start).sum::<u64>() >> 20;
        fail(format_args!(
            "too little memory: {what} (app image {} KiB, RAM {total_mib} MiB)",
            elf_info.mem_size >> 10
        ))
    };
    if kernel_end > BOOT_MAP_END || !mem.contains(kernel_start, kernel_end) {
        too_little(format_args!("the app image does not fit in RAM"));
    }
    // Move the module out of the way if the image would overwrite it.
    if module.start < kernel_end && kernel_start < module.end {
        let dst = kernel_end.max(module.start).next_multiple_of(4096);
        if dst + elf_len as u64 > BOOT_MAP_END || !mem.contains(dst, dst + elf_len as u64) {
            too_little(format_args!(
                "no room to move the module above the app image"
            ));
        }
        vlog!("moving module {:#x} -> {dst:#x}", module.start);
        // SAFETY: both ranges are RAM outside the loader; `copy` allows overlap.
        unsafe { core::ptr::copy(elf_addr as *const u8, dst as *mut u8, elf_len) };
        elf_addr = dst;
    }
    // The module's copy counts as free: the kernel reuses it after the load.
    let free = mem.bytes_above(kernel_end);
    let need = kernel_min_free(kernel_end, free) + MIN_HEAP;
    if free < need {
        too_little(format_args!(
            "{} MiB free above the app image, {} MiB needed",
            free >> 20,
            need.div_ceil(1 << 20)
        ));
    }

    let elf = unsafe { core::slice::from_raw_parts(elf_addr as *const u8, elf_len) };
    let object = KernelObject::parse(elf).unwrap_or_else(|e| fail(format_args!("{e}")));
    vlog!("app image {kernel_start:#x}..{kernel_end:#x}");
    // SAFETY: checked above to be RAM, not overlapping the loader or the module.
    let memory = unsafe {
        core::slice::from_raw_parts_mut(
            kernel_start as *mut MaybeUninit<u8>,
            elf_info.mem_size as usize,
        )
    };
    // load_kernel leaves the gaps between segments alone: make them zero, not old module bytes.
    memory.fill(MaybeUninit::new(0));
    let loaded = object.load_kernel(memory, kernel_start);
    vlog!(
        "entry {:#x}, tls {:?}",
        loaded.entry_point,
        loaded.load_info.tls_info
    );

    let fdt = fdt::build(mem.regions(), kernel_cmdline, opts.freq_mhz)
        .unwrap_or_else(|e| fail(format_args!("building the device tree failed: {e:?}")));
    let fdt: &'static [u8] = alloc::vec::Vec::leak(fdt);

    let boot_info = BootInfo {
        hardware_info: HardwareInfo {
            phys_addr_range: 0..0,
            serial_port_base: NonZeroU16::new(0x3F8),
            device_tree: NonZeroU64::new(fdt.as_ptr() as u64),
        },
        load_info: loaded.load_info,
        platform_info: PlatformInfo::Multiboot {
            command_line: Some(kernel_cmdline),
            multiboot_info_addr: NonZeroU64::new(info.addr()).unwrap_or(NonZeroU64::MIN),
        },
    };
    let boot_info_ptr = unsafe {
        let slot = &mut *core::ptr::addr_of_mut!(BOOT_INFO);
        slot.write(RawBootInfo::from(boot_info)) as *const RawBootInfo
    };
    let cr3 = paging::build((loader_start, loader_end), (kernel_start, kernel_end));
    // The kernel takes rsp as the LOWEST address of its stack.
    let stack_low = core::ptr::addr_of!(KERNEL_STACK) as u64;
    vlog!("jumping to the app");
    unsafe {
        asm!(
            "mov cr3, {cr3}",
            "mov rsp, {stack}",
            "jmp {entry}",
            cr3 = in(reg) cr3,
            stack = in(reg) stack_low,
            entry = in(reg) loaded.entry_point,
            in("rdi") boot_info_ptr,
            in("rsi") 0u64,
            options(noreturn)
        )
    }
}

/// Kernel 0.11's own check at boot (`mm::init` panics "Not enough memory available!"):
/// the free RAM it counts (above the image) must cover the image's end address (as it
/// takes RAM to start at `phys_addr_range.start` = 0) plus a page-table reserve and two
/// large pages.
fn kernel_min_free(kernel_end: u64, free: u64) -> u64 {
    let entries = 4096 / 8;
    let pt = free / 4096 / entries + 1;
    let pd = pt / entries + 1;
    let pdpt = pd / entries + 1;
    kernel_end + (pt + pd + pdpt) * 4096 + 2 * LARGE_PAGE
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    fail(format_args!("internal error: {}", info.message()))
}
