//! The run's call counts, read from the app's counters object, which the
//! `Load` may pass (mapped read-only at `JIT_COUNTERS_BASE` for the
//! session): what lets an O2 or O3 unit carry the callees that are
//! actually called (`inlining::chosen`).

use ipc_abi::cap::Rights;
use ipc_abi::counters::{BACKEDGES, CALLS, Counters, JIT_COUNTERS_BASE, MAX_COUNTERS_PAGES};
use ipc_abi::layout::PAGE_SIZE;
use rt::sys;

/// A function's calls and loop back-edges must add up to this many before
/// its callees' counts say anything about it (the ladder compiles at O2
/// well after that; a function pinned to O3 is compiled at its first
/// call, before any of its callees ran).
pub const WARM: u64 = 100;

/// The app's counters, mapped read-only while the session lasts.
pub struct CallCounts {
    pages: u64,
}

impl CallCounts {
    /// Maps the counters object `slot` read-only.
    pub fn map(slot: u64) -> Result<CallCounts, String> {
        let pages = sys::mem_map(slot, JIT_COUNTERS_BASE, Rights::READ)
            .map_err(|e| format!("counters: {e:?}"))?;
        // No larger than an app host makes one: past that it would reach
        // where the app's data region goes.
        if pages > MAX_COUNTERS_PAGES {
            let _ = sys::mem_unmap(JIT_COUNTERS_BASE);
            return Err(format!(
                "counters: {pages} pages, at most {MAX_COUNTERS_PAGES}"
            ));
        }
        Ok(CallCounts { pages })
    }

    /// Every function's calls so far (function-table order), when the
    /// object describes `functions` functions and function `own` is warm
    /// ([`WARM`]); `None` otherwise (the counts say nothing yet, or the
    /// object is not what the app host writes: nothing in it is trusted).
    pub fn of(&self, functions: usize, own: usize) -> Option<Vec<u64>> {
        let len = usize::try_from(self.pages * PAGE_SIZE).ok()?;
        // SAFETY: `map` mapped `pages` readable pages at the page-aligned
        // JIT_COUNTERS_BASE, unmapped only by `drop`; the app host writes
        // them meanwhile, and `Counters` reads each word whole (volatile).
        let (bytes, words) = unsafe {
            (
                std::slice::from_raw_parts(JIT_COUNTERS_BASE as *const u8, len),
                std::slice::from_raw_parts(JIT_COUNTERS_BASE as *const u64, len / 8),
            )
        };
        let counters = Counters::parse(bytes, words).ok()?;
        if counters.functions() != functions || own >= functions {
            return None;
        }
        let ran = counters
            .get(own, CALLS)
            .saturating_add(counters.get(own, BACKEDGES));
        (ran >= WARM).then(|| (0..functions).map(|f| counters.get(f, CALLS)).collect())
    }
}

impl Drop for CallCounts {
    fn drop(&mut self) {
        let _ = sys::mem_unmap(JIT_COUNTERS_BASE);
    }
}
