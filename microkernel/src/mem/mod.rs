//! Memory: the physical frame allocator, page tables, the kernel's own
//! address space and stack, and the heap.

pub mod frames;
pub mod heap;
pub mod kernel_space;
pub mod paging;
pub mod user;

use ipc_abi::layout::PHYS_MAP_BASE;

/// Direct-map address of a physical address.
pub const fn phys_to_virt(phys: u64) -> u64 {
    PHYS_MAP_BASE + phys
}
