//! The UEFI loader (`BOOTX64.EFI`): reads `\kernel`, `\initrd` and the
//! optional `\cmdline` from the ESP it was started from, validates them,
//! loads the kernel, builds the first page tables, exits boot services and
//! jumps to the kernel with a [`BootInfo`]. Any problem is reported on the
//! serial console and stops the machine; it never jumps into garbage.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod console;
mod handoff;
mod paging;

use alloc::vec::Vec;
use console::fail;
use core::time::Duration;
use ipc_abi::boot::{BootInfo, MAX_CMDLINE, MemoryKind, MemoryRegion, PhysRange};
use ipc_abi::layout::{KERNEL_BASE, PAGE_SIZE};
use ipc_abi::log::Hex;
use kerncore::elf::{self, LoadPlan};
use uefi::boot::{self, AllocateType, MemoryType};
use uefi::fs::FileSystem;
use uefi::mem::memory_map::MemoryMap;
use uefi::prelude::*;
use uefi::table::cfg::ConfigTableEntry;

/// Pages for the kernel's first stack.
const STACK_PAGES: u64 = 16;
/// Pages for the first page tables (enough for 58 GiB of RAM).
const TABLE_POOL_PAGES: u64 = 64;

#[entry]
fn main() -> Status {
    let loader_entry = rdtsc();
    console::init();
    say!("started");
    event!("boot.phase", phase = "loader.entry", tsc = loader_entry);

    let (kernel_file, initrd_file, cmdline) = read_boot_files();
    let plan = match elf::plan(&kernel_file, KERNEL_BASE..u64::MAX) {
        Ok(p) => p,
        Err(e) => fail(
            "bad-kernel",
            format_args!("\\kernel is not a loadable kernel: {e}"),
        ),
    };
    if let Err(e) = initrd::reader::check_header(&initrd_file) {
        fail("bad-initrd", format_args!("\\initrd rejected: {e}"));
    }
    say!(
        "kernel: {} bytes, {} segments, entry {:#x}; initrd: {} bytes",
        kernel_file.len(),
        plan.segments.len(),
        plan.entry,
        initrd_file.len()
    );

    let tsc_hz = calibrate_tsc();
    let acpi_rsdp = find_rsdp();

    let kernel = load_kernel(&kernel_file, &plan);
    let initrd = copy_to_pages(&initrd_file);
    drop(kernel_file);
    drop(initrd_file);

    let boot_info_pages = size_of::<BootInfo>().div_ceil(PAGE_SIZE as usize) as u64;
    let boot_info_addr = alloc_pages(boot_info_pages);
    let stack = alloc_pages(STACK_PAGES);
    let pool = alloc_pages(TABLE_POOL_PAGES);

    // SAFETY: `pool` was just allocated for the tables alone and UEFI keeps
    // memory identity-mapped.
    let mut tables = unsafe { paging::TableBuilder::new(pool, TABLE_POOL_PAGES) }
        .unwrap_or_else(|e| fail("paging", format_args!("{e}")));
    let top = highest_address().max(4 << 30);
    tables
        .map_physical(top)
        .unwrap_or_else(|e| fail("paging", format_args!("{e}")));
    for seg in &plan.segments {
        let range = seg.page_range();
        for virt in range.step_by(PAGE_SIZE as usize) {
            let phys = kernel.start + (virt - kernel_base(&plan));
            tables
                .map_page(virt, phys, seg.writable, seg.executable)
                .unwrap_or_else(|e| fail("paging", format_args!("{e}")));
        }
    }

    let mut reservations = [
        region(kernel.start, kernel.len / PAGE_SIZE, MemoryKind::Kernel),
        region(
            initrd.start,
            initrd.len.div_ceil(PAGE_SIZE),
            MemoryKind::Initrd,
        ),
        region(boot_info_addr, boot_info_pages, MemoryKind::BootReserved),
        region(stack, STACK_PAGES, MemoryKind::BootReserved),
        region(pool, TABLE_POOL_PAGES, MemoryKind::BootReserved),
    ];
    reservations.sort_unstable_by_key(|r| r.start);

    let mut info = BootInfo::empty();
    info.kernel = kernel;
    info.initrd = initrd;
    info.acpi_rsdp = acpi_rsdp;
    info.tsc_hz = tsc_hz;
    info.timestamps.loader_entry = loader_entry;
    let n = cmdline.len().min(MAX_CMDLINE);
    info.cmdline[..n].copy_from_slice(&cmdline[..n]);
    info.cmdline_len = n as u32;
    drop(cmdline);

    say!("exiting boot services; kernel entry {:#x}", plan.entry);
    // SAFETY: nothing the loader holds from here on refers to boot-services
    // memory or protocols: the file system handle and every Vec are gone,
    // and what follows only uses memory the loader allocated for the kernel.
    let map = unsafe { boot::exit_boot_services(None) };
    for d in map.entries() {
        if !info.push_carved(d.phys_start, d.page_count, kind_of(d.ty), &reservations) {
            fail(
                "memory-map",
                format_args!("the firmware's memory map does not fit"),
            );
        }
    }
    info.timestamps.loader_exit = rdtsc();
    event!(
        "boot.phase",
        phase = "loader.exit",
        tsc = info.timestamps.loader_exit,
        regions = info.memory_map_len,
        entry = Hex(plan.entry)
    );
    // SAFETY: the tables map all of physical memory at identity (where this
    // code, the stack and `boot_info_addr` live) and at PHYS_MAP_BASE, and
    // the kernel's segments, loaded and zero-filled above, at their link
    // addresses; `boot_info_addr` has room for a BootInfo.
    unsafe {
        handoff::enter_kernel(
            info,
            boot_info_addr,
            tables.pml4,
            stack,
            STACK_PAGES,
            plan.entry,
        )
    }
}

