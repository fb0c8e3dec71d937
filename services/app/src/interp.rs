//! The interpreter tier in the app host: a program's bytecode (made from
//! its IR when the initrd was built, `irlower`) runs here without LLVM.
//!
//! Calls reach interpreted functions the way they reach compiled ones:
//! every dispatch slot starts at its function's lazy stub, which leads to
//! `resolver::lazy_entry`; in a run with bytecode it asks [`choose`], and
//! for a function to interpret it enters the interpreter
//! (`bytecode::native::entry`) with the caller's registers and stack, so
//! compiled code, the C library (`qsort`) and function pointers all call
//! interpreted functions as they call native ones; a function the
//! interpreter cannot run is compiled at O0 (one `app.interp` event names
//! the construct). The interpreter calls a
//! program function through its slot when the slot holds compiled code,
//! the C library at its export address. Globals are the homes the JIT
//! laid out (its state in the data region says where).

use crate::standalone;
use bytecode::format::{Body, Module, SymbolKind};
use bytecode::interp::{Interp, Machine, Trap};
use bytecode::native;
use ipc_abi::proto::jit::*;
use ipc_abi::tier::Tier;
use rt::sys;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Loads and checks `file` (the program's bytecode) against its IR and
/// function table; the module lives as long as the app host.
pub fn load(file: &[u8], ir: &[u8], names: &[String]) -> Result<&'static Module, String> {
    bytecode::validate::load(file, ir, names)
        .map(|m| &*Box::leak(Box::new(m)))
        .map_err(|e| e.to_string())
}

/// What an interpreted run calls out to.
struct Host {
    module: &'static Module,
    /// No JIT: the app host's own stubs and layout (`standalone`).
    own: bool,
    /// Each function's tier in this run.
    tiers: Vec<Tier>,
    symbols: Vec<u64>,
    /// Functions that fell back to O0 and were reported.
    reported: Vec<Cell<bool>>,
}

/// Function `index`'s dispatch slot.
fn slot_word(index: u32) -> &'static AtomicU64 {
    // SAFETY: slot `index` lies in our data region, aligned, mapped
    // read-write for our whole life; the JIT writes it atomically.
    unsafe { &*(slot(index as usize) as *const AtomicU64) }
}

fn slot_value(index: u32) -> u64 {
    slot_word(index).load(Ordering::Acquire)
}

impl Machine for Host {
    fn compiled(&self, func: u32) -> Option<u64> {
        let code = slot_value(func);
        if code != self.lazy_stub(func) {
            return Some(code);
        }
        // Not compiled yet: interpret it, or go through its stub, where
        // `lazy_entry` compiles it.
        (!self.interpreted_tier(func)).then_some(self.function_address(func))
    }

    /// Interpreted while its slot is at its lazy stub (as `compiled`
    /// says), when its tier is the interpreter's.
    fn interpreted_while(&self, func: u32) -> Option<(&'static AtomicU64, u64)> {
        self.interpreted_tier(func)
            .then(|| (slot_word(func), self.lazy_stub(func)))
    }

    fn function_at(&self, addr: u64) -> Option<u32> {
        if self.own {
            return standalone::function_at(addr, self.module.functions.len());
        }
        let off = addr.checked_sub(APP_CODE_BASE)?;
        let i = off / STUB_BYTES;
        (off % STUB_BYTES == 0 && i < self.module.functions.len() as u64).then_some(i as u32)
    }

    fn function_address(&self, func: u32) -> u64 {
        if self.own {
            standalone::entry_stub(func as usize)
        } else {
            entry_stub(func as usize)
        }
    }

    fn symbol(&self, sym: u32) -> u64 {
        self.symbols[sym as usize]
    }

    fn replaced_on_stack(&self, func: u32, block: u32) {
        let name = &self.module.functions[func as usize].name;
        let _ = sys::log_event(&format!(
            "app.osr fn={} block={block}",
            crate::event_word(name)
        ));
    }

    fn replacement_refused(&self, func: u32) {
        let reported = &self.reported[func as usize];
        if !reported.replace(true) {
            let name = &self.module.functions[func as usize].name;
            let _ = sys::log_event(&format!(
                "app.osr_refused fn={} why=shape",
                crate::event_word(name)
            ));
        }
    }
}

