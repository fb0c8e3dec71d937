//! The profiler's connection to the JIT for one watched run
//! (`ipc_abi::proto::profiler::JitAccess`): lent by the app host, or made
//! here on demand, the first time a function gets hot, by loading the
//! app's program into the JIT in its name (`Load { resume: true }`: the
//! JIT adopts the layout the app host made). A JIT that dies is loaded
//! again once the supervisor has restarted it, at most [`MAX_LOADS`]
//! times in a run.

use alloc::format;
use ipc_abi::cap::Slot;
use ipc_abi::ipc::Message;
use ipc_abi::proto::jit::{JitProtocol, JitReply, JitRequest};
use ipc_abi::proto::{self, profiler::JitAccess};
use rt::sys;

/// Loads of one run's program (the first, then after each JIT death).
pub const MAX_LOADS: u32 = 4;

/// What an on-demand load sends.
pub struct Kit {
    /// Package, code region, data region, and the counters object (the
    /// JIT chooses what O2 and O3 units inline by the run's call counts):
    /// the first three ours, the counters the watch's.
    caps: [Slot; 4],
    lengths: (u64, u64, u64),
    resolver: u64,
}

pub enum Link {
    /// No JIT: counting only.
    None,
    /// The app host's connection (it loaded the program).
    Lent(Slot),
    /// Ours, made when first needed.
    OnDemand {
        kit: Kit,
        jit: Option<Slot>,
        loads: u32,
    },
}

impl Link {
    /// The link `access` describes, with the capabilities after the
    /// counters object (`caps`) and the counters object itself (lent to
    /// the JIT with each load, still the caller's); `Err` when some are
    /// missing.
    pub fn new(access: JitAccess, caps: &[Slot], counters: Slot) -> Result<Link, &'static str> {
        Ok(match access {
            JitAccess::None => Link::None,
            JitAccess::Lent => Link::Lent(*caps.first().ok_or("no JIT connection")?),
            JitAccess::OnDemand {
                ir_len,
                exports_len,
                functions_len,
                resolver,
            } => {
                let &[package, code, data] = caps else {
                    return Err("the package and the regions are missing");
                };
                Link::OnDemand {
                    kit: Kit {
                        caps: [package, code, data, counters],
                        lengths: (ir_len, exports_len, functions_len),
                        resolver,
                    },
                    jit: None,
                    loads: 0,
                }
            }
        })
    }

    /// How many times the program was loaded into a JIT for this run
    /// (a lent connection counts once: the app host loaded it).
    pub fn loads(&self) -> u64 {
        match self {
            Link::None => 0,
            Link::Lent(_) => 1,
            Link::OnDemand { loads, .. } => *loads as u64,
        }
    }

    /// Whether tier-ups may still be asked for.
    pub fn usable(&self) -> bool {
        match self {
            Link::None => false,
            Link::Lent(_) => true,
            Link::OnDemand { jit, loads, .. } => jit.is_some() || *loads < MAX_LOADS,
        }
    }

    /// A connection to a JIT that has the program, loading it there first
    /// if needed (`why`: the function that made it needed, for the log);
    /// `None` for now (no JIT answers yet, or it refused the program).
    /// `wait_ticks`: how long to wait for a JIT that is starting (0 while
    /// the program runs: the next poll tries again).
    pub fn get(&mut self, why: &str, at_ms: u64, wait_ticks: u64) -> Option<Slot> {
        match self {
            Link::None => None,
            Link::Lent(jit) => Some(*jit),
            Link::OnDemand { jit: Some(j), .. } => Some(*j),
            Link::OnDemand { kit, jit, loads } => {
                if *loads >= MAX_LOADS {
                    return None;
                }
                // A JIT being restarted is not there yet: try again at the
                // next poll rather than keep the app host's requests waiting.
                let j = rt::names::connect_wait::<JitProtocol>("jit", wait_ticks).ok()?;
                *loads += 1;
                let request = JitRequest::Load {
                    ir_len: kit.lengths.0,
                    exports_len: kit.lengths.1,
                    functions_len: kit.lengths.2,
                    resolver: kit.resolver,
                    resume: true,
                    counters: true,
                };
                let mut msg = Message::new();
                match proto::call::<JitProtocol>(j, &mut msg, &request, &kit.caps) {
                    Ok(JitReply::Loaded { setup_us, .. }) => {
                        let _ = sys::log_event(&format!(
                            "profiler.jit_load for={why} at_ms={at_ms} setup_us={setup_us} load={loads}"
                        ));
                        *jit = Some(j);
                        Some(j)
                    }
                    other => {
                        let _ = sys::cap_drop(j);
                        let answer = match other {
                            Ok(JitReply::Failed { message }) => message,
                            _ => "no answer",
                        };
                        let _ = sys::log_event(&format!(
                            "profiler.jit_load_failed for={why} load={loads} why=\"{}\"",
                            answer.replace(['"', '\\'], "'")
                        ));
                        // A refused program stays refused.
                        *loads = MAX_LOADS;
                        None
                    }
                }
            }
        }
    }

    /// The JIT died serving us: a lent connection is gone for good; ours
    /// is made again (and the program loaded again) when next needed.
    pub fn lost(&mut self) {
        match self {
            Link::None => {}
            Link::Lent(j) => {
                let _ = sys::cap_drop(*j);
                *self = Link::None;
            }
            Link::OnDemand { jit, .. } => {
                if let Some(j) = jit.take() {
                    let _ = sys::cap_drop(j);
                }
            }
        }
    }

    /// The run is over: a JIT we loaded forgets the program, so that the
    /// app host's next run may load its own.
    pub fn release(self) {
        if let Link::Lent(j) = self {
            let _ = sys::cap_drop(j);
        } else if let Link::OnDemand { kit, jit, .. } = self {
            if let Some(j) = jit {
                let mut msg = Message::new();
                let _ = proto::call::<JitProtocol>(j, &mut msg, &JitRequest::Release, &[]);
                let _ = sys::cap_drop(j);
            }
            for c in &kit.caps[..3] {
                let _ = sys::cap_drop(*c);
            }
        }
    }
}
