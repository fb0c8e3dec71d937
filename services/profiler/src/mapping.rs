//! An app's memory objects (its counters; with snapshots, its code and
//! data regions and the snapshot template) mapped read-only, as bytes and
//! words, for as long as the profiler watches it: unmapped when dropped,
//! so no view outlives it.
#![allow(
    unsafe_code,
    reason = "viewing a mapping as a slice; the only unsafe in the profiler"
)]

use ipc_abi::cap::{Rights, Slot};
use ipc_abi::layout::PAGE_SIZE;
use rt::sys;

pub struct Mapped {
    at: u64,
    pages: u64,
}

impl Mapped {
    /// Maps `slot` (a memory object) read-only at `at`.
    pub fn new(slot: Slot, at: u64) -> Result<Mapped, &'static str> {
        let pages = sys::mem_map(slot, at, Rights::READ)
            .map_err(|_| "cannot map an object of the app's")?;
        Ok(Mapped { at, pages })
    }

    /// The object's bytes and the same as words (borrowed from `self`).
    pub fn view(&self) -> (&[u8], &[u64]) {
        let len = (self.pages * PAGE_SIZE) as usize;
        // SAFETY: the kernel mapped `pages` pages at `at`, readable, and
        // they stay mapped while `self` lives (`drop` unmaps); `at` is page
        // aligned, so aligned for u64. The app host writes them
        // concurrently: readers use volatile word reads
        // (`ipc_abi::counters::Counters::get`), never references held
        // across a change of meaning.
        unsafe {
            (
                core::slice::from_raw_parts(self.at as *const u8, len),
                core::slice::from_raw_parts(self.at as *const u64, len / 8),
            )
        }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        let _ = sys::mem_unmap(self.at);
    }
}
