//! The interpreter: runs a validated [`Module`]'s functions on real memory
//! (the program's loads and stores are its own, as in compiled code; frame
//! objects live in the interpreter's stack, at real addresses), calling
//! out through a [`Machine`] for everything outside the interpreted code:
//! native code (the C library, compiled functions) and addresses.
//!
//! Calls between interpreted functions use an explicit frame stack, not the
//! host's: deep recursion in the program costs interpreter memory only.

use crate::abi;
use crate::checked::{CheckedOps, Ops, Pc};
use crate::exec::{self, CALL_REGS, Op};
use crate::format::*;
use crate::mem;
use crate::ops::{bin, bin128, cast, fbin, fcmp, fmuladd, fun, icmp, icmp128, overflow, wide};
use crate::step::{self, WINDOW};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

mod fast;
mod slow;

/// What the interpreter needs from its host.
pub trait Machine {
    /// Calls native code at `addr` with System V arguments; returns the
    /// result registers of classes `ret` (up to two; see `native::call`).
    fn call_native(
        &self,
        addr: u64,
        args: &[(u64, Class)],
        variadic: bool,
        ret: &[Class],
    ) -> [u64; 2] {
        crate::native::program_call(addr, args, variadic, ret)
    }
    /// Calls native code at `addr` that may return twice (`setjmp`) with
    /// two integer arguments, running `then` with each of its results
    /// (`native::call_returns_twice`).
    fn call_returns_twice(&self, addr: u64, args: [u64; 2], then: &mut dyn FnMut(u64)) {
        crate::native::program_call_returns_twice(addr, args, then)
    }
    /// Where a call to program function `func` goes: `None` to interpret
    /// it, or the address of its compiled code.
    fn compiled(&self, func: u32) -> Option<u64>;
    /// A word that says, without a call to [`Machine::compiled`], that
    /// program function `func` is still interpreted: it is while the
    /// word holds the value (the app host: its dispatch slot, still at
    /// its lazy stub). `None`: ask `compiled` at every call. Asked once,
    /// at the function's first call.
    fn interpreted_while(&self, _func: u32) -> Option<(&'static AtomicU64, u64)> {
        None
    }
    /// The program function whose address (entry) `addr` is, if any.
    fn function_at(&self, addr: u64) -> Option<u32>;
    /// The address of program function `func` (its function pointer).
    fn function_address(&self, func: u32) -> u64;
    /// The address of symbol `sym`.
    fn symbol(&self, sym: u32) -> u64;
    /// A frame of `func` is about to move to its compiled continuation at
    /// loop header `block` (for the host's log).
    fn replaced_on_stack(&self, _func: u32, _block: u32) {}
    /// A continuation of `func` was not used: the JIT built it from a
    /// function whose values differ from the bytecode's.
    fn replacement_refused(&self, _func: u32) {}
}

/// Where a call's results go: its first and second result register,
/// each with its class (`Inst::Call`'s `ret` and `ret2`).
type ResultRegs = (Option<(Reg, Class)>, Option<(Reg, Class)>);

/// How a pointer argument is passed (a 64-bit integer register).
const PTR_CLASS: Class = Class::Int {
    width: Width::W64,
    signed: false,
};

/// Why an interpreted run stopped short (what native code would have been
/// killed for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trap {
    /// Integer division by zero, or of the minimum by -1 (SIGFPE).
    Divide,
    /// `unreachable` was reached (SIGILL, as `ud2` would).
    Unreachable,
    /// The interpreter's frame memory ran out (SIGSEGV, as a native stack
    /// overflow would).
    StackOverflow,
    /// A function without interpretable code was called with nothing to
    /// run it (the caller should have compiled it).
    NotInterpretable(u32),
}

/// How a variadic frame's extra arguments arrived: placed as a native
/// caller places them (registers, and stack slots at an address).
#[derive(Clone, Debug)]
pub struct VarArgs {
    pub gp: [u64; 6],
    pub xmm: [u64; 8],
    /// Where the first stack slot is.
    pub stack: u64,
    /// Registers and stack slots the fixed parameters took.
    pub gp_used: usize,
    pub xmm_used: usize,
    pub stack_used: usize,
}

