//! The `auto` tier's side in the app host: a run's counters
//! (`ipc_abi::counters`), which the interpreter and compiled code below O3
//! write, shared read-only with the profiler service, which decides the
//! tier-ups and asks the JIT for them in this app's name (it gets a copy of
//! our JIT connection). The app host never waits for a tier-up: the new
//! code takes over through the function's slot.
//!
//! One counters object serves every run of this app host (sized for the
//! largest program, mapped once at `APP_COUNTERS_BASE`); each run starts
//! it afresh and tells the profiler when it ends.

use ipc_abi::cap::{Rights, Slot};
use ipc_abi::counters::{
    APP_COUNTERS_BASE, EDGES, MAX_COUNTERS_PAGES, RUNNING, START_TIER, TARGETS, counter_offset,
    edges_offset, edges_word, header, pages_for,
};
use ipc_abi::ipc::Message;
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto;
use ipc_abi::proto::profiler::{JitAccess, ProfilerProtocol, ProfilerReply, ProfilerRequest};
use rt::sys;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long to look for the profiler at the first run: it starts with
/// the system, before or beside the app host.
const PROFILER_WAIT_TICKS: u64 = 200;

/// How the profiler may reach the JIT for a run.
pub enum Jit {
    /// It may not: counting only.
    None,
    /// Through a copy of our connection (we loaded the program).
    Lent(Slot),
    /// By loading the program itself when a function first gets hot (we
    /// laid it out, `standalone::offer`): the package, code and data
    /// regions, the package's lengths and the resolver, as in `Load`.
    OnDemand {
        caps: [Slot; 3],
        lengths: (u64, u64, u64),
        resolver: u64,
    },
}

/// What the profiler may save snapshots of a run with: the template
/// (`snapshot::Template` as bytes) and our code and data regions.
pub struct SnapshotKit {
    pub template: Vec<u8>,
    pub code: Slot,
    pub data: Slot,
}

/// The profiler's account of a run (`Finished`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Finished {
    pub tier_ups: u64,
    pub jit_loads: u64,
    /// The slot and generation of the last snapshot it saved.
    pub saved: Option<(u8, u64)>,
}

/// Where the template object is mapped while we fill it in.
const TEMPLATE_VA: u64 = 0x6200_0000_0000;
const _: () = assert!(TEMPLATE_VA >= ipc_abi::linux::MMAP_END);

/// A memory object holding `bytes` behind their length (a `u64`), as a
/// read-only capability to pass on.
fn template_object(bytes: &[u8]) -> Option<Slot> {
    let len = 8 + bytes.len() as u64;
    let obj = sys::mem_create(len.div_ceil(PAGE_SIZE)).ok()?;
    let filled = sys::mem_map(obj, TEMPLATE_VA, Rights::READ.union(Rights::WRITE)).is_ok();
    if filled {
        // SAFETY: the object was just mapped read-write at TEMPLATE_VA with
        // room for `len` bytes; unmapped right after.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (bytes.len() as u64).to_le_bytes().as_ptr(),
                TEMPLATE_VA as *mut u8,
                8,
            );
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (TEMPLATE_VA + 8) as *mut u8,
                bytes.len(),
            );
        }
        let _ = sys::mem_unmap(TEMPLATE_VA);
    }
    let ro = filled
        .then(|| sys::cap_derive(obj, Rights::READ.union(Rights::GRANT)).ok())
        .flatten();
    let _ = sys::cap_drop(obj);
    ro
}

pub struct Profile {
    object: Slot,
    /// The object again, read-only, for the JIT (`for_the_jit`).
    read_only: Option<Slot>,
    pages: u64,
    /// The profiler, once found (`None` when there is none).
    profiler: Option<Slot>,
    looked: bool,
    msg: Message,
}

/// What the interpreter counts of a function besides its counters: words
/// of branch edges (two per conditional branch), then words of call
/// targets (three per call through a pointer).
pub type Areas = (usize, usize);

/// The [`Areas`] of each function of a program with bytecode `module`
/// (none without bytecode).
pub fn count_areas(module: Option<&bytecode::format::Module>, functions: usize) -> Vec<Areas> {
    match module {
        Some(m) => m
            .functions
            .iter()
            .map(|f| (bytecode::edge_words(f), bytecode::target_words(f)))
            .collect(),
        None => vec![(0, 0); functions],
    }
}

/// The words of branch edges and call targets a program's counters hold:
/// all of `areas`, or none when they would make the object larger than
/// `MAX_COUNTERS_PAGES`.
fn edges_that_fit(names: &[String], areas: &[Areas]) -> usize {
    let total: usize = areas.iter().take(names.len()).map(|(e, t)| e + t).sum();
    let fits = pages_for(names.len(), names_text(names).len(), total) <= MAX_COUNTERS_PAGES;
    if fits { total } else { 0 }
}