fn region(start: u64, pages: u64, kind: MemoryKind) -> MemoryRegion {
    MemoryRegion {
        start,
        pages,
        kind,
        _pad: 0,
    }
}

fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects and is available on every x86-64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Reads the boot files, failing with the file's name when one is missing.
fn read_boot_files() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let proto = boot::get_image_file_system(boot::image_handle())
        .unwrap_or_else(|e| fail("no-esp", format_args!("cannot open the boot volume: {e:?}")));
    let mut fs = FileSystem::new(proto);
    let mut read = |name: &uefi::CStr16, required: bool| -> Vec<u8> {
        match fs.read(name) {
            Ok(bytes) => bytes,
            Err(_) if !required => Vec::new(),
            Err(e) => fail(
                "missing-file",
                format_args!("cannot read \\{name} from the boot volume: {e}"),
            ),
        }
    };
    let kernel = read(cstr16!("kernel"), true);
    let initrd = read(cstr16!("initrd"), true);
    let mut cmdline = read(cstr16!("cmdline"), false);
    while cmdline.last().is_some_and(|b| b.is_ascii_whitespace()) {
        cmdline.pop();
    }
    (kernel, initrd, cmdline)
}

fn alloc_pages(pages: u64) -> u64 {
    match boot::allocate_pages(
        AllocateType::AnyPages,
        MemoryType::LOADER_DATA,
        pages as usize,
    ) {
        Ok(p) => p.as_ptr() as u64,
        Err(e) => fail(
            "out-of-memory",
            format_args!("cannot allocate {pages} pages: {e:?}"),
        ),
    }
}

fn kernel_base(plan: &LoadPlan) -> u64 {
    plan.segments
        .iter()
        .map(|s| s.page_range().start)
        .min()
        .unwrap_or(KERNEL_BASE)
}

/// Copies the kernel's segments into one physically contiguous block laid
/// out like the virtual image, zero-filling the gaps and `.bss`.
fn load_kernel(file: &[u8], plan: &LoadPlan) -> PhysRange {
    let base = kernel_base(plan);
    let end = plan
        .segments
        .iter()
        .map(|s| s.page_range().end)
        .max()
        .unwrap_or(base);
    let pages = (end - base) / PAGE_SIZE;
    let phys = alloc_pages(pages);
    // SAFETY: `phys` is a fresh allocation of `pages` pages, identity-mapped.
    let block =
        unsafe { core::slice::from_raw_parts_mut(phys as *mut u8, (pages * PAGE_SIZE) as usize) };
    block.fill(0);
    for s in &plan.segments {
        let at = (s.vaddr - base) as usize;
        block[at..at + s.file_size()].copy_from_slice(&file[s.file_range.0..s.file_range.1]);
    }
    PhysRange {
        start: phys,
        len: pages * PAGE_SIZE,
    }
}

fn copy_to_pages(bytes: &[u8]) -> PhysRange {
    let pages = (bytes.len() as u64).div_ceil(PAGE_SIZE).max(1);
    let phys = alloc_pages(pages);
    // SAFETY: fresh identity-mapped allocation of at least `bytes.len()` bytes.
    let dst = unsafe { core::slice::from_raw_parts_mut(phys as *mut u8, bytes.len()) };
    dst.copy_from_slice(bytes);
    PhysRange {
        start: phys,
        len: bytes.len() as u64,
    }
}

/// Measures the TSC against the firmware's 10 ms stall.
fn calibrate_tsc() -> u64 {
    let t0 = rdtsc();
    boot::stall(Duration::from_millis(10));
    (rdtsc() - t0) * 100
}

fn find_rsdp() -> u64 {
    uefi::system::with_config_table(|tables| {
        tables
            .iter()
            .find(|t| t.guid == ConfigTableEntry::ACPI2_GUID)
            .map_or(0, |t| t.address as u64)
    })
}

fn highest_address() -> u64 {
    match boot::memory_map(MemoryType::LOADER_DATA) {
        Ok(map) => map
            .entries()
            .map(|d| d.phys_start + d.page_count * PAGE_SIZE)
            .max()
            .unwrap_or(0),
        Err(e) => fail(
            "memory-map",
            format_args!("cannot read the memory map: {e:?}"),
        ),
    }
}

fn kind_of(ty: MemoryType) -> MemoryKind {
    match ty {
        MemoryType::CONVENTIONAL
        | MemoryType::BOOT_SERVICES_CODE
        | MemoryType::BOOT_SERVICES_DATA
        | MemoryType::LOADER_CODE
        | MemoryType::LOADER_DATA => MemoryKind::Usable,
        MemoryType::ACPI_RECLAIM => MemoryKind::AcpiReclaimable,
        MemoryType::ACPI_NON_VOLATILE => MemoryKind::AcpiNvs,
        MemoryType::UNUSABLE => MemoryKind::Unusable,
        MemoryType::MMIO | MemoryType::MMIO_PORT_SPACE => MemoryKind::Mmio,
        _ => MemoryKind::Reserved,
    }
}