struct Frame {
    /// Its function (its index): its code and its code in execution form
    /// are its `Entry`'s and `Interp::ops`.
    func: u32,
    pc: usize,
    base: usize,
    /// One past its last register (where a callee's start).
    end: usize,
    /// Where the caller wants the result (and its second register).
    ret: Option<Reg>,
    ret2: Option<Reg>,
    stack_mark: usize,
    /// What only variadic frames and frames calling one have (kept out of
    /// line: a call pushes and pops a frame, and most frames have none).
    variadic: Option<Box<Variadic>>,
}

#[derive(Default)]
struct Variadic {
    /// The frame's own extra arguments, when its function is variadic.
    va: Option<VarArgs>,
    /// Stack slots of a variadic call this frame made to an interpreted
    /// function: they must live as long as the callee.
    outgoing: Vec<u64>,
}

impl Frame {
    fn va(&self) -> Option<&VarArgs> {
        self.variadic.as_ref().and_then(|v| v.va.as_ref())
    }
}

/// What entering a frame of a function takes, worked out once when the
/// interpreter is made: calls are the most frequent of the interpreter's
/// expensive steps (a recursive `fib` is little else).
struct Entry<'m> {
    /// Where its loops, branches and calls through pointers are counted.
    loops: step::Loops<'m>,
    /// Its call counter.
    calls: &'m AtomicU64,
    /// How many of its first instructions only set registers to values
    /// fixed for the whole run (the lowering's prologue of constants and
    /// addresses): a new frame gets them from `fixed` and starts after.
    prologue: usize,
    /// Its code (empty when it has none).
    code: &'m [Inst],
    /// Its code in execution form (`exec`), with its copied callees'
    /// (`inline`), checked for the fast loop (`checked`).
    ops: CheckedOps,
    /// How many registers a frame of it takes.
    regs: usize,
    /// What its first call finds out from the `Machine` (`Start`).
    start: core::cell::OnceCell<Start>,
}

/// What a function's first call finds out, for every call after.
struct Start {
    /// The values of its prologue's registers and its copies' constants
    /// (addresses come from the `Machine`).
    fixed: Vec<(Reg, u64)>,
    /// When it is still interpreted (`Machine::interpreted_while`; a
    /// word that never holds the value when the machine names none, so
    /// that every call asks `Machine::compiled`).
    interpreted_while: (&'static AtomicU64, u64),
}

/// Where counts go when nobody reads them (any interpreter's: nobody
/// reads this one).
static UNCOUNTED: AtomicU64 = AtomicU64::new(0);

/// How many of a function's prologue writes a new frame makes at a time
/// (`Start::fixed` is a whole number of groups).
const FIXED_GROUP: usize = 4;

/// A word that is never 1 (`Start::interpreted_while` when the machine
/// names no word).
static NEVER: AtomicU64 = AtomicU64::new(0);
/// The on-stack-replacement entry of functions with none (always 0).
static NO_OSR: AtomicU64 = AtomicU64::new(0);

/// How many of `code`'s first instructions only set registers to values
/// that stay the same for the whole run: constants, addresses, and
/// constant offsets from those (the lowering's addresses of a global's
/// fields).
pub(crate) fn prologue_len(code: &[Inst]) -> usize {
    let mut set = alloc::collections::BTreeSet::new();
    code.iter()
        .take_while(|i| match **i {
            Inst::Const { dst, .. } | Inst::Addr { dst, .. } | Inst::FuncAddr { dst, .. } => {
                set.insert(dst);
                true
            }
            Inst::AddImm { dst, a, .. } if set.contains(&a) => {
                set.insert(dst);
                true
            }
            _ => false,
        })
        .count()
}

/// Bytes of frame memory (allocas, `va_list` save areas).
pub const STACK_BYTES: usize = 8 << 20;

/// An interpreter for one module. Its methods take `&self`: native code it
/// calls may call back into it (a `qsort` comparator), and each call runs
/// with registers of its own, on the frame memory above the caller's.
pub struct Interp<'m> {
    module: &'m Module,
    /// Frame memory; never moves (addresses handed out stay valid).
    stack: mem::Region,
    /// Bytes of `stack` in use.
    sp: core::cell::Cell<usize>,
    /// Register files of calls that have returned, for the next ones.
    files: core::cell::RefCell<Vec<Vec<u64>>>,
    /// The counters object (`ipc_abi::counters`: its header with the
    /// clock, then per function calls, loop back-edges, its latest loop's
    /// header and cycles), when someone reads them.
    counters: Option<&'m [AtomicU64]>,
    /// Its word that names the function running
    /// (`ipc_abi::counters::RUNNING`; a word nobody reads when not
    /// counting).
    running: &'m AtomicU64,
    /// Per function: the address of a compiled continuation of it and
    /// the IR block of the loop header it starts at (`OSR_WORDS` each);
    /// 0 when there is none (on-stack replacement).
    osr: Option<&'m [AtomicU64]>,
    /// Each function's branch edges in `counters` (empty: not counted).
    edges: Vec<&'m [AtomicU64]>,
    /// Each function's call targets in `counters` (empty: not counted).
    targets: Vec<&'m [AtomicU64]>,
    /// Per function, what entering a frame of it takes (`Entry`).
    entries: Vec<Entry<'m>>,
    /// Per function, what copying callees into it gave it (`inline`): the
    /// registers a frame of it takes, the copies' constants a frame gets
    /// with its own prologue.
    copies: Vec<crate::inline::Copies>,
}

