//! The interpreter: runs a validated [`Module`]'s functions on real memory
//! (the program's loads and stores are its own, as in compiled code; frame
//! objects live in the interpreter's stack, at real addresses), calling
//! out through a [`Machine`] for everything outside the interpreted code:
//! native code (the C library, compiled functions) and addresses.
//!
//! Calls between interpreted functions use an explicit frame stack, not the
//! host's: deep recursion in the program costs interpreter memory only.

use crate::abi;
use crate::exec::{self, Op};
use crate::format::*;
use crate::mem;
use crate::ops::{bin, bin128, cast, fbin, fcmp, fun, icmp, icmp128, overflow, wide};
use crate::step::{self, WINDOW};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

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

struct Frame<'m> {
    /// Its function (its index).
    func: u32,
    /// Its function's code, and the same in execution form.
    code: &'m [Inst],
    ops: &'m [Op],
    pc: usize,
    base: usize,
    /// One past its last register (where a callee's start).
    end: usize,
    /// Where the caller wants the result (and its second register).
    ret: Option<Reg>,
    ret2: Option<Reg>,
    stack_mark: usize,
    va: Option<Box<VarArgs>>,
    /// Stack slots of a variadic call this frame made to an interpreted
    /// function: they must live as long as the callee.
    outgoing: Vec<u64>,
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
    /// Each function's code in execution form (empty where it has none).
    ops: Vec<Vec<Op>>,
    /// Register files of calls that have returned, for the next ones.
    files: core::cell::RefCell<Vec<Vec<u64>>>,
    /// The counters object (`ipc_abi::counters`: its header with the
    /// clock, then per function calls, loop back-edges, its latest loop's
    /// header and cycles), when someone reads them.
    counters: Option<&'m [AtomicU64]>,
    /// Per function: the address of a compiled continuation of it and
    /// the IR block of the loop header it starts at (`OSR_WORDS` each);
    /// 0 when there is none (on-stack replacement).
    osr: Option<&'m [AtomicU64]>,
    /// Each function's branch edges in `counters` (empty: not counted).
    edges: Vec<&'m [AtomicU64]>,
    /// Each function's call targets in `counters` (empty: not counted).
    targets: Vec<&'m [AtomicU64]>,
    /// Where counts go when nobody reads them.
    uncounted: AtomicU64,
    /// The on-stack-replacement entry of functions with none (always 0).
    uncounted_osr: AtomicU64,
}

/// Counters per function, and which is which: the layout of
/// `ipc_abi::counters`, after its header.
pub use ipc_abi::counters::{BACKEDGES, CALLS, COUNTER_WORDS, HEADER_WORDS, LOOP_HEADER as HEADER};
use ipc_abi::counters::{EDGES, RUNNING, TARGETS, edges_place, running_word};
/// Words per function in an on-stack-replacement table: entry, block
/// (`ipc_abi::proto::jit::APP_OSR_BASE`).
pub use ipc_abi::proto::jit::OSR_WORDS;

