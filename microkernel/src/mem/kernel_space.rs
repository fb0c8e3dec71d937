//! The kernel's own address space, built at boot to replace the loader's:
//! the direct map (2 MiB pages, never executable), the kernel image with
//! per-section rights from the linker script, and the kernel stack with an
//! unmapped guard page below it. User address spaces share this higher half.

use super::paging::{AddressSpace, HUGE_PAGE_SIZE, MapError, NO_EXECUTE, WRITABLE};
use super::{frames, phys_to_virt};
use ipc_abi::boot::BootInfo;
use ipc_abi::layout::{PAGE_SIZE, PHYS_MAP_BASE};
use spin::Once;

/// The kernel stack lives alone in PML4 slot 510; the page below it stays
/// unmapped so that an overflow faults (and the double-fault handler, on
/// its own IST stack, reports it).
const KERNEL_STACK_GUARD: u64 = 0xffff_ff00_0000_0000;
pub const KERNEL_STACK_PAGES: u64 = 16;

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __kernel_start: u8;
}

fn sym(s: &u8) -> u64 {
    s as *const u8 as u64
}

static KERNEL: Once<AddressSpace> = Once::new();

/// The shared kernel half, for building user address spaces.
pub fn kernel_space() -> &'static AddressSpace {
    KERNEL
        .get()
        .expect("kernel address space used before it was built")
}

/// Top of the kernel stack built by [`build`].
pub fn stack_top() -> u64 {
    KERNEL_STACK_GUARD + PAGE_SIZE + KERNEL_STACK_PAGES * PAGE_SIZE
}

/// Lowest address of the guard page, for fault reports.
pub fn stack_guard() -> u64 {
    KERNEL_STACK_GUARD
}

/// Builds the kernel address space and loads it.
pub fn build(info: &BootInfo) -> Result<(), MapError> {
    let mut space = AddressSpace::new_empty()?;

    let top = info
        .memory_map()
        .iter()
        .map(|r| r.end())
        .max()
        .unwrap_or(0)
        .max(4 << 30)
        .next_multiple_of(HUGE_PAGE_SIZE);
    for phys in (0..top).step_by(HUGE_PAGE_SIZE as usize) {
        space.map_huge(PHYS_MAP_BASE + phys, phys, WRITABLE | NO_EXECUTE)?;
    }

    // SAFETY: the linker script defines these symbols; only their
    // addresses are used.
    let (text, rodata, data, base) = unsafe {
        (
            sym(&__text_start)..sym(&__text_end),
            sym(&__rodata_start)..sym(&__rodata_end),
            sym(&__data_start)..sym(&__data_end),
            sym(&__kernel_start),
        )
    };
    let phys_of = |virt: u64| info.kernel.start + (virt - base);
    let mut map_range = |range: core::ops::Range<u64>, flags: u64| -> Result<(), MapError> {
        let start = range.start & !(PAGE_SIZE - 1);
        for virt in (start..range.end).step_by(PAGE_SIZE as usize) {
            space.map(virt, phys_of(virt), flags)?;
        }
        Ok(())
    };
    map_range(text, 0)?;
    map_range(rodata, NO_EXECUTE)?;
    map_range(data, WRITABLE | NO_EXECUTE)?;

    for i in 0..KERNEL_STACK_PAGES {
        let frame = frames::alloc_zeroed().ok_or(MapError::OutOfMemory)?;
        space.map(
            KERNEL_STACK_GUARD + PAGE_SIZE * (1 + i),
            frame,
            WRITABLE | NO_EXECUTE,
        )?;
    }

    // SAFETY: the new tables map the kernel image at its link addresses
    // (this code included), the direct map (boot info, initrd, the current
    // boot stack) at the same addresses as the loader's tables did.
    unsafe { crate::arch::load_cr3(space.pml4()) };
    KERNEL.call_once(|| space);
    Ok(())
}

/// Direct-map view of a physical range.
///
/// # Safety
/// The range must be RAM that nothing writes while the slice lives.
pub unsafe fn phys_slice(start: u64, len: u64) -> &'static [u8] {
    // SAFETY: forwarded to the caller; the direct map covers all RAM.
    unsafe { core::slice::from_raw_parts(phys_to_virt(start) as *const u8, len as usize) }
}
