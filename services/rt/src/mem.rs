//! Memory objects seen as Rust slices.

use crate::sys::{self, SysResult};
use ipc_abi::cap::{Rights, Slot};
use ipc_abi::layout::PAGE_SIZE;

/// Maps a whole memory object read-only at `vaddr` and returns its bytes.
/// The mapping is never removed, hence `'static`.
pub fn map_read_only(slot: Slot, vaddr: u64) -> SysResult<&'static [u8]> {
    let pages = sys::mem_map(slot, vaddr, Rights::READ)?;
    // SAFETY: the kernel just mapped `pages` pages at `vaddr`, readable by
    // this task; nothing in this task unmaps them (the slice is only handed
    // out here), and read-only memory cannot change under a shared borrow
    // except through other tasks' writable aliases, which read-only objects
    // such as the initrd do not have.
    Ok(unsafe { core::slice::from_raw_parts(vaddr as *const u8, (pages * PAGE_SIZE) as usize) })
}
