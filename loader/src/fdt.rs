//! The flattened device tree the kernel reads: memory, boot arguments, TSC frequency.

use alloc::vec::Vec;

use crate::multiboot::Region;

pub fn build(
    regions: &[Region],
    bootargs: &str,
    freq_mhz: Option<u16>,
) -> Result<Vec<u8>, vm_fdt::Error> {
    let mut fdt = vm_fdt::FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_string("compatible", "hermit,multiboot")?;

    let mut name = NameBuf::default();
    for r in regions {
        let node = fdt.begin_node(name.memory(r.start))?;
        fdt.property_string("device_type", "memory")?;
        fdt.property_array_u64("reg", &[r.start, r.end - r.start])?;
        fdt.end_node(node)?;
    }

    let chosen = fdt.begin_node("chosen")?;
    fdt.property_string("bootargs", bootargs)?;
    fdt.end_node(chosen)?;

    if let Some(mhz) = freq_mhz {
        let tsc = fdt.begin_node("hermit,tsc")?;
        fdt.property_u32("khz", u32::from(mhz) * 1000)?;
        fdt.end_node(tsc)?;
    }

    fdt.end_node(root)?;
    fdt.finish()
}

/// `memory@HEX` without an allocation per node.
#[derive(Default)]
struct NameBuf([u8; 32]);

impl NameBuf {
    fn memory(&mut self, addr: u64) -> &str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let prefix = b"memory@";
        self.0[..prefix.len()].copy_from_slice(prefix);
        let digits = ((64 - addr.leading_zeros()).div_ceil(4)).max(1) as usize;
        for i in 0..digits {
            self.0[prefix.len() + i] = HEX[((addr >> (4 * (digits - 1 - i))) & 15) as usize];
        }
        core::str::from_utf8(&self.0[..prefix.len() + digits]).unwrap_or("memory")
    }
}
