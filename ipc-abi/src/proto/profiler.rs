//! The profiler's protocol: the app host hands the profiler its counters
//! (`counters`), read-only, and tells it when a run of the program ends.
//! The profiler reads the counters on its own time, applies the tier
//! policy and asks the JIT to compile; the app host never waits for it.

use super::Protocol;
use serde::{Deserialize, Serialize};

pub struct ProfilerProtocol;

impl Protocol for ProfilerProtocol {
    const ID: u32 = 5;
    const VERSION: u32 = 1;
    type Request<'a> = ProfilerRequest;
    type Reply<'a> = ProfilerReply<'a>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfilerRequest {
    /// Watch a run of a program. Capability: its counters object, with
    /// read rights only (`pages` pages; the header says the rest). `jit`:
    /// whether the app host loaded the program into a JIT the profiler
    /// may ask for compiles (otherwise it only counts). `level`: the run's
    /// fixed tier when it is not `auto` (`O2-count`: counted, never moved),
    /// where the table says its functions run.
    Watch {
        pages: u64,
        jit: bool,
        level: Option<u8>,
    },
    /// The run has ended: the profiler reads the counters a last time,
    /// prints its table, and forgets them.
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfilerReply<'a> {
    Watching,
    /// After `Finished`: how many tier-ups it asked for in the run.
    Done {
        tier_ups: u64,
    },
    Failed {
        message: &'a str,
    },
}