/// Counters per function, and which is which: the layout of
/// `ipc_abi::counters`, after its header.
pub use ipc_abi::counters::{BACKEDGES, CALLS, COUNTER_WORDS, HEADER_WORDS, LOOP_HEADER as HEADER};
use ipc_abi::counters::{EDGES, RUNNING, TARGETS, edges_place, running_word};
/// Words per function in an on-stack-replacement table: entry, block
/// (`ipc_abi::proto::jit::APP_OSR_BASE`).
pub use ipc_abi::proto::jit::OSR_WORDS;

/// A counters object laid out for `module` as `ipc_abi::counters` says
/// (header, per function counters, then branch edges and call targets,
/// no names), all zero: for hosts that count without a profiler
/// (`bcrun --count`, tests).
pub fn counters_object(module: &Module) -> Vec<AtomicU64> {
    use ipc_abi::counters::{counter_offset, edges_offset, edges_word, header};
    let functions = module.functions.len();
    let lens: Vec<(usize, usize)> = module
        .functions
        .iter()
        .map(|f| (exec::edge_words(f), exec::target_words(f)))
        .collect();
    let total: usize = lens.iter().map(|(e, t)| e + t).sum();
    let mut words = alloc::vec![0u64; HEADER_WORDS + functions * COUNTER_WORDS + total];
    words[..HEADER_WORDS].copy_from_slice(&header(functions, 0, total));
    let mut at = edges_offset(functions, 0);
    for (f, &(edges, targets)) in lens.iter().enumerate() {
        words[counter_offset(f, EDGES) as usize / 8] = edges_word(at, edges);
        at += 8 * edges as u64;
        words[counter_offset(f, TARGETS) as usize / 8] = edges_word(at, targets);
        at += 8 * targets as u64;
    }
    words.into_iter().map(AtomicU64::new).collect()
}

/// The registers of the frame whose first is `base`, growing the register
/// file so that all `WINDOW` exist (those above the frame's are its
/// callees').
#[inline(always)]
fn window(file: &mut Vec<u64>, base: usize) -> &mut [u64; WINDOW] {
    let end = base + WINDOW;
    if end <= file.len() {
        // (One check: the slice's end is known to be within the file.)
        return (&mut file[base..end]).try_into().expect("WINDOW long");
    }
    grow(file, end);
    file[base..].first_chunk_mut().expect("grown above")
}

/// Makes the register file `len` registers long (new ones zero).
#[cold]
#[inline(never)]
fn grow(file: &mut Vec<u64>, len: usize) {
    file.resize(len, 0);
}

/// Keeps the low `w` bits of `v`.
pub fn mask(w: Width, v: u64) -> u64 {
    match w {
        Width::W64 => v,
        w => v & ((1u64 << w.bits()) - 1),
    }
}

/// `v` (width `w`) sign-extended to 64 bits.
pub fn sext(w: Width, v: u64) -> i64 {
    let s = 64 - w.bits();
    ((v << s) as i64) >> s
}

/// A value of `class` as registers hold it (narrow integers zero-extended,
/// a `float` in the low 32 bits).
pub fn canonical(v: u64, class: Class) -> u64 {
    match class {
        Class::Int { width, .. } => mask(width, v),
        Class::F32 => v & 0xffff_ffff,
        Class::F64 | Class::Memory { .. } => v,
    }
}

pub(crate) fn f32_of(v: u64) -> f32 {
    f32::from_bits(v as u32)
}

