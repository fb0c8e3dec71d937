//! PCI configuration through I/O ports 0xCF8/0xCFC (the manifest grants
//! exactly those), and finding the snapshot disk among the virtio block
//! devices by its serial number.

use crate::hal::KernelHal;
use ipc_abi::cap::Slot;
use rt::sys;
use virtio_drivers::device::blk::VirtIOBlk;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::{DeviceType, Transport};

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// Configuration mechanism #1 through a port capability.
pub struct PortCam {
    ports: Slot,
}

impl PortCam {
    pub fn new(ports: Slot) -> PortCam {
        PortCam { ports }
    }

    fn select(&self, df: DeviceFunction, offset: u8) {
        let address = 0x8000_0000
            | (df.bus as u32) << 16
            | (df.device as u32) << 11
            | (df.function as u32) << 8
            | (offset & 0xfc) as u32;
        // The capability covers both registers; a failure here means the
        // manifest granted the wrong ports, found at start (`probe`).
        let _ = sys::io_write(self.ports, CONFIG_ADDRESS, 4, address as u64);
    }
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        self.select(df, offset);
        sys::io_read(self.ports, CONFIG_DATA, 4).map_or(u32::MAX, |v| v as u32)
    }

    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        self.select(df, offset);
        let _ = sys::io_write(self.ports, CONFIG_DATA, 4, data as u64);
    }

    // A copy of the port capability's slot: the ports are reached only
    // through syscalls, one register pair per access.
    #[allow(unsafe_code)]
    unsafe fn unsafe_clone(&self) -> Self {
        PortCam { ports: self.ports }
    }
}

/// Whether the port capability reaches the configuration registers.
pub fn probe(ports: Slot) -> Result<(), String> {
    sys::io_read(ports, CONFIG_DATA, 4)
        .map(|_| ())
        .map_err(|e| {
            format!("no PCI configuration access (capability 1 must be ioports:0xcf8-0xcff): {e:?}")
        })
}

pub type Disk = VirtIOBlk<KernelHal, PciTransport>;

/// The virtio block device on bus 0 whose serial is `serial`, driven;
/// the other virtio block devices found are named in the error.
pub fn find_disk(ports: Slot, serial: &str) -> Result<(Disk, DeviceFunction), String> {
    let mut root = PciRoot::new(PortCam::new(ports));
    let candidates: Vec<DeviceFunction> = root
        .enumerate_bus(0)
        .filter(|(_, info)| {
            virtio_drivers::transport::pci::virtio_device_type(info) == Some(DeviceType::Block)
        })
        .map(|(df, _)| df)
        .collect();
    let mut seen = Vec::new();
    for df in candidates {
        let (_, command) = root.get_status_command(df);
        root.set_command(df, command | Command::MEMORY_SPACE | Command::BUS_MASTER);
        let transport = match PciTransport::new::<KernelHal, _>(&mut root, df) {
            Ok(t) => t,
            Err(e) => {
                seen.push(format!("{df}: {e}"));
                continue;
            }
        };
        if transport.device_type() != DeviceType::Block {
            continue;
        }
        let mut blk = match VirtIOBlk::<KernelHal, _>::new(transport) {
            Ok(b) => b,
            Err(e) => {
                seen.push(format!("{df}: {e}"));
                continue;
            }
        };
        let mut id = [0u8; 20];
        let n = blk.device_id(&mut id).unwrap_or(0);
        let got = String::from_utf8_lossy(&id[..n]).into_owned();
        if got == serial {
            return Ok((blk, df));
        }
        seen.push(format!("{df}: serial {got:?}"));
    }
    Err(format!(
        "no virtio block device with serial {serial:?} (found: {})",
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    ))
}
