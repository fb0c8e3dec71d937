//! Virtual address-space layout shared by the loader (which builds the first
//! page tables) and the kernel (which builds its own and every task's).

/// All of physical memory is mapped at this offset in the higher half
/// (PML4 slot 256), read-write and never executable.
pub const PHYS_MAP_BASE: u64 = 0xffff_8000_0000_0000;

/// The kernel image is linked here (the top 2 GiB, `-mcmodel=kernel`).
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

/// First PML4 slot that belongs to the kernel; lower slots are per task.
pub const KERNEL_PML4_FIRST: usize = 256;

/// One past the highest user-space address (canonical lower half, minus a
/// page so that no user range touches the canonical hole).
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

/// Lowest address a user mapping may use: page 0 stays unmapped so that null
/// dereferences fault.
pub const USER_START: u64 = 0x1000;

/// Top of the first task's stack; the stack grows down from here and has an
/// unmapped guard page below its lowest page.
pub const USER_STACK_TOP: u64 = 0x0000_7fff_fff0_0000;

/// Pages of user stack given to a new task.
pub const USER_STACK_PAGES: u64 = 16;

/// Size of a page and of a physical frame.
pub const PAGE_SIZE: u64 = 4096;
