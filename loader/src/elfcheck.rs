//! Checks the module before `hermit_entry::elf::KernelObject::parse`, which panics on
//! garbage: every slice, cast and assertion that `parse` and `load_kernel` make on the
//! file is checked here first and turned into an error.

use core::fmt;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_NOTE: u32 = 4;
const PT_PHDR: u32 = 6;
const PF_X: u32 = 1;
const SHT_DYNSYM: u32 = 11;
const DT_NEEDED: u64 = 1;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_RELACOUNT: u64 = 0x6fff_fff9;
const DT_RELCOUNT: u64 = 0x6fff_fffa;
const R_X86_64_64: u32 = 1;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_RELATIVE: u32 = 8;
const NT_HERMIT_ENTRY_VERSION: u32 = 0x5a00;
const HERMIT_ENTRY_VERSION: u8 = 4;

#[derive(Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    Truncated(&'static str),
    Elf32,
    BigEndian,
    WrongMachine(u16),
    ObjectFile,
    NotExecutable(u16),
    Malformed(&'static str),
    NotHermit(&'static str),
    EntryVersion(u8),
    Dynamic,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf => write!(f, "the module is not an ELF file (no ELF magic)"),
            Self::Truncated(what) => write!(f, "the module ELF is truncated: {what} past the end of the file"),
            Self::Elf32 => write!(f, "the module is a 32-bit ELF; a 64-bit Hermit app is needed"),
            Self::BigEndian => write!(f, "the module ELF is big-endian; a little-endian x86_64 Hermit app is needed"),
            Self::WrongMachine(m) => write!(f, "the module ELF is for machine {m}, not x86_64 (62)"),
            Self::ObjectFile => write!(f, "the module is an object file (ET_REL), not an executable Hermit app"),
            Self::NotExecutable(t) => write!(f, "the module ELF type {t} is not an executable or PIE Hermit app"),
            Self::Malformed(what) => write!(f, "the module ELF is malformed: {what}"),
            Self::NotHermit(what) => write!(f, "the module is not a Hermit app: {what}"),
            Self::EntryVersion(v) => write!(f, "the module uses Hermit entry version {v}, this loader supports {HERMIT_ENTRY_VERSION}"),
            Self::Dynamic => write!(f, "the module is linked against dynamic libraries"),
        }
    }
}

/// What the loader needs to place the image.
#[derive(Debug, PartialEq, Eq)]
pub struct ElfInfo {
    /// Bytes from the first PT_LOAD's start to the last one's end.
    pub mem_size: u64,
    /// Fixed load address (ET_EXEC) or None for a PIE.
    pub start_addr: Option<u64>,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap_or([0; 4]))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap_or([0; 8]))
}

/// `[off, off + len)` inside a file of `file_len` bytes.
fn within(off: u64, len: u64, file_len: usize) -> bool {
    off.checked_add(len)
        .is_some_and(|end| end <= file_len as u64)
}

