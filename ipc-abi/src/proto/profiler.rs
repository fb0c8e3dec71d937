//! The profiler's protocol: the app host hands the profiler its counters
//! (`counters`), read-only, and tells it when a run of the program ends.
//! The profiler reads the counters on its own time, applies the tier
//! policy and asks the JIT to compile; the app host never waits for it.
//! When the app host has not contacted the JIT, the profiler does, the
//! first time a function gets hot (`JitAccess::OnDemand`).

use super::Protocol;
use serde::{Deserialize, Serialize};

pub struct ProfilerProtocol;

/// Where the profiler maps a watched run's snapshot template, code region
/// and data region (read-only), and its fs transfers.
pub const PROFILER_TEMPLATE_BASE: u64 = 0x1_0000_0000;
pub const PROFILER_CODE_BASE: u64 = 0x1_4000_0000;
pub const PROFILER_DATA_BASE: u64 = 0x1_8000_0000;
pub const PROFILER_FS_BUFFER_BASE: u64 = 0x2_0000_0000;
const _: () = {
    use super::jit::{APP_CODE_PAGES, APP_DATA_PAGES};
    use crate::layout::PAGE_SIZE;
    assert!(PROFILER_CODE_BASE + APP_CODE_PAGES * PAGE_SIZE <= PROFILER_DATA_BASE);
    assert!(PROFILER_DATA_BASE + APP_DATA_PAGES * PAGE_SIZE <= PROFILER_FS_BUFFER_BASE);
    assert!(PROFILER_FS_BUFFER_BASE + super::fs::TRANSFER_MAX <= crate::layout::USER_STACK_TOP);
};

impl Protocol for ProfilerProtocol {
    const ID: u32 = 5;
    const VERSION: u32 = 4;
    type Request<'a> = ProfilerRequest;
    type Reply<'a> = ProfilerReply<'a>;
}

/// How the profiler reaches the JIT for a watched run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JitAccess {
    /// There is none to rise to: the profiler only counts.
    None,
    /// The app host loaded the program itself; the second capability is
    /// a copy of its JIT connection (send only).
    Lent,
    /// The app host laid the program out itself (its state in the data
    /// region, `jit::JitState`) and has not contacted the JIT: the
    /// profiler does, when a function first gets hot, with `jit::JitRequest::Load
    /// { resume: true, counters: true }` and these lengths and resolver,
    /// and again after the JIT restarts. Capabilities 2 to 4: the package
    /// (read), the code and the data region (read-write), passed on to the
    /// JIT and never mapped by the profiler.
    OnDemand {
        ir_len: u64,
        exports_len: u64,
        functions_len: u64,
        resolver: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfilerRequest {
    /// Watch a run of a program. First capability: its counters object,
    /// with read rights only (`pages` pages; the header says the rest);
    /// then what `jit` says. `level`: the run's fixed tier when it is not
    /// `auto` (`O2-count`: counted, never moved), where the table says its
    /// functions run.
    Watch {
        pages: u64,
        jit: JitAccess,
        level: Option<u8>,
    },
    /// After `Watch`, for a run whose snapshots are saved
    /// (`docs/snapshots.md`): capabilities are the snapshot template
    /// (read: a `u64` length, then `snapshot::Template` as postcard), the
    /// code region and the data region (read), with which the profiler
    /// saves a snapshot every `snapshot-every-ms` (its argument) while the
    /// program runs. Answered `Watching`, or `Failed` saying why not.
    SaveWhileRunning,
    /// The run has ended: the profiler reads the counters a last time,
    /// prints its table, and forgets them. With `settle` (a snapshot of
    /// the run follows), it first has every function compiled at the
    /// highest tier the run's counts call for, in one step each, and
    /// answers once those compiles are done, so that the snapshot holds
    /// them and the next boot starts there.
    Finished { settle: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfilerReply<'a> {
    Watching,
    /// After `Finished`: how many tier-ups it asked for in the run, and
    /// how many times it loaded the program into the JIT (0: LLVM never
    /// started for this run).
    Done {
        tier_ups: u64,
        jit_loads: u64,
        /// The slot and generation of the last snapshot the profiler
        /// saved during the run (the app host's goes over the other slot,
        /// one generation up).
        saved: Option<(u8, u64)>,
    },
    Failed {
        message: &'a str,
    },
}
