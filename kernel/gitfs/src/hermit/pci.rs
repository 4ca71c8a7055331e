//! PCI configuration space through the legacy ports 0xCF8/0xCFC, and a scan for virtio
//! devices on bus 0 and behind PCI-to-PCI bridges.

use std::collections::BTreeSet;

use virtio_drivers::transport::pci::bus::{
    Command, ConfigurationAccess, DeviceFunction, DeviceFunctionInfo, HeaderType, PciRoot,
};
use virtio_drivers::transport::pci::virtio_device_type;
use virtio_drivers::transport::DeviceType;

use super::port::{inl, outl, without_interrupts};

const CONFIG_ADDRESS: u16 = 0xCF8;
const CONFIG_DATA: u16 = 0xCFC;
/// Offset of the bridge's primary/secondary/subordinate bus numbers.
const BRIDGE_BUSES: u8 = 0x18;

/// Configuration mechanism #1: every PC-compatible machine (pc, q35) has it.
pub struct PortCam;

fn address(df: DeviceFunction, offset: u8) -> u32 {
    1 << 31
        | u32::from(df.bus) << 16
        | u32::from(df.device) << 11
        | u32::from(df.function) << 8
        | u32::from(offset & 0xFC)
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        // Interrupts off: a handler touching 0xCF8 between our two accesses would
        // redirect the data access.
        // SAFETY: ports 0xCF8/0xCFC are the PCI configuration mechanism.
        without_interrupts(|| unsafe {
            outl(CONFIG_ADDRESS, address(df, offset));
            inl(CONFIG_DATA)
        })
    }

    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        // SAFETY: as above.
        without_interrupts(|| unsafe {
            outl(CONFIG_ADDRESS, address(df, offset));
            outl(CONFIG_DATA, data);
        })
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}

/// The first virtio device of type `kind`, searching bus 0 then the buses behind bridges.
pub fn find_virtio(
    root: &PciRoot<PortCam>,
    kind: DeviceType,
) -> Option<(DeviceFunction, DeviceFunctionInfo)> {
    let mut pending = vec![0u8];
    let mut seen = BTreeSet::new();
    while let Some(bus) = pending.pop() {
        if !seen.insert(bus) {
            continue; // a misconfigured bridge must not make us loop
        }
        for (df, info) in root.enumerate_bus(bus) {
            if virtio_device_type(&info) == Some(kind) {
                return Some((df, info));
            }
            if info.header_type == HeaderType::PciPciBridge {
                let secondary = (PortCam.read_word(df, BRIDGE_BUSES) >> 8) as u8;
                if secondary != 0 {
                    pending.push(secondary);
                }
            }
        }
    }
    None
}

/// Memory and I/O decoding and bus mastering on; INTx off (we poll).
pub fn enable(root: &mut PciRoot<PortCam>, df: DeviceFunction) {
    let (_, command) = root.get_status_command(df);
    root.set_command(
        df,
        command
            | Command::IO_SPACE
            | Command::MEMORY_SPACE
            | Command::BUS_MASTER
            | Command::INTERRUPT_DISABLE,
    );
}
