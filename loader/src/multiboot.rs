//! Reading the multiboot v1 information structure that QEMU leaves in memory.

use core::ptr::read_unaligned;

pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
const MAX_REGIONS: usize = 32;

#[derive(Clone, Copy, Debug, Default)]
pub struct Region {
    pub start: u64,
    pub end: u64,
}

/// Available RAM, sorted by start address.
pub struct MemoryMap {
    regions: [Region; MAX_REGIONS],
    count: usize,
}

impl MemoryMap {
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.count]
    }

    fn push(&mut self, r: Region) {
        if r.end > r.start && self.count < MAX_REGIONS {
            self.regions[self.count] = r;
            self.count += 1;
        }
    }

    /// Whether `[start, end)` lies inside one available region.
    pub fn contains(&self, start: u64, end: u64) -> bool {
        self.regions()
            .iter()
            .any(|r| r.start <= start && end <= r.end)
    }

    /// Bytes of RAM at or above `addr`.
    pub fn bytes_above(&self, addr: u64) -> u64 {
        self.regions()
            .iter()
            .map(|r| r.end.saturating_sub(r.start.max(addr)))
            .sum()
    }
}

pub struct Module {
    pub start: u64,
    pub end: u64,
}

pub struct Info {
    addr: u64,
    flags: u32,
}

unsafe fn rd32(addr: u64) -> u32 {
    read_unaligned(addr as *const u32)
}

unsafe fn rd64(addr: u64) -> u64 {
    read_unaligned(addr as *const u64)
}

impl Info {
    /// # Safety
    /// `addr` must be the multiboot information address passed in ebx.
    pub unsafe fn new(addr: u32) -> Self {
        let addr = u64::from(addr);
        Self {
            addr,
            flags: rd32(addr),
        }
    }

    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// The command line, without its terminating NUL.
    pub fn command_line(&self) -> &'static [u8] {
        if self.flags & (1 << 2) == 0 {
            return &[];
        }
        unsafe {
            let p = rd32(self.addr + 16) as usize as *const u8;
            let mut n = 0;
            // QEMU builds this string itself; the bound only guards a corrupt pointer.
            while n < 1 << 20 && *p.add(n) != 0 {
                n += 1;
            }
            core::slice::from_raw_parts(p, n)
        }
    }

    pub fn first_module(&self) -> Option<Module> {
        if self.flags & (1 << 3) == 0 {
            return None;
        }
        unsafe {
            if rd32(self.addr + 20) == 0 {
                return None;
            }
            let m = u64::from(rd32(self.addr + 24));
            let start = u64::from(rd32(m));
            let end = u64::from(rd32(m + 4));
            Some(Module {
                start,
                end: end.max(start),
            })
        }
    }

    /// Available RAM from the memory map, or from mem_lower/mem_upper without one.
    pub fn memory_map(&self) -> MemoryMap {
        let mut map = MemoryMap {
            regions: [Region::default(); MAX_REGIONS],
            count: 0,
        };
        unsafe {
            if self.flags & (1 << 6) != 0 {
                let len = u64::from(rd32(self.addr + 44));
                let base = u64::from(rd32(self.addr + 48));
                let mut off = 0;
                while off + 24 <= len {
                    let size = u64::from(rd32(base + off));
                    let start = rd64(base + off + 4);
                    let length = rd64(base + off + 12);
                    let kind = rd32(base + off + 20);
                    if kind == 1 {
                        map.push(Region {
                            start,
                            end: start.saturating_add(length),
                        });
                    }
                    off += size + 4;
                }
            } else if self.flags & 1 != 0 {
                let lower = u64::from(rd32(self.addr + 4)) * 1024;
                let upper = u64::from(rd32(self.addr + 8)) * 1024;
                map.push(Region {
                    start: 0,
                    end: lower,
                });
                map.push(Region {
                    start: 0x10_0000,
                    end: 0x10_0000 + upper,
                });
            }
        }
        map.regions[..map.count].sort_unstable_by_key(|r| r.start);
        map
    }
}