/// The JIT's on-stack-replacement table in our data region
/// (`APP_OSR_BASE`), one entry per function of `module`.
fn osr_table(module: &Module) -> &'static [AtomicU64] {
    let words = module.functions.len().min(MAX_FUNCTIONS) * OSR_WORDS;
    // SAFETY: the table lies in our data region (read-write, ours for
    // life, APP_OSR_BYTES long: MAX_FUNCTIONS entries); the JIT writes it
    // atomically, word by word.
    unsafe { std::slice::from_raw_parts(APP_OSR_BASE as *const AtomicU64, words) }
}

thread_local! {
    /// The run under way: its interpreter and host, owned here (from
    /// `Box::into_raw`) until the next run starts. Not a `RefCell`: a
    /// program's `exit` leaves interpreted frames without returning, and a
    /// borrow guard in them would never be released.
    static CURRENT: Cell<Option<(*const Interp<'static>, *const Host)>> = const { Cell::new(None) };
}

/// The run under way.
fn current() -> Option<(&'static Interp<'static>, &'static Host)> {
    // SAFETY: the pointers come from `Box::into_raw` in `start` and are
    // freed only by the next `start`, which runs between runs, when no
    // interpreted call is under way and nothing holds these references.
    CURRENT.with(Cell::get).map(|(i, h)| unsafe { (&*i, &*h) })
}

/// Sets up a run of `module` with functions at `tiers`: after the JIT
/// loaded it (the globals' homes from the JIT's state), or with no JIT at
/// all (`own`: the app host's own stubs and globals, `standalone`; with
/// `offered`, a layout the profiler may have the JIT adopt later,
/// `standalone::offer`). The C library's addresses come from `exports`;
/// with `counters` (`auto`) the interpreter counts calls and loops there
/// (`profile`). `Err` names what does not fit.
pub fn start(
    module: &'static Module,
    tiers: Vec<Tier>,
    exports: &[(&'static str, u64)],
    (own, offered): (bool, bool),
    counters: Option<&'static [AtomicU64]>,
) -> Result<(), String> {
    let by_name: HashMap<&str, u64> = exports.iter().copied().collect();
    let homes = if own {
        let homes = standalone::lay_out(module, |name| by_name.get(name).copied())?;
        // The JIT's state in our region: for a JIT the profiler may load
        // later, and for a snapshot to be restored into.
        standalone::offer(module, &homes)?;
        homes
    } else {
        jit_homes(module)?
    };
    let mut missing = Vec::new();
    let symbols = module
        .symbols
        .iter()
        .map(|s| match s.kind {
            SymbolKind::Global => module
                .globals
                .iter()
                .position(|g| g.name == s.name)
                .map_or(0, |i| homes[i]),
            SymbolKind::External => by_name.get(s.name.as_str()).copied().unwrap_or_else(|| {
                missing.push(s.name.clone());
                0
            }),
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!("the C library lacks {}", missing.join(", ")));
    }
    let host = Box::into_raw(Box::new(Host {
        module,
        own,
        tiers,
        symbols,
        reported: module.functions.iter().map(|_| Cell::new(false)).collect(),
    }));
    // The previous run's interpreter (8 MiB of frame memory) goes first.
    clear();
    let interp = match counters {
        // Counted (`auto`), and with a JIT to build continuations: running
        // loops may move to compiled code (on-stack replacement).
        Some(c) if !own || offered => Interp::with_counters(module, c).with_osr(osr_table(module)),
        Some(c) => Interp::with_counters(module, c),
        None => Interp::new(module),
    };
    let interp = Box::into_raw(Box::new(interp));
    native::set_entry_handler(enter);
    CURRENT.with(|c| c.set(Some((interp, host))));
    Ok(())
}

impl Host {
    /// Whether function `func` runs interpreted until its slot changes:
    /// its tier is the interpreter's and it has code.
    fn interpreted_tier(&self, func: u32) -> bool {
        self.tiers[func as usize] == Tier::Interp
            && matches!(self.module.functions[func as usize].body, Body::Code { .. })
    }

    /// Function `func`'s lazy stub: its slot's value until it is compiled.
    fn lazy_stub(&self, func: u32) -> u64 {
        if self.own {
            standalone::lazy_stub(func as usize)
        } else {
            lazy_stub(func as usize)
        }
    }
}

/// The globals' homes the JIT laid out (its state in our data region).
fn jit_homes(module: &Module) -> Result<Vec<u64>, String> {
    // SAFETY: the JIT's state lies in our data region (read-write, ours for
    // life); it is only read here.
    let header =
        unsafe { std::slice::from_raw_parts(APP_STATE_BASE as *const u64, STATE_HEADER_WORDS) };
    let globals = header[2] as usize;
    if header[0] != JIT_STATE_MAGIC || globals != module.globals.len() || globals > MAX_GLOBALS {
        return Err(format!(
            "the JIT laid out {globals} globals, the bytecode has {}",
            module.globals.len()
        ));
    }
    // SAFETY: as above; `globals` homes follow the header (checked bound).
    let homes = unsafe {
        std::slice::from_raw_parts(
            (APP_STATE_BASE as *const u64).add(STATE_HEADER_WORDS),
            globals,
        )
    };
    Ok(homes.to_vec())
}

/// Ends the previous run's interpretation, if any: a run without bytecode
/// has no interpreter, and `choose` must not answer from an old one.
pub fn clear() {
    if let Some((old_interp, old_host)) = CURRENT.with(Cell::take) {
        // SAFETY: made by `Box::into_raw` in `start`; that run is over
        // (see `current`), so nothing refers to them.
        unsafe {
            drop(Box::from_raw(old_interp as *mut Interp<'static>));
            drop(Box::from_raw(old_host as *mut Host));
        }
    }
}

/// Where a function of the run under way runs.
pub enum Choice {
    Interpret,
    /// Compiled at this LLVM level.
    Compile(u8),
}

/// Where function `index` runs in the run under way (`None`: no run with
/// bytecode, so the session's level): interpreted when its tier is
/// `interp` and it has bytecode, at O0 when it should be interpreted but
/// the interpreter cannot run it (one `app.interp` event per run says
/// why), else at its compiled tier.
pub fn choose(index: u32) -> Option<Choice> {
    let (_, host) = current()?;
    let Some(f) = host.module.functions.get(index as usize) else {
        crate::fail(&format!("a call of unknown function #{index}"))
    };
    Some(match (host.tiers[index as usize], &f.body) {
        (Tier::Interp, Body::Code { .. }) => Choice::Interpret,
        (Tier::Compiled(level), _) => Choice::Compile(level),
        (Tier::Interp, Body::Unsupported { construct }) => {
            let reported = &host.reported[index as usize];
            if !reported.replace(true) {
                let _ = sys::log_event(&format!(
                    "app.interp fn={} to=O0 why=\"{}\"",
                    crate::event_word(&f.name),
                    construct.replace(['"', '\\'], "'")
                ));
            }
            Choice::Compile(0)
        }
    })
}

/// The interpreter's entry handler: runs function `index` with the
/// arguments the caller placed.
fn enter(index: u32, incoming: &mut native::Incoming, stack: u64) -> u64 {
    let Some((interp, host)) = current() else {
        crate::fail("an interpreted call with no run under way")
    };
    interp
        .call_from_native(host, index, incoming, stack)
        .unwrap_or_else(|trap| die(trap, host.module))
}

#[allow(
    clashing_extern_declarations,
    reason = "the generated export table declares every C symbol as `fn()` only to take its address"
)]
unsafe extern "C" {
    fn raise(sig: i32) -> i32;
}

/// Ends the program the way native code would have ended on the trap.
fn die(trap: Trap, module: &Module) -> ! {
    let (what, signal) = match trap {
        Trap::Divide => ("divide", ipc_abi::linux::sig::SIGFPE),
        Trap::Unreachable => ("unreachable", ipc_abi::linux::sig::SIGILL),
        Trap::StackOverflow => ("stack-overflow", ipc_abi::linux::sig::SIGSEGV),
        Trap::NotInterpretable(f) => crate::fail(&format!(
            "{} reached the interpreter without bytecode",
            module.functions[f as usize].name
        )),
    };
    crate::exports::flush();
    let _ = sys::log_event(&format!("app.trap what={what} signal={signal}"));
    // SAFETY: raising a signal ends the task with it (Linux personality).
    unsafe { raise(signal as i32) };
    std::process::abort()
}