/// The names of a program's functions as the counters hold them.
fn names_text(names: &[String]) -> Vec<u8> {
    names.join("\0").into_bytes()
}

impl Profile {
    /// A counters object for the largest of `programs` (function tables
    /// and their edges and targets, `count_areas`), mapped read-write at
    /// `APP_COUNTERS_BASE`.
    /// `listed`: the initrd has a profiler (otherwise counting only).
    pub fn new(programs: &[(&[String], Vec<Areas>)], listed: bool) -> Result<Profile, String> {
        let pages = programs
            .iter()
            .map(|(n, e)| pages_for(n.len(), names_text(n).len(), edges_that_fit(n, e)))
            .max()
            .unwrap_or(1)
            .max(1);
        let object = sys::mem_create(pages).map_err(|e| format!("counters: {e:?}"))?;
        sys::mem_map(object, APP_COUNTERS_BASE, Rights::READ.union(Rights::WRITE))
            .map_err(|e| format!("counters: {e:?}"))?;
        Ok(Profile {
            object,
            read_only: sys::cap_derive(object, Rights::READ.union(Rights::GRANT)).ok(),
            pages,
            profiler: None,
            looked: !listed,
            msg: Message::new(),
        })
        .inspect(|_| {
            if !listed {
                let _ = sys::log_event("app.profiler what=none");
            }
        })
    }

    /// The counters object, read-only, for a `Load` to pass to the JIT
    /// (which reads the run's call counts to choose what an O2 or O3 unit
    /// inlines); lent, still ours.
    pub fn for_the_jit(&self) -> Option<Slot> {
        self.read_only
    }