/// The registers of the frame whose first is `base`, growing the register
/// file so that all `WINDOW` exist (those above the frame's are its
/// callees').
fn window(file: &mut Vec<u64>, base: usize) -> &mut [u64; WINDOW] {
    let need = base + WINDOW;
    if file.len() < need {
        file.resize(need, 0);
    }
    <&mut [u64; WINDOW]>::try_from(&mut file[base..need]).expect("the length made above")
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
        Interp {
            module,
            stack: mem::Region::new(STACK_BYTES),
            sp: core::cell::Cell::new(0),
            files: core::cell::RefCell::new(Vec::new()),
            counters: None,
            edges: Vec::new(),
            targets: Vec::new(),
            osr: None,
            uncounted: AtomicU64::new(0),
            uncounted_osr: AtomicU64::new(0),
            ops: module
                .functions
                .iter()
                .map(|f| match &f.body {
                    Body::Code { code, .. } => exec::translate(code),
                    Body::Unsupported { .. } => Vec::new(),
                })
                .collect(),
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
        }
        i
    }

    /// From now on function `func` runs: the profiler, sampling, charges
    /// the time to it (`ipc_abi::counters::RUNNING`).
    #[inline]
    fn switch_to(&self, func: u32) {
        if let Some(c) = self.counters {
            c[RUNNING].store(running_word(func as usize), Ordering::Relaxed);
        }
    }

    /// The frame on top runs again (after a call it made returned).
    #[inline]
    fn switch_back(&self, frames: &[Frame<'_>]) {
        if self.counters.is_some()
            && let Some(f) = frames.last()
        {
            self.switch_to(f.func);
        }
    }

    /// Lets running frames move to compiled continuations named in `osr`
    /// (`OSR_WORDS` per function, in table order; too short a slice
    /// moves none).
    pub fn with_osr(mut self, osr: &'m [AtomicU64]) -> Self {
        if osr.len() >= self.module.functions.len() * OSR_WORDS {
            self.osr = Some(osr);
        }
        self
    }

    /// Where the loops of a frame of `func` report (`step::Loops`).
    fn loops(&self, func: u32) -> step::Loops<'_> {
        step::Loops {
            count: self.counter(func, BACKEDGES),
            header: self.counter(func, HEADER),
            osr: self
                .osr
                .and_then(|t| t.get(func as usize * OSR_WORDS))
                .unwrap_or(&self.uncounted_osr),
            edges: self.edges.get(func as usize).copied().unwrap_or(&[]),
            targets: self.targets.get(func as usize).copied().unwrap_or(&[]),
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
        frames: &[Frame<'_>],
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
        if entry == 0 || at != block as u64 || f.osr.is_empty() || frame.va.is_some() {
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
        frames: &mut Vec<Frame<'_>>,
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
    fn counter(&self, func: u32, which: usize) -> &AtomicU64 {
        self.counters
            .and_then(|c| c.get(HEADER_WORDS + func as usize * COUNTER_WORDS + which))
            .unwrap_or(&self.uncounted)
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
        let mut regs: Vec<u64> = self.files.borrow_mut().pop().unwrap_or_default();
        let result = self
            .enter(&mut regs, &mut frames, func, args, (None, None), va)
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
    fn enter<'s>(
        &'s self,
        regs_file: &mut Vec<u64>,
        frames: &mut Vec<Frame<'s>>,
        func: u32,
        args: &[u64],
        ret: (Option<Reg>, Option<Reg>),
        va: Option<VarArgs>,
    ) -> Result<(), Trap> {
        let module = self.module;
        let f = &module.functions[func as usize];
        let Body::Code { regs, code } = &f.body else {
            return Err(Trap::NotInterpretable(func));
        };
        let base = frames.last().map_or(0, |f| f.end);
        let end = base + *regs as usize;
        if regs_file.len() < end {
            regs_file.resize(end, 0);
        }
        for (i, (&a, &c)) in args.iter().zip(&f.params).enumerate() {
            regs_file[base + i] = canonical(a, c);
        }
        step::bump(self.counter(func, CALLS));
        frames.push(Frame {
            func,
            code,
            ops: &self.ops[func as usize],
            pc: 0,
            base,
            end,
            ret: ret.0,
            ret2: ret.1,
            stack_mark: self.sp.get(),
            va: va.map(Box::new),
            outgoing: Vec::new(),
        });
        Ok(())
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

    /// Runs until the frame above `floor` returns: `Some(results)` when
    /// that was the last frame, `None` when the result went to the caller
    /// frame at `floor` (a run resumed after `setjmp`, see
    /// `CallReturnsTwice`).
    fn run<'s>(
        &'s self,
        m: &dyn Machine,
        regs: &mut Vec<u64>,
        frames: &mut Vec<Frame<'s>>,
        floor: usize,
    ) -> Result<Option<[u64; 2]>, Trap> {
        let module = self.module;
        // The running frame's code, position and registers, kept in locals
        // (the frame's own `pc` is written back only when it calls).
        let (mut code, mut ops, mut pc, mut base) = resume(frames);
        let mut loops = self.loops(frames[frames.len() - 1].func);
        let mut fr = window(regs, base);
        loop {
            let op = &ops[pc];
            pc += 1;
            if step::step(op, fr, &mut pc, &loops)? {
                continue;
            }
            // The rest, from the instruction itself.
            let inst = &code[pc - 1];
            match inst {
                Inst::Const { dst, value } => fr[*dst as usize] = *value,
                Inst::Addr { dst, sym } => fr[*dst as usize] = m.symbol(*sym),
                Inst::FuncAddr { dst, func } => fr[*dst as usize] = m.function_address(*func),
                Inst::Move { dst, src } => fr[*dst as usize] = fr[*src as usize],
                Inst::Bin { op, w, dst, a, b } => {
                    let v = bin(*op, *w, fr[*a as usize], fr[*b as usize])?;
                    fr[*dst as usize] = v;
                }
                Inst::Abs { w, dst, a } => {
                    fr[*dst as usize] = mask(*w, sext(*w, fr[*a as usize]).wrapping_abs() as u64)
                }
                Inst::FBin { op, f, dst, a, b } => {
                    fr[*dst as usize] = fbin(*op, *f, fr[*a as usize], fr[*b as usize])
                }
                Inst::F64Add { dst, a, b } => {
                    fr[*dst as usize] =
                        (f64_of(fr[*a as usize]) + f64_of(fr[*b as usize])).to_bits()
                }
                Inst::F64Sub { dst, a, b } => {
                    fr[*dst as usize] =
                        (f64_of(fr[*a as usize]) - f64_of(fr[*b as usize])).to_bits()
                }
                Inst::F64Mul { dst, a, b } => {
                    fr[*dst as usize] =
                        (f64_of(fr[*a as usize]) * f64_of(fr[*b as usize])).to_bits()
                }
                Inst::F64Div { dst, a, b } => {
                    fr[*dst as usize] =
                        (f64_of(fr[*a as usize]) / f64_of(fr[*b as usize])).to_bits()
                }
                Inst::FUn { op, f, dst, a } => fr[*dst as usize] = fun(*op, *f, fr[*a as usize]),
                Inst::FMulAdd { f, dst, a, b, c } => {
                    let (a, b, c) = (fr[*a as usize], fr[*b as usize], fr[*c as usize]);
                    fr[*dst as usize] = match f {
                        Float::F32 => from_f32(f32_of(a) * f32_of(b) + f32_of(c)),
                        Float::F64 => (f64_of(a) * f64_of(b) + f64_of(c)).to_bits(),
                    }
                }
                Inst::Wide { op, dst, a, b } => {
                    let x = wide(fr[*a as usize], fr[*a as usize + 1]);
                    let y = wide(fr[*b as usize], fr[*b as usize + 1]);
                    let v = bin128(*op, x, y)?;
                    fr[*dst as usize] = v as u64;
                    fr[*dst as usize + 1] = (v >> 64) as u64;
                }
                Inst::Overflow {
                    op,
                    signed,
                    w,
                    dst,
                    a,
                    b,
                } => {
                    let (x, y) = (fr[*a as usize], fr[*b as usize]);
                    let (value, overflowed) = overflow(*op, *signed, *w, x, y);
                    fr[*dst as usize] = value;
                    fr[*dst as usize + 1] = overflowed as u64;
                }
                Inst::WideCmp { p, dst, a, b } => {
                    let x = wide(fr[*a as usize], fr[*a as usize + 1]);
                    let y = wide(fr[*b as usize], fr[*b as usize + 1]);
                    fr[*dst as usize] = icmp128(*p, x, y) as u64;
                }
                Inst::WideExt {
                    signed,
                    from,
                    dst,
                    a,
                } => {
                    let v = fr[*a as usize];
                    let x = if *signed {
                        sext(*from, v) as i128 as u128
                    } else {
                        mask(*from, v) as u128
                    };
                    fr[*dst as usize] = x as u64;
                    fr[*dst as usize + 1] = (x >> 64) as u64;
                }
                Inst::WideTrunc { to, dst, a } => fr[*dst as usize] = mask(*to, fr[*a as usize]),
                Inst::WideFloat {
                    signed,
                    to_float,
                    f,
                    dst,
                    a,
                } => {
                    if *to_float {
                        let x = wide(fr[*a as usize], fr[*a as usize + 1]);
                        fr[*dst as usize] = match (f, signed) {
                            (Float::F32, true) => from_f32(x as i128 as f32),
                            (Float::F32, false) => from_f32(x as f32),
                            (Float::F64, true) => (x as i128 as f64).to_bits(),
                            (Float::F64, false) => (x as f64).to_bits(),
                        };
                    } else {
                        let v = fr[*a as usize];
                        let x = match f {
                            Float::F32 => f32_of(v) as f64,
                            Float::F64 => f64_of(v),
                        };
                        let bits = if *signed {
                            x as i128 as u128
                        } else {
                            x as u128
                        };
                        fr[*dst as usize] = bits as u64;
                        fr[*dst as usize + 1] = (bits >> 64) as u64;
                    }
                }
                Inst::ICmp { p, w, dst, a, b } => {
                    fr[*dst as usize] = icmp(*p, *w, fr[*a as usize], fr[*b as usize]) as u64
                }
                Inst::FCmp { p, f, dst, a, b } => {
                    fr[*dst as usize] = fcmp(*p, *f, fr[*a as usize], fr[*b as usize]) as u64
                }
                Inst::Cast { op, dst, a } => fr[*dst as usize] = cast(*op, fr[*a as usize]),
                Inst::Select { dst, cond, a, b } => {
                    let pick = if fr[*cond as usize] & 1 != 0 { a } else { b };
                    fr[*dst as usize] = fr[*pick as usize];
                }
                Inst::Load { size, dst, addr } => {
                    fr[*dst as usize] = mem::load(fr[*addr as usize], *size)
                }
                Inst::Store { size, addr, src } => {
                    mem::store(fr[*addr as usize], *size, fr[*src as usize])
                }
                Inst::Offset {
                    dst,
                    base: b,
                    index,
                    scale,
                } => {
                    let off = (fr[*index as usize] as i64).wrapping_mul(*scale);
                    fr[*dst as usize] = fr[*b as usize].wrapping_add(off as u64);
                }
                Inst::AddImm { dst, a, imm } => {
                    fr[*dst as usize] = fr[*a as usize].wrapping_add(*imm as u64)
                }
                Inst::Alloca { dst, size, align } => {
                    let at = self.alloca(*size as u64, *align as u64)?;
                    fr[*dst as usize] = at;
                }
                Inst::AllocaDyn {
                    dst,
                    count,
                    elem,
                    align,
                } => {
                    let size = fr[*count as usize]
                        .checked_mul(*elem as u64)
                        .ok_or(Trap::StackOverflow)?;
                    let at = self.alloca(size, *align as u64)?;
                    fr[*dst as usize] = at;
                }
                Inst::StackSave { dst } => fr[*dst as usize] = self.sp.get() as u64,
                Inst::StackRestore { src } => {
                    let to = fr[*src as usize] as usize;
                    let mark = frames.last().map_or(0, |f| f.stack_mark);
                    if to <= self.sp.get() && to >= mark {
                        self.sp.set(to);
                    }
                }
                Inst::MemCopy { dst, src, len } => {
                    mem::copy(fr[*dst as usize], fr[*src as usize], fr[*len as usize])
                }
                Inst::MemSet { dst, byte, len } => mem::set(
                    fr[*dst as usize],
                    fr[*byte as usize] as u8,
                    fr[*len as usize],
                ),
                Inst::Jump { to } => pc = *to as usize,
                Inst::BackJump { to, block } => {
                    loops.back_edge(*block);
                    pc = *to as usize;
                    let func = frames[frames.len() - 1].func;
                    if let Some(v) = self.replace_on_stack(m, func, *block, fr, frames) {
                        // The continuation ran the frame to its end.
                        if let Some(done) = self.pop_frame(regs, frames, v, floor) {
                            return Ok(done);
                        }
                        self.switch_back(frames);
                        (code, ops, pc, base) = resume(frames);
                        loops = self.loops(frames[frames.len() - 1].func);
                        fr = window(regs, base);
                    }
                }
                Inst::Branch {
                    cond,
                    then,
                    els,
                    edge,
                } => {
                    let taken = fr[*cond as usize] & 1 != 0;
                    loops.edge(*edge as usize, taken);
                    pc = if taken { *then } else { *els } as usize
                }
                Inst::CmpBranch {
                    p,
                    w,
                    a,
                    b,
                    then,
                    els,
                    edge,
                } => {
                    let taken = icmp(*p, *w, fr[*a as usize], fr[*b as usize]);
                    loops.edge(*edge as usize, taken);
                    pc = if taken { *then } else { *els } as usize
                }
                Inst::Switch {
                    w,
                    value,
                    default,
                    cases,
                } => {
                    let v = mask(*w, fr[*value as usize]);
                    pc = cases
                        .iter()
                        .find(|(c, _)| *c == v)
                        .map_or(*default, |(_, t)| *t) as usize;
                }
                Inst::Ret { .. } | Inst::Ret2 { .. } => {
                    let v = match inst {
                        Inst::Ret2 { a, b } => [fr[*a as usize], fr[*b as usize]],
                        Inst::Ret { value } => [value.map_or(0, |v| fr[v as usize]), 0],
                        _ => unreachable!(),
                    };
                    if let Some(done) = self.pop_frame(regs, frames, v, floor) {
                        return Ok(done);
                    }
                    self.switch_back(frames);
                    (code, ops, pc, base) = resume(frames);
                    loops = self.loops(frames[frames.len() - 1].func);
                    fr = window(regs, base);
                }
                Inst::Call {
                    callee,
                    args,
                    fixed,
                    ret,
                    ret2,
                } => {
                    let values = || -> Vec<(u64, Class)> {
                        args.iter().map(|&(a, c)| (fr[a as usize], c)).collect()
                    };
                    let target = match callee {
                        Callee::Function(i) => match m.compiled(*i) {
                            None => Ok(*i),
                            Some(addr) => Err(addr),
                        },
                        Callee::Symbol(s) => Err(m.symbol(*s)),
                        Callee::Indirect(p, site) => {
                            let addr = fr[*p as usize];
                            let f = m.function_at(addr);
                            loops.call_target(*site as usize, f);
                            match f {
                                Some(i)
                                    if m.compiled(i).is_none()
                                        && matches!(
                                            module.functions[i as usize].body,
                                            Body::Code { .. }
                                        ) =>
                                {
                                    Ok(i)
                                }
                                _ => Err(addr),
                            }
                        }
                    };
                    let variadic = (*fixed as usize) < args.len();
                    match target {
                        Err(addr) => {
                            // On the stack for the usual few arguments: a
                            // call to `sqrt` should not allocate.
                            let mut classes = [Class::F64; 2];
                            let mut results = 0;
                            for (_, c) in ret.iter().chain(ret2) {
                                classes[results] = *c;
                                results += 1;
                            }
                            let classes = &classes[..results];
                            const FEW: usize = 8;
                            let v = if args.len() <= FEW {
                                let mut few = [(0, Class::F64); FEW];
                                for (k, &(a, c)) in args.iter().enumerate() {
                                    few[k] = (fr[a as usize], c);
                                }
                                m.call_native(addr, &few[..args.len()], variadic, classes)
                            } else {
                                m.call_native(addr, &values(), variadic, classes)
                            };
                            for ((dst, c), v) in ret.iter().chain(ret2).zip(v) {
                                fr[*dst as usize] = canonical(v, *c);
                            }
                            self.switch_back(frames);
                        }
                        Ok(i) => {
                            if let Some(f) = frames.last_mut() {
                                f.pc = pc;
                            }
                            let callee_fn = &module.functions[i as usize];
                            let dst = (ret.map(|(d, _)| d), ret2.map(|(d, _)| d));
                            if callee_fn.variadic {
                                let placed = abi::place(values());
                                let (params, g, x, s) = abi::take(
                                    &callee_fn.params,
                                    &placed.gp,
                                    &placed.xmm,
                                    placed.stack.as_ptr() as u64,
                                );
                                let top = frames.last_mut().expect("caller");
                                top.outgoing = placed.stack;
                                let va = VarArgs {
                                    gp: placed.gp,
                                    xmm: placed.xmm,
                                    stack: top.outgoing.as_ptr() as u64,
                                    gp_used: g,
                                    xmm_used: x,
                                    stack_used: s,
                                };
                                self.enter(regs, frames, i, &params, dst, Some(va))?;
                                self.switch_to(i);
                                (code, ops, pc, base) = resume(frames);
                                loops = self.loops(frames[frames.len() - 1].func);
                                fr = window(regs, base);
                            } else {
                                // Straight from the caller's registers into
                                // the callee's: no allocation on the way.
                                let Body::Code {
                                    regs: n,
                                    code: callee_code,
                                } = &callee_fn.body
                                else {
                                    return Err(Trap::NotInterpretable(i));
                                };
                                let callee_base = frames.last().map_or(0, |f| f.end);
                                let end = callee_base + *n as usize;
                                if regs.len() < end {
                                    regs.resize(end, 0);
                                }
                                for (k, (&(a, _), &c)) in
                                    args.iter().zip(&callee_fn.params).enumerate()
                                {
                                    let mut v = canonical(regs[base + a as usize], c);
                                    if let Class::Memory { size } = c {
                                        // The callee's own copy, as a
                                        // native call's stack slots are.
                                        let copy = self.alloca(size as u64, 8)?;
                                        mem::copy(copy, v, size as u64);
                                        v = copy;
                                    }
                                    regs[callee_base + k] = v;
                                }
                                step::bump(self.counter(i, CALLS));
                                self.switch_to(i);
                                frames.push(Frame {
                                    func: i,
                                    code: callee_code,
                                    ops: &self.ops[i as usize],
                                    pc: 0,
                                    base: callee_base,
                                    end,
                                    ret: dst.0,
                                    ret2: dst.1,
                                    stack_mark: self.sp.get(),
                                    va: None,
                                    outgoing: Vec::new(),
                                });
                                (code, ops, pc, base) = resume(frames);
                                loops = self.loops(frames[frames.len() - 1].func);
                                fr = window(regs, base);
                            }
                        }
                    }
                }
                Inst::CallReturnsTwice { callee, args, ret } => {
                    let addr = match callee {
                        Callee::Symbol(s) => m.symbol(*s),
                        Callee::Indirect(p, site) => {
                            let addr = fr[*p as usize];
                            loops.call_target(*site as usize, m.function_at(addr));
                            addr
                        }
                        Callee::Function(_) => unreachable!("refused by the validator"),
                    };
                    let mut a = [0u64; 2];
                    for (k, &reg) in args.iter().enumerate() {
                        a[k] = fr[reg as usize];
                    }
                    if let Some(f) = frames.last_mut() {
                        f.pc = pc;
                    }
                    let depth = frames.len();
                    let sp = self.sp.get();
                    let ret = *ret;
                    let mut outcome = None;
                    let mut then = |value: u64| {
                        // Back to the state right after the call (after a
                        // longjmp, frames pushed since are gone).
                        frames.truncate(depth);
                        frames[depth - 1].pc = pc;
                        self.sp.set(sp);
                        if let Some((dst, c)) = ret {
                            regs[base + dst as usize] = canonical(value, c);
                        }
                        outcome = Some(self.run(m, regs, frames, depth - 1));
                    };
                    m.call_returns_twice(addr, a, &mut then);
                    match outcome.expect("the continuation ran") {
                        Ok(None) => {
                            (code, ops, pc, base) = resume(frames);
                            loops = self.loops(frames[frames.len() - 1].func);
                            fr = window(regs, base);
                        }
                        done => return done,
                    }
                }
                Inst::VaStart { list } => {
                    let list = fr[*list as usize];
                    let va = frames
                        .last()
                        .and_then(|f| f.va.as_deref().cloned())
                        .unwrap_or(VarArgs {
                            gp: [0; 6],
                            xmm: [0; 8],
                            stack: 0,
                            gp_used: 6,
                            xmm_used: 8,
                            stack_used: 0,
                        });
                    // The register save area, as a native prologue makes it:
                    // six general registers, then eight 16-byte XMM slots.
                    let area = self.alloca(176, 16)?;
                    for (i, v) in va.gp.iter().enumerate() {
                        mem::store(area + 8 * i as u64, Size::B8, *v);
                    }
                    for (i, v) in va.xmm.iter().enumerate() {
                        mem::store(area + 48 + 16 * i as u64, Size::B8, *v);
                    }
                    mem::store(list, Size::B4, 8 * va.gp_used as u64);
                    mem::store(list + 4, Size::B4, 48 + 16 * va.xmm_used as u64);
                    mem::store(list + 8, Size::B8, va.stack + 8 * va.stack_used as u64);
                    mem::store(list + 16, Size::B8, area);
                }
                Inst::VaCopy { dst, src } => mem::copy(fr[*dst as usize], fr[*src as usize], 24),
                Inst::VaArg { dst, list, class } => {
                    let list = fr[*list as usize];
                    let (off_at, limit, step) = match class {
                        Class::Int { .. } => (list, 48, 8),
                        Class::F32 | Class::F64 => (list + 4, 176, 16),
                        Class::Memory { .. } => unreachable!("refused by the validator"),
                    };
                    let off = mem::load(off_at, Size::B4);
                    let v = if off < limit {
                        mem::store(off_at, Size::B4, off + step);
                        mem::load(mem::load(list + 16, Size::B8) + off, Size::B8)
                    } else {
                        let over = mem::load(list + 8, Size::B8);
                        mem::store(list + 8, Size::B8, over + 8);
                        mem::load(over, Size::B8)
                    };
                    fr[*dst as usize] = canonical(v, *class);
                }
                Inst::Unreachable => return Err(Trap::Unreachable),
            }
        }
    }
}

/// The code, position and register base of the frame on top.
fn resume<'m>(frames: &[Frame<'m>]) -> (&'m [Inst], &'m [Op], usize, usize) {
    let top = frames.last().expect("a frame");
    (top.code, top.ops, top.pc, top.base)
}