pub(crate) fn f64_of(v: u64) -> f64 {
    f64::from_bits(v)
}

pub(crate) fn from_f32(x: f32) -> u64 {
    x.to_bits() as u64
}

impl<'m> Interp<'m> {
    pub fn new(module: &'m Module) -> Self {
        let mut ops: Vec<Vec<Op>> = module
            .functions
            .iter()
            .map(|f| match &f.body {
                Body::Code { code, .. } => {
                    let mut ops = exec::translate(code);
                    exec::link_calls(&mut ops, code, module);
                    ops
                }
                Body::Unsupported { .. } => Vec::new(),
            })
            .collect();
        // Small leaf callees copied into their callers (`inline`), and
        // each function's frame size with the copies' registers.
        let copies: Vec<crate::inline::Copies> = (0..module.functions.len())
            .map(|f| crate::inline::inline_leaves(module, f, &mut ops[f]))
            .collect();
        let entries = module
            .functions
            .iter()
            .zip(ops)
            .zip(&copies)
            .map(|((f, ops), copies)| {
                let code: &'m [Inst] = match &f.body {
                    Body::Code { code, .. } => code,
                    Body::Unsupported { .. } => &[],
                };
                let prologue = prologue_len(code);
                let ops = CheckedOps::new(ops, prologue)
                    .expect("the execution form jumps only within itself");
                Entry {
                    // Counting nowhere until `find_entries`.
                    loops: step::Loops {
                        count: &UNCOUNTED,
                        header: &UNCOUNTED,
                        osr: &NO_OSR,
                        edges: &[],
                        targets: &[],
                        counters: &[],
                    },
                    calls: &UNCOUNTED,
                    prologue,
                    code,
                    ops,
                    regs: copies.regs,
                    start: core::cell::OnceCell::new(),
                }
            })
            .collect();
        let mut i = Interp {
            module,
            stack: mem::Region::new(STACK_BYTES),
            sp: core::cell::Cell::new(0),
            files: core::cell::RefCell::new(Vec::new()),
            counters: None,
            running: &UNCOUNTED,
            edges: Vec::new(),
            targets: Vec::new(),
            osr: None,
            entries,
            copies,
        };
        i.find_entries();
        i
    }

    /// Points each function's [`Entry`] at where its counts go.
    fn find_entries(&mut self) {
        let counted: Vec<_> = (0..self.module.functions.len() as u32)
            .map(|f| (self.loops(f), self.counter(f, CALLS)))
            .collect();
        for (entry, (loops, calls)) in self.entries.iter_mut().zip(counted) {
            entry.loops = loops;
            entry.calls = calls;
        }
    }

    /// The same, counting each function's calls, loop back-edges and
    /// cycles into `counters`, a counters object laid out as
    /// `ipc_abi::counters` says (header first; too short a slice counts
    /// nothing).
    pub fn with_counters(module: &'m Module, counters: &'m [AtomicU64]) -> Self {
        let mut i = Interp::new(module);
        if counters.len() >= HEADER_WORDS + module.functions.len() * COUNTER_WORDS {
            i.counters = Some(counters);
            i.running = &counters[RUNNING];
            // Where the object says each function's edges and call targets
            // are, if that is inside it and as many words as they take.
            let area = |which: usize, expected: fn(&Function) -> usize| {
                module
                    .functions
                    .iter()
                    .enumerate()
                    .map(|(f, func)| {
                        let word = counters
                            [ipc_abi::counters::counter_offset(f, which) as usize / 8]
                            .load(Ordering::Relaxed);
                        let (at, words) = edges_place(word);
                        let start = at as usize / 8;
                        match counters.get(start..start.saturating_add(words)) {
                            Some(e) if at % 8 == 0 && words == expected(func) => e,
                            _ => &[],
                        }
                    })
                    .collect()
            };
            i.edges = area(EDGES, crate::exec::edge_words);
            i.targets = area(TARGETS, crate::exec::target_words);
            i.find_entries();
        }
        i
    }

    /// From now on function `func` runs: the profiler, sampling, charges
    /// the time to it (`ipc_abi::counters::RUNNING`).
    #[inline]
    fn switch_to(&self, func: u32) {
        self.running
            .store(running_word(func as usize), Ordering::Relaxed);
    }

    /// The frame on top runs again (after a call it made returned).
    #[inline]
    fn switch_back(&self, frames: &[Frame]) {
        if let Some(f) = frames.last() {
            self.switch_to(f.func);
        }
    }

    /// Lets running frames move to compiled continuations named in `osr`
    /// (`OSR_WORDS` per function, in table order; too short a slice
    /// moves none).
    pub fn with_osr(mut self, osr: &'m [AtomicU64]) -> Self {
        if osr.len() >= self.module.functions.len() * OSR_WORDS {
            self.osr = Some(osr);
            self.find_entries();
        }
        self
    }

    /// Where the loops of a frame of `func` report (`step::Loops`).
    fn loops(&self, func: u32) -> step::Loops<'m> {
        step::Loops {
            count: self.counter(func, BACKEDGES),
            header: self.counter(func, HEADER),
            osr: self
                .osr
                .and_then(|t| t.get(func as usize * OSR_WORDS))
                .unwrap_or(&NO_OSR),
            edges: self.edges.get(func as usize).copied().unwrap_or(&[]),
            targets: self.targets.get(func as usize).copied().unwrap_or(&[]),
            counters: self.counters.unwrap_or(&[]),
        }
    }

    /// At a back-edge to `block`: if a compiled continuation of `func`
    /// starts at that loop header, runs the rest of the frame there (its
    /// values passed from our registers, by the function's `osr` map; its
    /// frame memory stays where it is) and returns the frame's result.
    fn replace_on_stack(
        &self,
        m: &dyn Machine,
        func: u32,
        block: u32,
        fr: &[u64; WINDOW],
        frames: &[Frame],
    ) -> Option<[u64; 2]> {
        let table = self.osr?;
        let entry = table
            .get(func as usize * OSR_WORDS)?
            .load(Ordering::Acquire);
        let word = |k: usize| table.get(func as usize * OSR_WORDS + k);
        let at = word(1)?.load(Ordering::Relaxed);
        let digest = word(2)?.load(Ordering::Relaxed);
        let f = &self.module.functions[func as usize];
        let frame = frames.last()?;
        if entry == 0 || at != block as u64 || f.osr.is_empty() || frame.va().is_some() {
            return None;
        }
        if digest != f.osr_digest {
            // Built from a function whose values are not ours: never run.
            m.replacement_refused(func);
            return None;
        }
        let state: Vec<u64> = f
            .osr
            .iter()
            .map(|&r| if r == NO_REGISTER { 0 } else { fr[r as usize] })
            .collect();
        m.replaced_on_stack(func, block);
        let classes: Vec<Class> = f.ret.iter().chain(&f.ret2).copied().collect();
        let arg = [(state.as_ptr() as u64, PTR_CLASS)];
        let v = m.call_native(entry, &arg, false, &classes);
        let mut out = [0; 2];
        for (k, c) in classes.iter().enumerate() {
            out[k] = canonical(v[k], *c);
        }
        Some(out)
    }

    #[inline(always)]
    /// Ends the top frame with result `v`: `Some(result of run)` when the
    /// run is over (the last frame, or back at `floor`), `None` to go on
    /// in the caller.
    fn pop_frame(
        &self,
        regs: &mut [u64],
        frames: &mut Vec<Frame>,
        v: [u64; 2],
        floor: usize,
    ) -> Option<Option<[u64; 2]>> {
        // Its registers stay allocated for the next call (they are
        // written before they are read).
        let done = frames.pop().expect("the returning frame");
        self.sp.set(done.stack_mark);
        let Some(caller) = frames.last() else {
            return Some(Some(v));
        };
        for (dst, v) in [done.ret, done.ret2].into_iter().zip(v) {
            if let Some(dst) = dst {
                regs[caller.base + dst as usize] = v;
            }
        }
        (frames.len() == floor).then_some(None)
    }

    /// Function `func`'s counter `which`.
    fn counter(&self, func: u32, which: usize) -> &'m AtomicU64 {
        self.counters
            .and_then(|c| c.get(HEADER_WORDS + func as usize * COUNTER_WORDS + which))
            .unwrap_or(&UNCOUNTED)
    }

    pub fn module(&self) -> &'m Module {
        self.module
    }

    /// Runs function `index` for a native caller that reached it through
    /// `native::entry`: takes its arguments from the caller's registers
    /// and stack (`stack`: the first stack argument's address), gives a
    /// variadic function its extra arguments, and puts the result where
    /// the caller expects it; returns the value for `rax`.
    pub fn call_from_native(
        &self,
        m: &dyn Machine,
        index: u32,
        incoming: &mut crate::native::Incoming,
        stack: u64,
    ) -> Result<u64, Trap> {
        let f = &self.module.functions[index as usize];
        let (args, gp_used, xmm_used, stack_used) =
            abi::take(&f.params, &incoming.gp, &incoming.xmm, stack);
        let va = f.variadic.then_some(VarArgs {
            gp: incoming.gp,
            xmm: incoming.xmm,
            stack,
            gp_used,
            xmm_used,
            stack_used,
        });
        let v = self.call(m, index, &args, va)?;
        let classes: Vec<Class> = f.ret.iter().chain(&f.ret2).copied().collect();
        Ok(incoming.set_results(&classes, v))
    }

    /// Runs function `func` with `args` (one per parameter) and, for a
    /// variadic one, where its extra arguments are. Returns its result
    /// registers (0 for none; the second for a two-register result).
    pub fn call(
        &self,
        m: &dyn Machine,
        func: u32,
        args: &[u64],
        va: Option<VarArgs>,
    ) -> Result<[u64; 2], Trap> {
        let mark = self.sp.get();
        let mut frames: Vec<Frame> = Vec::new();
        // A register file from an earlier call (growing one costs clearing
        // it: a callback called a million times must not pay that each
        // time); one of its own for a call made while another runs.
        // A new one is allocated zeroed with the first frame's whole window
        // and some room for its callees' (`alloc_zeroed`: fresh pages from
        // the system, not a loop clearing half a megabyte, as growing an
        // empty one would). Not more: every call in from native code that
        // finds none free makes one (recursion through compiled code).
        let mut regs: Vec<u64> = self
            .files
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| alloc::vec![0; WINDOW + WINDOW / 8]);
        let result = self
            .enter(m, &mut regs, &mut frames, func, args, (None, None), va)
            .and_then(|()| {
                self.switch_to(func);
                self.run(m, &mut regs, &mut frames, 0)
            })
            .map(|v| v.unwrap_or([0; 2]));
        // A trap leaves frames behind: their memory goes with them.
        self.sp.set(mark);
        self.files.borrow_mut().push(regs);
        result
    }

    /// Pushes a frame of `func` (the caller starts its clock, `switch_to`).
    #[allow(clippy::too_many_arguments, reason = "one frame's parts, each its own")]
    fn enter(
        &self,
        m: &dyn Machine,
        regs_file: &mut Vec<u64>,
        frames: &mut Vec<Frame>,
        func: u32,
        args: &[u64],
        ret: (Option<Reg>, Option<Reg>),
        va: Option<VarArgs>,
    ) -> Result<(), Trap> {
        let f = &self.module.functions[func as usize];
        if !matches!(f.body, Body::Code { .. }) {
            return Err(Trap::NotInterpretable(func));
        }
        let base = frames.last().map_or(0, |f| f.end);
        let end = base + self.entries[func as usize].regs;
        if regs_file.len() < end {
            regs_file.resize(end, 0);
        }
        for (i, (&a, &c)) in args.iter().zip(&f.params).enumerate() {
            regs_file[base + i] = canonical(a, c);
        }
        let variadic = va.map(|va| {
            Box::new(Variadic {
                va: Some(va),
                outgoing: Vec::new(),
            })
        });
        self.open_frame(m, regs_file, frames, func, base, end, ret, variadic);
        Ok(())
    }

    /// Pushes a frame of `func` whose registers are
    /// `base..end` of `regs_file`, its arguments already in place: sets
    /// its prologue's registers, counts the call, starts at the
    /// instruction after the prologue; returns where that is.
    #[allow(clippy::too_many_arguments, reason = "one frame's parts, each its own")]
    #[inline(always)]
    fn open_frame(
        &self,
        m: &dyn Machine,
        regs_file: &mut [u64],
        frames: &mut Vec<Frame>,
        func: u32,
        base: usize,
        end: usize,
        ret: (Option<Reg>, Option<Reg>),
        variadic: Option<Box<Variadic>>,
    ) -> usize {
        let entry = &self.entries[func as usize];
        let fixed = self.prologue(m, func);
        // The validator keeps every register inside the frame.
        let frame_regs = &mut regs_file[base..end];
        for &(r, v) in fixed {
            frame_regs[r as usize] = v;
        }
        step::bump(entry.calls);
        frames.push(Frame {
            func,
            pc: entry.prologue,
            base,
            end,
            ret: ret.0,
            ret2: ret.1,
            stack_mark: self.sp.get(),
            variadic,
        });
        entry.prologue
    }

    /// The registers a new frame of `func` starts with and their values
    /// (its prologue's and its copies').
    #[inline(always)]
    fn prologue(&self, m: &dyn Machine, func: u32) -> &[(Reg, u64)] {
        &self.start(m, func).fixed
    }

    /// Whether a call of program function `func` runs here (or goes to
    /// its compiled code, or its stub).
    #[inline(always)]
    fn interpreted(&self, m: &dyn Machine, func: u32) -> bool {
        self.interpreted_entry(m, func).is_some()
    }

    /// `func`'s entry and what its first call found, when a call of it
    /// runs here (one look at the entry: the fast loop's calls).
    #[inline(always)]
    fn interpreted_entry(&self, m: &dyn Machine, func: u32) -> Option<(&Entry<'m>, &Start)> {
        let (entry, start) = self.entry_start(m, func);
        let (word, value) = start.interpreted_while;
        let here = word.load(Ordering::Acquire) == value || m.compiled(func).is_none();
        here.then_some((entry, start))
    }

    #[inline(always)]
    fn start(&self, m: &dyn Machine, func: u32) -> &Start {
        self.entry_start(m, func).1
    }

    /// `func`'s entry and what its first call finds out (found then).
    #[inline(always)]
    fn entry_start(&self, m: &dyn Machine, func: u32) -> (&Entry<'m>, &Start) {
        let entry = &self.entries[func as usize];
        let start = match entry.start.get() {
            Some(start) => start,
            None => self.first_call(m, func),
        };
        (entry, start)
    }

    /// `start` at the function's first call.
    #[cold]
    #[inline(never)]
    fn first_call(&self, m: &dyn Machine, func: u32) -> &Start {
        let entry = &self.entries[func as usize];
        entry.start.get_or_init(|| {
            // Each register's value as the prologue leaves it, in order.
            let mut values = alloc::collections::BTreeMap::<Reg, u64>::new();
            let mut fixed: Vec<(Reg, u64)> = Vec::new();
            for i in &entry.code[..entry.prologue] {
                let (dst, v) = match *i {
                    Inst::Const { dst, value } => (dst, value),
                    Inst::Addr { dst, sym } => (dst, m.symbol(sym)),
                    Inst::FuncAddr { dst, func } => (dst, m.function_address(func)),
                    Inst::AddImm { dst, a, imm } => (dst, values[&a].wrapping_add(imm as u64)),
                    _ => unreachable!("prologue_len takes these only"),
                };
                values.insert(dst, v);
                fixed.push((dst, v));
            }
            fixed.extend(self.copies[func as usize].constants.iter().copied());
            // Whole groups of `FIXED_GROUP` (the last write repeated): a new
            // frame's loop over them then has no remainder to handle.
            if let Some(&last) = fixed.last() {
                fixed.resize(fixed.len().next_multiple_of(FIXED_GROUP), last);
            }
            Start {
                fixed,
                interpreted_while: m.interpreted_while(func).unwrap_or((&NEVER, 1)),
            }
        })
    }

    /// The code, the same in execution form, the position and the
    /// register base of the frame on top.
    #[inline(always)]
    fn resume(&self, frames: &[Frame]) -> (&'m [Inst], Ops<'_>, usize, usize) {
        let top = frames.last().expect("a frame");
        let f = top.func as usize;
        (
            self.entries[f].code,
            self.entries[f].ops.view(),
            top.pc,
            top.base,
        )
    }

    /// Frame memory of `size` bytes at `align`.
    fn alloca(&self, size: u64, align: u64) -> Result<u64, Trap> {
        let start = self.stack.start();
        let at = (start + self.sp.get() as u64).next_multiple_of(align.max(16));
        let end = at.checked_add(size).ok_or(Trap::StackOverflow)?;
        if end > start + STACK_BYTES as u64 {
            return Err(Trap::StackOverflow);
        }
        // Like a native stack, frame memory is not cleared: C leaves locals
        // uninitialized, and LLVM's `alloca` is undefined until stored.
        self.sp.set((end - start).next_multiple_of(16) as usize);
        Ok(at)
    }
}
