//! The global physical frame allocator: `kerncore`'s bitmap, filled from the
//! loader's memory map, its storage carved out of the first usable region
//! large enough.

use super::phys_to_virt;
use ipc_abi::boot::{BootInfo, MAX_MEMORY_REGIONS, MemoryKind, MemoryRegion};
use ipc_abi::layout::PAGE_SIZE;
use kerncore::frames::{FrameBitmap, FreeError};
use spin::Mutex;

static FRAMES: Mutex<Option<FrameBitmap<'static>>> = Mutex::new(None);

/// The boot memory map, kept to tell device memory from RAM.
static MAP: Mutex<([MemoryRegion; MAX_MEMORY_REGIONS], usize)> =
    Mutex::new(([MemoryRegion::EMPTY; MAX_MEMORY_REGIONS], 0));

#[derive(Clone, Copy, Debug)]
pub struct FrameStats {
    pub total: u64,
    pub free: u64,
}

/// Builds the allocator from the memory map. Fails when no usable region
/// can hold the bitmap.
pub fn init(info: &BootInfo) -> Result<FrameStats, &'static str> {
    let map = info.memory_map();
    let top = map
        .iter()
        .filter(|r| r.kind == MemoryKind::Usable)
        .map(|r| r.end())
        .max()
        .ok_or("no usable memory in the memory map")?;
    let frames = top / PAGE_SIZE;
    let words = FrameBitmap::words_for(frames);
    let bytes = (words * 8) as u64;
    let home = map
        .iter()
        .find(|r| r.kind == MemoryKind::Usable && r.pages * PAGE_SIZE >= bytes && r.start != 0)
        .ok_or("no usable region can hold the frame bitmap")?;
    // SAFETY: `home` is usable RAM that nothing else owns yet (the loader's
    // reservations are not `Usable`), it is mapped by the direct map, and it
    // is reserved in the bitmap below so it is never handed out.
    let storage =
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(home.start) as *mut u64, words) };
    let mut bitmap = FrameBitmap::new(storage, frames);
    for r in map.iter().filter(|r| r.kind == MemoryKind::Usable) {
        bitmap.release_range(r.start / PAGE_SIZE, r.pages);
    }
    bitmap.reserve_range(home.start / PAGE_SIZE, bytes.div_ceil(PAGE_SIZE));
    // Frame 0 stays out: a zero physical address doubles as "none".
    bitmap.reserve_range(0, 1);
    let stats = FrameStats {
        total: frames,
        free: bitmap.free_count(),
    };
    *FRAMES.lock() = Some(bitmap);
    let mut kept = MAP.lock();
    kept.0[..map.len()].copy_from_slice(map);
    kept.1 = map.len();
    Ok(stats)
}

/// A zeroed frame's physical address.
pub fn alloc_zeroed() -> Option<u64> {
    let frame = FRAMES.lock().as_mut()?.alloc()?;
    let phys = frame * PAGE_SIZE;
    // SAFETY: the frame was free, so nothing else refers to it, and the
    // direct map covers all RAM.
    unsafe { core::ptr::write_bytes(phys_to_virt(phys) as *mut u8, 0, PAGE_SIZE as usize) };
    Some(phys)
}

/// `pages` zeroed frames in a row; the first one's physical address.
pub fn alloc_contiguous_zeroed(pages: u64) -> Option<u64> {
    let first = FRAMES.lock().as_mut()?.alloc_contiguous(pages)?;
    let phys = first * PAGE_SIZE;
    // SAFETY: the frames were free, so nothing else refers to them, and
    // the direct map covers all RAM.
    unsafe {
        core::ptr::write_bytes(
            phys_to_virt(phys) as *mut u8,
            0,
            (pages * PAGE_SIZE) as usize,
        )
    };
    Some(phys)
}

/// Whether `[start, end)` is device memory: below the CPU's physical
/// address limit, overlapping no region of the boot memory map other
/// than one the firmware called memory-mapped I/O, and none of the
/// interrupt controllers the kernel drives itself (the local APIC, the
/// I/O APIC). RAM (usable, the kernel's, firmware runtime, ACPI) never
/// qualifies.
pub fn is_device_range(start: u64, end: u64) -> bool {
    let kernels = [
        crate::arch::apic::phys_base(),
        crate::arch::ioapic::IOAPIC_PHYS,
    ];
    if kernels
        .iter()
        .any(|&page| page < end && start < page + PAGE_SIZE)
    {
        return false;
    }
    let kept = MAP.lock();
    start < end
        && end <= crate::arch::physical_address_limit()
        && kept.0[..kept.1]
            .iter()
            .all(|r| r.kind == MemoryKind::Mmio || r.end() <= start || r.start >= end)
}

pub fn free(phys: u64) -> Result<(), FreeError> {
    match FRAMES.lock().as_mut() {
        Some(b) => b.free(phys / PAGE_SIZE),
        None => Err(FreeError::OutOfRange(phys / PAGE_SIZE)),
    }
}

pub fn stats() -> FrameStats {
    match FRAMES.lock().as_ref() {
        Some(b) => FrameStats {
            total: b.frames(),
            free: b.free_count(),
        },
        None => FrameStats { total: 0, free: 0 },
    }
}
