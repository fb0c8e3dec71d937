//! One step of the interpreter's loop for the ops that have a fast form
//! ([`Op`], made by `exec`): everything but calls, returns and the rare
//! instructions, which `interp` runs from the instruction itself.

use crate::checked::Pc;
use crate::exec::Op;
use crate::format::{Float, Size};
use crate::interp::{Trap, f64_of};
use crate::mem;
use crate::ops::fmuladd;
use core::sync::atomic::{AtomicU64, Ordering};

/// Registers a frame can name (`Reg` is 16 bits): the loop sees its
/// frame's registers as an array this long, so no access needs a check.
pub(crate) const WINDOW: usize = 1 << 16;

/// Runs `op` on the frame's registers `fr`, `pc` already past it: `true`
/// when done, `false` for [`Op::Other`] (the caller runs the instruction)
/// and for calls and returns (`Interp::fast` makes those).
/// Registers are canonical, so most need no mask. `pc` moves to a target
/// the op names or at most two past where it is (a fused op skipping the
/// ops it stands for): the fast loop's unchecked fetch relies on that
/// (`checked::MAX_ADVANCE`).
#[inline(always)]
pub(crate) fn step(
    op: &Op,
    fr: &mut [u64; WINDOW],
    pc: &mut Pc,
    loops: &Loops<'_>,
) -> Result<bool, Trap> {
    // The frequent operations (`exec`); their registers are
    // canonical, so most need no mask.
    macro_rules! set {
        ($d:expr, $v:expr) => {{
            let v = $v;
            fr[$d as usize] = v
        }};
    }
    macro_rules! get {
        ($r:expr) => {
            fr[$r as usize]
        };
    }
    // An address `base + index * scale`.
    macro_rules! indexed {
        ($b:expr, $i:expr, $s:expr) => {
            get!($b).wrapping_add((get!($i) as i64).wrapping_mul($s as i64) as u64)
        };
    }
    // A fused pair: the address into `d`, then the load into `v` or the
    // store of `v` through it (the next instruction, skipped).
    macro_rules! through {
        ($d:expr, $at:expr, load $v:expr, $size:ident) => {{
            let at = $at;
            set!($d, at);
            set!($v, mem::load(at, Size::$size));
            pc.skip(1);
        }};
        ($d:expr, $at:expr, store $v:expr, $size:ident) => {{
            let at = $at;
            set!($d, at);
            mem::store(at, Size::$size, get!($v));
            pc.skip(1);
        }};
    }
    // A conditional branch (counted as an edge, for the profiler).
    macro_rules! branch {
        ($cond:expr, $t:expr, $e:expr, $k:expr) => {{
            let taken = $cond;
            loops.edge($k as usize, taken);
            pc.jump(if taken { $t } else { $e })
        }};
    }
    // An addition, then a conditional branch that falls through past
    // the pair (`Op::AddBrEq`...): the comparison reads registers after
    // the sum is written.
    macro_rules! add_branch {
        ($w32:expr, $d:expr, $a:expr, $b:expr, $cond:expr, $t:expr, $k:expr) => {{
            let sum = get!($a).wrapping_add(get!($b));
            set!($d, if $w32 { sum as u32 as u64 } else { sum });
            let jumps = $cond;
            loops.edge_word($k as usize ^ usize::from(!jumps));
            if jumps { pc.jump($t) } else { pc.skip(1) }
        }};
    }
    match *op {
        Op::Const { d, v } => set!(d, v),
        Op::Move { d, s } => set!(d, get!(s)),
        Op::AddImm { d, a, imm } => set!(d, get!(a).wrapping_add(imm as u64)),
        Op::Offset {
            d,
            base: b,
            index,
            scale,
        } => set!(
            d,
            get!(b).wrapping_add((get!(index) as i64).wrapping_mul(scale as i64) as u64)
        ),
        Op::Add64 { d, a, b } => set!(d, get!(a).wrapping_add(get!(b))),
        Op::Sub64 { d, a, b } => set!(d, get!(a).wrapping_sub(get!(b))),
        Op::Mul64 { d, a, b } => set!(d, get!(a).wrapping_mul(get!(b))),
        Op::Add32 { d, a, b } => set!(d, get!(a).wrapping_add(get!(b)) as u32 as u64),
        Op::Sub32 { d, a, b } => set!(d, get!(a).wrapping_sub(get!(b)) as u32 as u64),
        Op::Mul32 { d, a, b } => set!(d, get!(a).wrapping_mul(get!(b)) as u32 as u64),
        Op::And { d, a, b } => set!(d, get!(a) & get!(b)),
        Op::Or { d, a, b } => set!(d, get!(a) | get!(b)),
        Op::Xor { d, a, b } => set!(d, get!(a) ^ get!(b)),
        Op::Shl64 { d, a, b } => set!(d, get!(a) << (get!(b) & 63)),
        Op::LShr64 { d, a, b } => set!(d, get!(a) >> (get!(b) & 63)),
        Op::AShr64 { d, a, b } => set!(d, ((get!(a) as i64) >> (get!(b) & 63)) as u64),
        Op::Shl32 { d, a, b } => set!(d, (get!(a) << (get!(b) & 31)) as u32 as u64),
        Op::LShr32 { d, a, b } => set!(d, get!(a) >> (get!(b) & 31)),
        Op::AShr32 { d, a, b } => {
            set!(d, ((get!(a) as u32 as i32) >> (get!(b) & 31)) as u32 as u64)
        }
        Op::Eq { d, a, b } => set!(d, (get!(a) == get!(b)) as u64),
        Op::Ne { d, a, b } => set!(d, (get!(a) != get!(b)) as u64),
        Op::Ult { d, a, b } => set!(d, (get!(a) < get!(b)) as u64),
        Op::Ule { d, a, b } => set!(d, (get!(a) <= get!(b)) as u64),
        Op::Slt64 { d, a, b } => set!(d, ((get!(a) as i64) < get!(b) as i64) as u64),
        Op::Sle64 { d, a, b } => set!(d, (get!(a) as i64 <= get!(b) as i64) as u64),
        Op::Slt32 { d, a, b } => set!(d, ((get!(a) as i32) < get!(b) as i32) as u64),
        Op::Sle32 { d, a, b } => set!(d, (get!(a) as i32 <= get!(b) as i32) as u64),
        Op::BrEq { a, b, t, e, k } => branch!(get!(a) == get!(b), t, e, k),
        Op::BrNe { a, b, t, e, k } => branch!(get!(a) != get!(b), t, e, k),
        Op::BrUlt { a, b, t, e, k } => branch!(get!(a) < get!(b), t, e, k),
        Op::BrUle { a, b, t, e, k } => branch!(get!(a) <= get!(b), t, e, k),
        Op::BrSlt64 { a, b, t, e, k } => branch!((get!(a) as i64) < get!(b) as i64, t, e, k),
        Op::BrSle64 { a, b, t, e, k } => branch!(get!(a) as i64 <= get!(b) as i64, t, e, k),
        Op::BrSlt32 { a, b, t, e, k } => branch!((get!(a) as i32) < get!(b) as i32, t, e, k),
        Op::BrSle32 { a, b, t, e, k } => branch!(get!(a) as i32 <= get!(b) as i32, t, e, k),
        Op::Branch { c, t, e, k } => branch!(get!(c) & 1 != 0, t, e, k),
        Op::Jump { to } => pc.jump(to),
        Op::Select { d, c, a, b } => {
            set!(d, if get!(c) & 1 != 0 { get!(a) } else { get!(b) })
        }
        Op::Load1 { d, addr } => set!(d, mem::load(get!(addr), Size::B1)),
        Op::Load2 { d, addr } => set!(d, mem::load(get!(addr), Size::B2)),
        Op::Load4 { d, addr } => set!(d, mem::load(get!(addr), Size::B4)),
        Op::Load8 { d, addr } => set!(d, mem::load(get!(addr), Size::B8)),
        Op::Store1 { addr, s } => mem::store(get!(addr), Size::B1, get!(s)),
        Op::Store2 { addr, s } => mem::store(get!(addr), Size::B2, get!(s)),
        Op::Store4 { addr, s } => mem::store(get!(addr), Size::B4, get!(s)),
        Op::Store8 { addr, s } => mem::store(get!(addr), Size::B8, get!(s)),
        Op::Trunc32 { d, a } => set!(d, get!(a) as u32 as u64),
        Op::Trunc8 { d, a } => set!(d, get!(a) as u8 as u64),
        Op::Trunc1 { d, a } => set!(d, get!(a) & 1),
        Op::Sext32To64 { d, a } => set!(d, get!(a) as i32 as i64 as u64),
        Op::LoadFieldStore {
            w8,
            d1,
            a1,
            d2,
            base,
            imm,
            v,
        } => {
            let size = if w8 { Size::B8 } else { Size::B4 };
            set!(d1, mem::load(get!(a1), size));
            let at = get!(base).wrapping_add(imm as i64 as u64);
            set!(d2, at);
            mem::store(at, size, get!(v));
            pc.skip(2);
        }
        Op::LoadFieldLoad8 {
            d1,
            a1,
            d2,
            base,
            imm,
            v,
        } => {
            set!(d1, mem::load(get!(a1), Size::B8));
            through!(d2, get!(base).wrapping_add(imm as i64 as u64), load v, B8);
            pc.skip(1);
        }
        Op::LoadOffsetLoad8 {
            d1,
            a1,
            d2,
            base,
            index,
            scale,
            v,
        } => {
            set!(d1, mem::load(get!(a1), Size::B8));
            through!(d2, indexed!(base, index, scale), load v, B8);
            pc.skip(1);
        }
        Op::F64MulDiv {
            d1,
            a1,
            b1,
            d2,
            a2,
            b2,
        } => {
            set!(d1, (f64_of(get!(a1)) * f64_of(get!(b1))).to_bits());
            set!(d2, (f64_of(get!(a2)) / f64_of(get!(b2))).to_bits());
            pc.skip(1);
        }
        Op::F64SubLoad8 { d1, a1, b1, d2, a2 } => {
            set!(d1, (f64_of(get!(a1)) - f64_of(get!(b1))).to_bits());
            set!(d2, mem::load(get!(a2), Size::B8));
            pc.skip(1);
        }
        Op::LoadMove { w8, d, a, md, ms } => {
            let size = if w8 { Size::B8 } else { Size::B4 };
            set!(d, mem::load(get!(a), size));
            set!(md, get!(ms));
            pc.skip(1);
        }
        Op::LoadLoad { w8, d1, a1, d2, a2 } => {
            let size = if w8 { Size::B8 } else { Size::B4 };
            set!(d1, mem::load(get!(a1), size));
            set!(d2, mem::load(get!(a2), size));
            pc.skip(1);
        }
        Op::MulSDiv32 {
            d1,
            a1,
            b1,
            d2,
            a2,
            b2,
        } => {
            set!(d1, get!(a1).wrapping_mul(get!(b1)) as u32 as u64);
            let (x, y) = (get!(a2) as i32, get!(b2) as i32);
            set!(d2, x.checked_div(y).ok_or(Trap::Divide)? as u32 as u64);
            pc.skip(1);
        }
        Op::I32ToF64Div { d1, a1, d2, a2, b2 } => {
            set!(d1, (get!(a1) as i32 as f64).to_bits());
            set!(d2, (f64_of(get!(a2)) / f64_of(get!(b2))).to_bits());
            pc.skip(1);
        }
        Op::F64LoadMulAdd {
            d,
            base,
            index,
            v,
            md,
            ma,
            mc,
        } => {
            let at = indexed!(base, index, 8);
            set!(d, at);
            set!(v, mem::load(at, Size::B8));
            set!(md, fmuladd(Float::F64, get!(ma), get!(v), get!(mc)));
            pc.skip(2);
        }
        Op::I32ToF64DivMoveJump {
            d1,
            a1,
            d2,
            a2,
            md,
            ms,
            to,
        } => {
            set!(d1, (get!(a1) as i32 as f64).to_bits());
            set!(d2, (f64_of(get!(a2)) / f64_of(get!(d1))).to_bits());
            set!(md, get!(ms));
            pc.jump(to)
        }
        Op::F64DivMoveJump {
            d,
            a,
            b,
            md,
            ms,
            to,
        } => {
            set!(d, (f64_of(get!(a)) / f64_of(get!(b))).to_bits());
            set!(md, get!(ms));
            pc.jump(to)
        }
        Op::OffsetFieldLoad8 {
            d1,
            base,
            index,
            scale,
            d2,
            imm,
            v,
        } => {
            set!(d1, indexed!(base, index, scale));
            through!(d2, get!(d1).wrapping_add(imm as i64 as u64), load v, B8);
            pc.skip(1);
        }
        Op::AddAdd {
            w32,
            d1,
            a1,
            b1,
            d2,
            a2,
            b2,
        } => {
            if w32 {
                set!(d1, get!(a1).wrapping_add(get!(b1)) as u32 as u64);
                set!(d2, get!(a2).wrapping_add(get!(b2)) as u32 as u64);
            } else {
                set!(d1, get!(a1).wrapping_add(get!(b1)));
                set!(d2, get!(a2).wrapping_add(get!(b2)));
            }
            pc.skip(1);
        }
        Op::StoreStore { w8, a1, v1, a2, v2 } => {
            let size = if w8 { Size::B8 } else { Size::B4 };
            mem::store(get!(a1), size, get!(v1));
            mem::store(get!(a2), size, get!(v2));
            pc.skip(1);
        }
        Op::F64MulAddStore { d, a, b, c, addr } => {
            set!(d, fmuladd(Float::F64, get!(a), get!(b), get!(c)));
            mem::store(get!(addr), Size::B8, get!(d));
            pc.skip(1);
        }
        Op::F64MulMulAdd {
            d1,
            a1,
            b1,
            d2,
            a2,
            b2,
            c2,
        } => {
            set!(d1, (f64_of(get!(a1)) * f64_of(get!(b1))).to_bits());
            set!(d2, fmuladd(Float::F64, get!(a2), get!(b2), get!(c2)));
            pc.skip(1);
        }
        Op::F64NegMul { d1, a1, d2, a2, b2 } => {
            set!(d1, (-f64_of(get!(a1))).to_bits());
            set!(d2, (f64_of(get!(a2)) * f64_of(get!(b2))).to_bits());
            pc.skip(1);
        }
        Op::LoadAddStore { w32, l, p, s, a, b } => {
            if w32 {
                set!(l, mem::load(get!(p), Size::B4));
                set!(s, get!(a).wrapping_add(get!(b)) as u32 as u64);
                mem::store(get!(p), Size::B4, get!(s));
            } else {
                set!(l, mem::load(get!(p), Size::B8));
                set!(s, get!(a).wrapping_add(get!(b)));
                mem::store(get!(p), Size::B8, get!(s));
            }
            pc.skip(2);
        }
        Op::SextOffsetLoad4 {
            s,
            a,
            d,
            base,
            scale,
            v,
        } => {
            set!(s, get!(a) as i32 as i64 as u64);
            through!(d, indexed!(base, s, scale), load v, B4);
            pc.skip(1);
        }
        Op::F64Add { d, a, b } => set!(d, (f64_of(get!(a)) + f64_of(get!(b))).to_bits()),
        Op::F64Sub { d, a, b } => set!(d, (f64_of(get!(a)) - f64_of(get!(b))).to_bits()),
        Op::F64Mul { d, a, b } => set!(d, (f64_of(get!(a)) * f64_of(get!(b))).to_bits()),
        Op::F64Div { d, a, b } => set!(d, (f64_of(get!(a)) / f64_of(get!(b))).to_bits()),
        Op::F64MulAdd { d, a, b, c } => set!(d, fmuladd(Float::F64, get!(a), get!(b), get!(c))),
        Op::I32ToF64 { d, a } => set!(d, (get!(a) as i32 as f64).to_bits()),
        Op::I64ToF64 { d, a } => set!(d, (get!(a) as i64 as f64).to_bits()),
        Op::SDiv32 { d, a, b } => {
            let (x, y) = (get!(a) as i32, get!(b) as i32);
            set!(d, x.checked_div(y).ok_or(Trap::Divide)? as u32 as u64)
        }
        Op::SRem32 { d, a, b } => {
            let (x, y) = (get!(a) as i32, get!(b) as i32);
            set!(d, x.checked_rem(y).ok_or(Trap::Divide)? as u32 as u64)
        }
        Op::SDiv64 { d, a, b } => {
            let (x, y) = (get!(a) as i64, get!(b) as i64);
            set!(d, x.checked_div(y).ok_or(Trap::Divide)? as u64)
        }
        Op::SRem64 { d, a, b } => {
            let (x, y) = (get!(a) as i64, get!(b) as i64);
            set!(d, x.checked_rem(y).ok_or(Trap::Divide)? as u64)
        }
        Op::UDiv { d, a, b } => set!(d, get!(a).checked_div(get!(b)).ok_or(Trap::Divide)?),
        Op::URem { d, a, b } => set!(d, get!(a).checked_rem(get!(b)).ok_or(Trap::Divide)?),
        Op::MoveJump { d, s, to } => {
            set!(d, get!(s));
            pc.jump(to)
        }
        Op::OffsetLoad1 {
            d,
            base,
            index,
            scale,
            v,
        } => {
            through!(d, indexed!(base, index, scale), load v, B1)
        }
        Op::OffsetLoad2 {
            d,
            base,
            index,
            scale,
            v,
        } => {
            through!(d, indexed!(base, index, scale), load v, B2)
        }
        Op::OffsetLoad4 {
            d,
            base,
            index,
            scale,
            v,
        } => {
            through!(d, indexed!(base, index, scale), load v, B4)
        }
        Op::OffsetLoad8 {
            d,
            base,
            index,
            scale,
            v,
        } => {
            through!(d, indexed!(base, index, scale), load v, B8)
        }
        Op::OffsetStore1 {
            d,
            base,
            index,
            scale,
            v,
        } => {
            through!(d, indexed!(base, index, scale), store v, B1)
        }
        Op::OffsetStore2 {
            d,
            base,
            index,
            scale,
            v,
        } => {
            through!(d, indexed!(base, index, scale), store v, B2)
        }
        Op::OffsetStore4 {
            d,
            base,
            index,
            scale,
            v,
        } => {
            through!(d, indexed!(base, index, scale), store v, B4)
        }
        Op::OffsetStore8 {
            d,
            base,
            index,
            scale,
            v,
        } => {
            through!(d, indexed!(base, index, scale), store v, B8)
        }
        Op::FieldLoad4 { d, base, imm, v } => {
            through!(d, get!(base).wrapping_add(imm as i64 as u64), load v, B4)
        }
        Op::FieldLoad8 { d, base, imm, v } => {
            through!(d, get!(base).wrapping_add(imm as i64 as u64), load v, B8)
        }
        Op::FieldStore4 { d, base, imm, v } => {
            through!(d, get!(base).wrapping_add(imm as i64 as u64), store v, B4)
        }
        Op::FieldStore8 { d, base, imm, v } => {
            through!(d, get!(base).wrapping_add(imm as i64 as u64), store v, B8)
        }
        Op::F64Neg { d, a } => set!(d, (-f64_of(get!(a))).to_bits()),
        // With a compiled continuation waiting, the instruction runs
        // from `interp`, which moves the frame there.
        Op::LoopJump { .. } | Op::LoopMoveJump { .. } | Op::Move2LoopJump { .. }
            if loops.osr.load(Ordering::Relaxed) != 0 =>
        {
            return Ok(false);
        }
        Op::Move2Jump { d1, s1, d2, s2, to } => {
            set!(d1, get!(s1));
            set!(d2, get!(s2));
            pc.jump(to)
        }
        Op::Move2LoopJump {
            d1,
            s1,
            d2,
            s2,
            block,
            to,
        } => {
            set!(d1, get!(s1));
            set!(d2, get!(s2));
            loops.back_edge(block as u32);
            pc.jump(to)
        }
        Op::AddBrEq {
            w32,
            d,
            a,
            b,
            x,
            y,
            k,
            t,
        } => add_branch!(w32, d, a, b, get!(x) == get!(y), t, k),
        Op::AddBrNe {
            w32,
            d,
            a,
            b,
            x,
            y,
            k,
            t,
        } => add_branch!(w32, d, a, b, get!(x) != get!(y), t, k),
        Op::AddBrUlt {
            w32,
            d,
            a,
            b,
            x,
            y,
            k,
            t,
        } => add_branch!(w32, d, a, b, get!(x) < get!(y), t, k),
        Op::AddBrUle {
            w32,
            d,
            a,
            b,
            x,
            y,
            k,
            t,
        } => add_branch!(w32, d, a, b, get!(x) <= get!(y), t, k),
        Op::AddBrSlt64 {
            w32,
            d,
            a,
            b,
            x,
            y,
            k,
            t,
        } => add_branch!(w32, d, a, b, (get!(x) as i64) < get!(y) as i64, t, k),
        Op::AddBrSle64 {
            w32,
            d,
            a,
            b,
            x,
            y,
            k,
            t,
        } => add_branch!(w32, d, a, b, get!(x) as i64 <= get!(y) as i64, t, k),
        Op::AddBrSlt32 {
            w32,
            d,
            a,
            b,
            x,
            y,
            k,
            t,
        } => add_branch!(w32, d, a, b, (get!(x) as i32) < get!(y) as i32, t, k),
        Op::AddBrSle32 {
            w32,
            d,
            a,
            b,
            x,
            y,
            k,
            t,
        } => add_branch!(w32, d, a, b, get!(x) as i32 <= get!(y) as i32, t, k),
        Op::LoopJump { to, block } => {
            loops.back_edge(block);
            pc.jump(to)
        }
        Op::LoopMoveJump { d, s, to, block } => {
            set!(d, get!(s));
            loops.back_edge(block);
            pc.jump(to)
        }
        Op::CallSqrt { d, a, f32 } => {
            let x = get!(a);
            // A negative argument goes to the C library, for `errno`.
            if f32 {
                let x = f32::from_bits(x as u32);
                if x < 0.0 {
                    return Ok(false);
                }
                set!(d, x.sqrt().to_bits() as u64)
            } else {
                let x = f64_of(x);
                if x < 0.0 {
                    return Ok(false);
                }
                set!(d, x.sqrt().to_bits())
            }
        }
        Op::CallInline { calls, at } => {
            // The callee's copy, in this frame (`inline`).
            loops.count_call(calls);
            pc.jump(at)
        }
        Op::Other | Op::CallFn { .. } | Op::CallSym { .. } | Op::Ret { .. } | Op::AddRet { .. } => {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Adds one to a counter only this task writes (another may read it): a
/// plain load and store, no locked instruction.
#[inline(always)]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// Where the running frame's loops report: its function's back-edge
/// counter, the word that names the header of its latest loop (for the
/// profiler: which loop to compile a continuation for), and its
/// on-stack-replacement entry (non-zero when compiled code can take the
/// frame over at a loop header).
pub(crate) struct Loops<'a> {
    pub count: &'a AtomicU64,
    pub header: &'a AtomicU64,
    pub osr: &'a AtomicU64,
    /// The function's branch edges: taken and not taken, per conditional
    /// branch by its edge number (`ipc_abi::counters::EDGES`); empty when
    /// not counted.
    pub edges: &'a [AtomicU64],
    /// The function's call targets: `TARGET_WORDS` per call through a
    /// pointer, by its site number (`ipc_abi::counters::TARGETS`); empty
    /// when not counted.
    pub targets: &'a [AtomicU64],
    /// The whole counters object, where copied callees' calls are
    /// counted (`Op::CallInline`); empty when not counted.
    pub counters: &'a [AtomicU64],
}

impl Loops<'_> {
    /// A call of a copied callee, counted in `word`.
    #[inline(always)]
    pub fn count_call(&self, word: u32) {
        if let Some(c) = self.counters.get(word as usize) {
            bump(c);
        }
    }

    #[inline(always)]
    pub fn back_edge(&self, block: u32) {
        bump(self.count);
        self.header.store(block as u64, Ordering::Relaxed);
    }

    /// The call through a pointer at site `site` went to `target` (one of
    /// the program's functions, or `None`).
    #[inline]
    pub fn call_target(&self, site: usize, target: Option<u32>) {
        use ipc_abi::counters::{TARGET_WORDS, vote};
        if let Some(w) = self
            .targets
            .get(site * TARGET_WORDS..(site + 1) * TARGET_WORDS)
        {
            let words = vote(
                core::array::from_fn(|k| w[k].load(Ordering::Relaxed)),
                target,
            );
            for (c, v) in w.iter().zip(words) {
                c.store(v, Ordering::Relaxed);
            }
        }
    }

    /// Counts one in word `index` of the function's branch edges (none
    /// past their end).
    #[inline(always)]
    pub fn edge_word(&self, index: usize) {
        if let Some(c) = self.edges.get(index) {
            bump(c);
        }
    }

    /// The conditional branch numbered `edge` went (`taken`) to its first
    /// target or not.
    #[inline(always)]
    pub fn edge(&self, edge: usize, taken: bool) {
        self.edge_word(2 * edge + usize::from(!taken));
    }
}