struct Phdr {
    ty: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

fn phdr(elf: &[u8], phoff: usize, i: usize) -> Phdr {
    let p = phoff + i * 56;
    Phdr {
        ty: u32_at(elf, p),
        flags: u32_at(elf, p + 4),
        offset: u64_at(elf, p + 8),
        vaddr: u64_at(elf, p + 16),
        filesz: u64_at(elf, p + 32),
        memsz: u64_at(elf, p + 40),
        align: u64_at(elf, p + 48),
    }
}

/// `elf` must start at an 8-byte aligned address (hermit-entry casts it in place).
pub fn check(elf: &[u8]) -> Result<ElfInfo, ElfError> {
    if elf.len() < 4 || elf[..4] != *b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if elf.len() < 5 {
        return Err(ElfError::Truncated("the ELF header reaches"));
    }
    match elf[4] {
        1 => return Err(ElfError::Elf32),
        2 => {}
        _ => return Err(ElfError::Malformed("unknown ELF class")),
    }
    if elf.len() < 64 {
        return Err(ElfError::Truncated("the ELF header reaches"));
    }
    if elf[5] != 1 {
        return Err(ElfError::BigEndian);
    }
    match u16_at(elf, 16) {
        2 | 3 => {}
        1 => return Err(ElfError::ObjectFile),
        t => return Err(ElfError::NotExecutable(t)),
    }
    let machine = u16_at(elf, 18);
    if machine != 62 {
        return Err(ElfError::WrongMachine(machine));
    }
    let relocatable = u16_at(elf, 16) == 3;
    let phoff = u64_at(elf, 32);
    let shoff = u64_at(elf, 40);
    let phentsize = u16_at(elf, 54);
    let phnum = u64::from(u16_at(elf, 56));
    let shentsize = u16_at(elf, 58);
    let shnum = u64::from(u16_at(elf, 60));

    if phnum == 0 {
        return Err(ElfError::NotHermit("no program headers"));
    }
    if phentsize != 56 || phoff % 8 != 0 {
        return Err(ElfError::Malformed("program header table"));
    }
    if !within(phoff, phnum * 56, elf.len()) {
        return Err(ElfError::Truncated("the program headers reach"));
    }
    if shnum != 0 && shentsize != 64 || shoff % 8 != 0 {
        return Err(ElfError::Malformed("section header table"));
    }
    if !within(shoff, shnum * 64, elf.len()) {
        return Err(ElfError::Truncated("the section headers reach"));
    }
    let phoff = phoff as usize;
    let shoff = shoff as usize;
    let phs = || (0..phnum as usize).map(|i| phdr(elf, phoff, i));
    // The app reads its own headers at run time through PT_PHDR: a count that
    // disagrees with it (a corrupt e_phnum) makes it walk garbage.
    if let Some(p) = phs().find(|p| p.ty == PT_PHDR) {
        if p.offset != phoff as u64 || p.filesz != phnum * 56 {
            return Err(ElfError::Malformed(
                "PT_PHDR does not match the program header table",
            ));
        }
    }

    // Load segments: hermit-entry copies each into [vaddr - first.vaddr, + memsz).
    let first = phs()
        .find(|p| p.ty == PT_LOAD)
        .ok_or(ElfError::NotHermit("no PT_LOAD segment"))?;
    let last = phs()
        .filter(|p| p.ty == PT_LOAD)
        .last()
        .ok_or(ElfError::NotHermit("no PT_LOAD segment"))?;
    let load_start = first.vaddr;
    let load_end = last
        .vaddr
        .checked_add(last.memsz)
        .filter(|&e| e > load_start)
        .ok_or(ElfError::Malformed("PT_LOAD segments out of order"))?;
    let mem_size = load_end - load_start;
    if mem_size > 1 << 32 {
        return Err(ElfError::Malformed("image larger than 4 GiB"));
    }
    for p in phs().filter(|p| p.ty == PT_LOAD) {
        if p.filesz > p.memsz {
            return Err(ElfError::Malformed("PT_LOAD file size above memory size"));
        }
        if p.vaddr < load_start || p.vaddr.checked_add(p.memsz).is_none_or(|e| e > load_end) {
            return Err(ElfError::Malformed("PT_LOAD segments out of order"));
        }
        if !within(p.offset, p.filesz, elf.len()) {
            return Err(ElfError::Truncated("a PT_LOAD segment reaches"));
        }
    }

    let entry = u64_at(elf, 24);
    let in_text = |p: &Phdr| {
        p.ty == PT_LOAD && p.flags & PF_X != 0 && entry >= p.vaddr && entry - p.vaddr < p.memsz
    };
    if !phs().any(|p| in_text(&p)) {
        return Err(ElfError::Malformed(
            "entry point outside the executable segments",
        ));
    }

    check_notes(elf, phs().find(|p| p.ty == PT_NOTE))?;

    // Dynamic section: hermit-entry rejects DT_NEEDED, asserts DT_RELCOUNT == 0 and
    // slices the RELA table at the file offset of DT_RELA.
    let mut rela = 0u64;
    let mut relasz = 0u64;
    let (mut has_rela, mut has_relasz) = (false, false);
    let mut relacount = 0u64;
    if let Some(d) = phs().find(|p| p.ty == PT_DYNAMIC) {
        if !within(d.offset, d.filesz, elf.len()) {
            return Err(ElfError::Truncated("the dynamic section reaches"));
        }
        if d.offset % 8 != 0 {
            return Err(ElfError::Malformed("misaligned dynamic section"));
        }
        for i in 0..(d.filesz / 16) as usize {
            let e = d.offset as usize + i * 16;
            let (tag, val) = (u64_at(elf, e), u64_at(elf, e + 8));
            match tag {
                DT_NEEDED => return Err(ElfError::Dynamic),
                DT_RELA => {
                    has_rela = true;
                    rela = vm_to_offset(elf, phoff, phnum as usize, val)
                        .ok_or(ElfError::Malformed("DT_RELA outside the loaded segments"))?;
                }
                DT_RELASZ => {
                    has_relasz = true;
                    relasz = val;
                }
                DT_RELAENT if val != 24 => return Err(ElfError::Malformed("DT_RELAENT is not 24")),
                DT_RELACOUNT => relacount = val,
                DT_RELCOUNT if val != 0 => {
                    return Err(ElfError::Malformed(
                        "REL relocations (DT_RELCOUNT) are not supported",
                    ))
                }
                _ => {}
            }
        }
    }
    // A lost or damaged tag would silently skip relocations and crash the app later.
    if has_rela != has_relasz || relasz % 24 != 0 || relacount > relasz / 24 {
        return Err(ElfError::Malformed(
            "inconsistent relocation entries in the dynamic section",
        ));
    }
    if !within(rela, relasz, elf.len()) {
        return Err(ElfError::Truncated("the relocation table reaches"));
    }
    if rela % 8 != 0 {
        return Err(ElfError::Malformed("misaligned relocation table"));
    }

    let mut dynsym_count = 0u64;
    if let Some(sh) = (0..shnum as usize)
        .map(|i| shoff + i * 64)
        .find(|&s| u32_at(elf, s + 4) == SHT_DYNSYM)
    {
        let (off, size) = (u64_at(elf, sh + 24), u64_at(elf, sh + 32));
        if !within(off, size, elf.len()) {
            return Err(ElfError::Truncated("the dynamic symbol table reaches"));
        }
        if off % 8 != 0 {
            return Err(ElfError::Malformed("misaligned dynamic symbol table"));
        }
        dynsym_count = size / 24;
    }

    if relocatable {
        for i in 0..(relasz / 24) as usize {
            let r = rela as usize + i * 24;
            let (offset, info, addend) = (u64_at(elf, r), u64_at(elf, r + 8), u64_at(elf, r + 16));
            let (ty, sym) = ((info & 0xffff_ffff) as u32, info >> 32);
            if offset.checked_add(8).is_none_or(|e| e > mem_size) {
                return Err(ElfError::Malformed("relocation outside the image"));
            }
            match ty {
                R_X86_64_RELATIVE => {}
                R_X86_64_64 | R_X86_64_GLOB_DAT if sym < dynsym_count => {
                    if ty == R_X86_64_GLOB_DAT && addend != 0 {
                        return Err(ElfError::Malformed("GLOB_DAT relocation with an addend"));
                    }
                }
                R_X86_64_64 | R_X86_64_GLOB_DAT => {
                    return Err(ElfError::Malformed("relocation symbol out of range"))
                }
                _ => return Err(ElfError::Malformed("unsupported relocation type")),
            }
        }
    }

    Ok(ElfInfo {
        mem_size,
        start_addr: (!relocatable).then_some(load_start),
    })
}

/// Same translation as goblin's: the first PT_LOAD whose memory holds `addr`.
fn vm_to_offset(elf: &[u8], phoff: usize, phnum: usize, addr: u64) -> Option<u64> {
    (0..phnum)
        .map(|i| phdr(elf, phoff, i))
        .find(|p| p.ty == PT_LOAD && addr >= p.vaddr && addr - p.vaddr < p.memsz)
        .and_then(|p| p.offset.checked_add(addr - p.vaddr))
}

/// Walks the notes exactly as hermit-entry's iterator does, checking every step.
fn check_notes(elf: &[u8], note: Option<Phdr>) -> Result<(), ElfError> {
    let note = note.ok_or(ElfError::NotHermit("no PT_NOTE segment"))?;
    if !within(note.offset, note.filesz, elf.len()) {
        return Err(ElfError::Truncated("the note segment reaches"));
    }
    if !matches!(note.align, 1 | 2 | 4 | 8) {
        return Err(ElfError::Malformed("note alignment"));
    }
    let align = note.align as usize;
    let mut bytes = &elf[note.offset as usize..][..note.filesz as usize];
    let mut found = None;
    // The iterator stops at the first header that is short or not 4-byte aligned.
    while bytes.len() >= 12 && bytes.as_ptr() as usize % 4 == 0 {
        let (namesz, descsz, ty) = (
            u32_at(bytes, 0) as usize,
            u32_at(bytes, 4) as usize,
            u32_at(bytes, 8),
        );
        if namesz == 0 || 12 + namesz > bytes.len() {
            return Err(ElfError::Malformed("note name"));
        }
        let name = core::str::from_utf8(&bytes[12..12 + namesz - 1])
            .map_err(|_| ElfError::Malformed("note name"))?;
        let desc_off = (12 + namesz).next_multiple_of(align);
        if desc_off.checked_add(descsz).is_none_or(|e| e > bytes.len()) {
            return Err(ElfError::Truncated("a note reaches"));
        }
        if found.is_none() && name == "HERMIT" && ty == NT_HERMIT_ENTRY_VERSION {
            found = Some(if descsz == 0 {
                None
            } else {
                Some(bytes[desc_off])
            });
        }
        let next = (desc_off + descsz).next_multiple_of(align);
        if next > bytes.len() {
            // hermit-entry's iterator would slice past the end here.
            return Err(ElfError::Malformed("note padding"));
        }
        bytes = &bytes[next..];
    }
    match found {
        None => Err(ElfError::NotHermit("no HERMIT entry-version note")),
        Some(None) => Err(ElfError::Malformed("empty HERMIT note")),
        Some(Some(v)) if v != HERMIT_ENTRY_VERSION => Err(ElfError::EntryVersion(v)),
        Some(Some(_)) => Ok(()),
    }
}