    /// The whole object's words, for the interpreter.
    pub fn counters(&self) -> &'static [AtomicU64] {
        let words = (self.pages * PAGE_SIZE / 8) as usize;
        // SAFETY: the object is mapped read-write at APP_COUNTERS_BASE for
        // the app host's whole life (never unmapped), `words` words long;
        // AtomicU64 has u64's layout, and the page is 8-aligned.
        unsafe { std::slice::from_raw_parts(APP_COUNTERS_BASE as *const AtomicU64, words) }
    }

    /// Starts a run of a program with functions `names`: zeroed counts,
    /// its header and names, and where each function's branch edges and
    /// call targets go (`areas`, `count_areas`; none when they do not
    /// fit).
    pub fn reset(&mut self, names: &[String], areas: &[Areas]) {
        let text = names_text(names);
        let total = edges_that_fit(names, areas);
        let words = (self.pages * PAGE_SIZE / 8) as usize;
        // SAFETY: as in `counters`; no one else writes the object, and the
        // profiler does not read it between runs (it unmapped it at
        // `Finished`).
        let all =
            unsafe { std::slice::from_raw_parts(APP_COUNTERS_BASE as *const AtomicU64, words) };
        for w in all {
            w.store(0, Ordering::Relaxed);
        }
        for (w, v) in all.iter().zip(header(names.len(), text.len(), total)) {
            w.store(v, Ordering::Relaxed);
        }
        if total > 0 {
            let mut at = edges_offset(names.len(), text.len());
            for (f, &(edges, targets)) in areas.iter().enumerate().take(names.len()) {
                for (which, len) in [(EDGES, edges), (TARGETS, targets)] {
                    if len > 0 {
                        all[counter_offset(f, which) as usize / 8]
                            .store(edges_word(at, len), Ordering::Relaxed);
                    }
                    at += 8 * len as u64;
                }
            }
        }
        let start = counter_offset(names.len(), 0) as usize;
        for (k, chunk) in text.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            all[start / 8 + k].store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
    }

    /// Where each function's ladder starts (`tiers`: the tier bytes, as a
    /// restored snapshot set them): after `reset`, before `watch`.
    pub fn set_start_tiers(&mut self, tiers: &[u8]) {
        let all = self.counters();
        for (f, &t) in tiers.iter().enumerate() {
            if let Some(w) = all.get(counter_offset(f, START_TIER) as usize / 8) {
                w.store(t as u64, Ordering::Relaxed);
            }
        }
    }

    /// Tells the profiler about the run `reset` started, and how it may
    /// reach the JIT (`jit`). Returns whether a profiler watches.
    /// `level`: the run's fixed tier, when it is not `auto`. `snapshots`:
    /// the run's snapshot template and our code and data regions, for the
    /// profiler to save snapshots while the program runs.
    pub fn watch(&mut self, jit: Jit, level: Option<u8>, snapshots: Option<SnapshotKit>) -> bool {
        let Some(profiler) = self.profiler() else {
            return false;
        };
        let Ok(counters) = sys::cap_derive(self.object, Rights::READ.union(Rights::GRANT)) else {
            return false;
        };
        let mut caps = vec![counters];
        let derived =
            |slot, rights: Rights| sys::cap_derive(slot, rights.union(Rights::GRANT)).ok();
        let rw = Rights::READ.union(Rights::WRITE);
        let access = match jit {
            Jit::None => JitAccess::None,
            Jit::Lent(j) => match derived(j, Rights::SEND) {
                Some(j) => {
                    caps.push(j);
                    JitAccess::Lent
                }
                None => JitAccess::None,
            },
            Jit::OnDemand {
                caps: [package, code, data],
                lengths,
                resolver,
            } => {
                let kit = [
                    derived(package, Rights::READ),
                    derived(code, rw),
                    derived(data, rw),
                ];
                caps.extend(kit.iter().flatten());
                if kit.iter().all(Option::is_some) {
                    JitAccess::OnDemand {
                        ir_len: lengths.0,
                        exports_len: lengths.1,
                        functions_len: lengths.2,
                        resolver,
                    }
                } else {
                    JitAccess::None
                }
            }
        };
        let request = ProfilerRequest::Watch {
            pages: self.pages,
            jit: access,
            level,
        };
        let answer = proto::call::<ProfilerProtocol>(profiler, &mut self.msg, &request, &caps);
        for c in caps {
            let _ = sys::cap_drop(c);
        }
        match answer {
            Ok(ProfilerReply::Watching) => {
                if let Some(k) = snapshots {
                    self.save_while_running(k);
                }
                true
            }
            other => {
                let _ = sys::log_event(&format!(
                    "app.profiler what=refused answer=\"{}\"",
                    format!("{other:?}").replace('"', "'")
                ));
                false
            }
        }
    }

    /// Hands the profiler what it needs to save snapshots while the
    /// program runs (`SaveWhileRunning`); says so when it cannot.
    fn save_while_running(&mut self, k: SnapshotKit) {
        let Some(profiler) = self.profiler else {
            return;
        };
        let derived = |slot: Slot| sys::cap_derive(slot, Rights::READ.union(Rights::GRANT)).ok();
        let caps: Vec<Slot> = [
            template_object(&k.template),
            derived(k.code),
            derived(k.data),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Why the profiler will not save while the program runs (`None`:
        // it will).
        let refusal = if caps.len() == 3 {
            match proto::call::<ProfilerProtocol>(
                profiler,
                &mut self.msg,
                &ProfilerRequest::SaveWhileRunning,
                &caps,
            ) {
                Ok(ProfilerReply::Watching) => None,
                Ok(ProfilerReply::Failed { message }) => Some(message.to_string()),
                other => Some(format!("{other:?}")),
            }
        } else {
            Some("the template or a region could not be passed on".to_string())
        };
        for c in caps {
            let _ = sys::cap_drop(c);
        }
        if let Some(why) = refusal {
            let _ = sys::log_event(&format!(
                "snapshot.only_at_end why=\"{}\"",
                why.replace('"', "'")
            ));
        }
    }

    /// The run has ended: the profiler takes a last look and prints its
    /// table; with `settle` (a snapshot follows) it first compiles what
    /// the run's counts call for. Returns its tier-ups and JIT loads.
    pub fn end(&mut self, settle: bool) -> Option<Finished> {
        self.nothing_running();
        let profiler = self.profiler?;
        match proto::call::<ProfilerProtocol>(
            profiler,
            &mut self.msg,
            &ProfilerRequest::Finished { settle },
            &[],
        ) {
            Ok(ProfilerReply::Done {
                tier_ups,
                jit_loads,
                saved,
            }) => {
                let _ = sys::log_event(&format!(
                    "app.profiled tier_ups={tier_ups} jit_loads={jit_loads}"
                ));
                Some(Finished {
                    tier_ups,
                    jit_loads,
                    saved,
                })
            }
            _ => {
                let _ = sys::log_event("app.profiler what=lost");
                self.profiler = None;
                None
            }
        }
    }

    /// The run is over: no function runs (the profiler's samples from
    /// now on are no one's).
    fn nothing_running(&self) {
        self.counters()[RUNNING].store(0, Ordering::Relaxed);
    }

    /// The profiler, looked for once (none in the initrd: counting only).
    fn profiler(&mut self) -> Option<Slot> {
        if !self.looked {
            self.looked = true;
            self.profiler =
                rt::names::connect_wait::<ProfilerProtocol>("profiler", PROFILER_WAIT_TICKS).ok();
            if self.profiler.is_none() {
                let _ = sys::log_event("app.profiler what=none");
            }
        }
        self.profiler
    }
}
