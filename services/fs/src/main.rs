//! The fs service (Linux personality, Rust `std`: the `fatfs` crate needs
//! it): `fs [serial=NAME] [cut-after-writes=N]`.
//!
//! Finds the virtio block device whose serial is NAME (default
//! `jitos-snapshots`, the disk `cargo xtask run` attaches) on PCI bus 0,
//! drives it with `virtio-drivers` (registers and DMA memory through the
//! kernel's device-memory capability, `hal`), mounts its FAT16 volume and
//! serves `ipc_abi::proto::fs` under the name `fs`. Without a usable disk
//! (none, not FAT16, unreadable) it says why once (`fs.unavailable`) and
//! answers every file request `NoVolume`: the system runs without
//! snapshots. `cut-after-writes=N` (tests only) lets the device take N
//! sector writes and then no more, as if the power had gone mid-write.
//!
//! Capabilities (manifest order): 1 `ioports:0xcf8-0xcff` (PCI
//! configuration), 2 `device-memory`.

#![deny(unsafe_code)]

#[allow(unsafe_code)] // slices over a client buffer mapped for one request
mod buffer;
#[allow(unsafe_code)] // the `Hal` contract: raw device and DMA memory
mod hal;
mod pci;
mod serve;

use fs::disk::{SECTOR, Sectors, Stream};
use fs::volume::Volume;
use ipc_abi::log::{Value, write_event};
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

const PCI_PORTS_SLOT: u64 = 1;
const DEVICE_MEMORY_SLOT: u64 = 2;

/// Logs a structured event.
pub fn event(name: &str, fields: &[(&str, Value<'_>)]) {
    let mut line = String::new();
    if write_event(&mut line, name, fields).is_ok() {
        let body = line
            .trim_start_matches(ipc_abi::log::EVENT_PREFIX)
            .trim_end();
        if let Err(e) = rt::sys::log_event(body) {
            eprintln!("fs: event refused ({e:?}): {body}");
        }
    }
}

/// The driven device, shared by the volume's stream and the server
/// (which flushes it after directory changes).
#[derive(Clone)]
pub struct Device(Rc<RefCell<pci::Disk>>);

fn device_error(e: virtio_drivers::Error) -> io::Error {
    io::Error::other(format!("virtio-blk: {e}"))
}

impl Sectors for Device {
    fn sectors(&self) -> u64 {
        self.0.borrow().capacity()
    }
    fn read_sectors(&mut self, first: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0
            .borrow_mut()
            .read_blocks(first as usize, buf)
            .map_err(device_error)
    }
    fn write_sectors(&mut self, first: u64, buf: &[u8]) -> io::Result<()> {
        self.0
            .borrow_mut()
            .write_blocks(first as usize, buf)
            .map_err(device_error)
    }
    fn flush_device(&mut self) -> io::Result<()> {
        match self.0.borrow_mut().flush() {
            // A device without a write cache has nothing to flush.
            Ok(()) | Err(virtio_drivers::Error::Unsupported) => Ok(()),
            Err(e) => Err(device_error(e)),
        }
    }
}

/// Finds, drives and mounts the disk; the error says what is missing.
fn open_volume(serial: &str, cut: Option<u64>) -> Result<(Volume<Device>, Device), String> {
    pci::probe(PCI_PORTS_SLOT)?;
    hal::init(DEVICE_MEMORY_SLOT)?;
    let (blk, at) = pci::find_disk(PCI_PORTS_SLOT, serial)?;
    let dev = Device(Rc::new(RefCell::new(blk)));
    let sectors = dev.sectors();
    let volume = Volume::mount(Stream::new(dev.clone(), cut))?;
    let (free, total) = volume.space().map_err(|(_, m)| m)?;
    event(
        "fs.mount",
        &[
            ("serial", serial.into()),
            ("pci", at.to_string().as_str().into()),
            ("bytes", (sectors * SECTOR as u64).into()),
            ("fat", volume.fat_type().into()),
            ("free_bytes", free.into()),
            ("total_bytes", total.into()),
        ],
    );
    Ok((volume, dev))
}

fn main() {
    let mut serial = ipc_abi::proto::fs::SNAPSHOT_DISK_SERIAL.to_string();
    let mut cut = None;
    for a in std::env::args().skip(1) {
        if let Some(s) = a.strip_prefix("serial=") {
            serial = s.to_string();
        } else if let Some(n) = a
            .strip_prefix("cut-after-writes=")
            .and_then(|n| n.parse().ok())
        {
            cut = Some(n);
        } else {
            eprintln!("fs: unknown argument {a:?} (usage: fs [serial=NAME] [cut-after-writes=N])");
            std::process::exit(2);
        }
    }
    let volume = match open_volume(&serial, cut) {
        Ok(v) => Some(v),
        Err(why) => {
            eprintln!("fs: no snapshot volume: {why}");
            event("fs.unavailable", &[("why", why.as_str().into())]);
            None
        }
    };
    serve::run(volume)
}
