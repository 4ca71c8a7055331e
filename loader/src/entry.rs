//! Multiboot v1 header and the 32-bit entry: long-mode check, temporary identity map of
//! the first 4 GiB (2 MiB pages), PAE + EFER.LME + paging, 64-bit GDT, far return.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .multiboot_header, "a"
    .balign 4
    .long 0x1BADB002
    .long 0x00000003 /* page-align modules, memory info */
    .long -(0x1BADB002 + 0x00000003)

    .section .text.entry32, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    mov [{mb_magic}], eax
    mov [{mb_info}], ebx

    /* QEMU loads only the file-backed part: zero .bss (holds stack and page tables). */
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    xor eax, eax
    rep stosb
    mov esp, offset {stack} + {stack_size}

    /* Long mode available? */
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb 3f
    mov eax, 0x80000001
    cpuid
    test edx, 0x20000000
    jz 3f

    /* PML4[0] -> PDPT, PDPT[0..4] -> 4 PDs of 2 MiB pages: identity map of 0..4 GiB. */
    mov eax, offset {pdpt}
    or eax, 3
    mov [{pml4}], eax
    mov ecx, 0
    mov eax, offset {pd}
    or eax, 3
2:
    mov [{pdpt} + ecx * 8], eax
    add eax, 4096
    inc ecx
    cmp ecx, 4
    jb 2b
    mov ecx, 0
    mov eax, 0x83
    mov edx, 0
4:
    mov [{pd} + ecx * 8], eax
    mov [{pd} + ecx * 8 + 4], edx
    add eax, 0x200000
    adc edx, 0
    inc ecx
    cmp ecx, 2048
    jb 4b

    mov eax, offset {pml4}
    mov cr3, eax
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80000001
    mov cr0, eax

    lgdt [gitfs_gdt_ptr]
    /* `push offset sym` assembles as a 16-bit push here: go through a register. */
    push 0x08
    mov eax, offset gitfs_long_mode
    push eax
    retf

3:  /* No long mode: report on COM1, exit QEMU through isa-debug-exit, else halt. */
    mov esi, offset {no_lm_msg}
6:
    mov al, [esi]
    test al, al
    jz 8f
    mov ah, al
7:
    mov dx, 0x3FD
    in al, dx
    test al, 0x20
    jz 7b
    mov al, ah
    mov dx, 0x3F8
    out dx, al
    inc esi
    jmp 6b
8:
    mov eax, 32
    out 0xf4, eax
9:
    hlt
    jmp 9b

    .code64
gitfs_long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, offset {stack} + {stack_size}
    mov edi, [{mb_magic}]
    mov esi, [{mb_info}]
    call {main}
    ud2

    .section .rodata.gdt, "a"
    .balign 16
gitfs_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
gitfs_gdt_ptr:
    .word 23
    .long gitfs_gdt
    .long 0
    .code64
"#,
    mb_magic = sym MB_MAGIC,
    mb_info = sym MB_INFO,
    stack = sym crate::LOADER_STACK,
    stack_size = const crate::LOADER_STACK_SIZE,
    pml4 = sym BOOT_PML4,
    pdpt = sym BOOT_PDPT,
    pd = sym BOOT_PD,
    no_lm_msg = sym NO_LONG_MODE_MSG,
    main = sym crate::loader_main,
);

/// Multiboot magic (eax) and info address (ebx) saved at entry; in .data so the
/// .bss clearing that follows keeps them.
#[link_section = ".data.multiboot"]
pub static mut MB_MAGIC: u32 = 0;
#[link_section = ".data.multiboot"]
pub static mut MB_INFO: u32 = 0;

#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

static mut BOOT_PML4: Table = Table([0; 512]);
static mut BOOT_PDPT: Table = Table([0; 512]);
static mut BOOT_PD: [Table; 4] = [const { Table([0; 512]) }; 4];

static NO_LONG_MODE_MSG: [u8; 59] =
    *b"gitfs-loader: error: the CPU does not support 64-bit mode\n\0";
