//! A function's ops as the fast loop runs them, checked once when the
//! module is loaded so that the loop can fetch each op without a bounds
//! check (two instructions of the ten or so an op's dispatch costs: 5-9%
//! of an interpreted program's time, measured on the example apps), at a
//! position kept in bytes ([`Pc`]: one more instruction saved).
//!
//! What makes an unchecked fetch sound is where positions come from, all
//! of them bounded here:
//!
//! - a jump: every target an op names is checked in [`CheckedOps::new`]
//!   ([`targets`] lists each op's targets, with no catch-all arm: a new op
//!   must say what it jumps to);
//! - the next op: an op moves at most [`MAX_ADVANCE`] positions past its
//!   own (a fused op skipping the ops it stands for), and the ops end
//!   with that many [`Op::Other`]s, which the fast loop never runs (it
//!   hands them to the slow loop, which reads instructions with checks);
//! - a function's first op (its prologue's end, checked here) and a
//!   frame's saved position, which the loop checks with
//!   [`Ops::position`] where it resumes a frame.
//!
//! This is the only module of the interpreter's loop with `unsafe`.
#![allow(unsafe_code, reason = "the fast loop's unchecked op fetch")]

use crate::exec::Op;
use alloc::vec::Vec;

/// The most positions an op moves its loop past itself without jumping
/// (one, plus the two a three-instruction fused op skips: `step`'s
/// `pc.skip(2)`).
pub(crate) const MAX_ADVANCE: usize = 3;

/// A function's ops, every position they can reach checked.
pub(crate) struct CheckedOps {
    /// The ops, then `MAX_ADVANCE` `Op::Other`s.
    ops: alloc::boxed::Box<[Op]>,
}

/// Why a function's ops cannot be run (a translation bug: the bytecode's
/// own targets are validated when it is loaded).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OutOfRange {
    pub op: usize,
    pub target: usize,
}

impl CheckedOps {
    /// `ops` checked: every jump target, and `first` (where frames start),
    /// within them.
    pub fn new(mut ops: Vec<Op>, first: usize) -> Result<Self, OutOfRange> {
        let len = ops.len();
        for (at, op) in ops.iter().enumerate() {
            if let Some(target) = targets(op)
                .into_iter()
                .flatten()
                .find(|&t| t as usize >= len)
            {
                return Err(OutOfRange {
                    op: at,
                    target: target as usize,
                });
            }
        }
        // (At `len`: the first trailing op, which hands the frame to the
        // slow loop.)
        if first > len {
            return Err(OutOfRange {
                op: first,
                target: first,
            });
        }
        ops.extend([Op::Other; MAX_ADVANCE]);
        Ok(CheckedOps {
            ops: ops.into_boxed_slice(),
        })
    }

    /// The ops as the loop holds them.
    #[inline(always)]
    pub fn view(&self) -> Ops<'_> {
        Ops { ops: &self.ops }
    }
}

/// A [`CheckedOps`]' ops, as the loop holds them (a pointer and a length,
/// in machine registers).
#[derive(Clone, Copy)]
pub(crate) struct Ops<'a> {
    /// Checked by `CheckedOps::new`, with its trailing `Op::Other`s.
    ops: &'a [Op],
}

impl<'a> Ops<'a> {
    /// The ops (with the trailing `Op::Other`s).
    #[cfg(test)]
    pub fn as_slice(self) -> &'a [Op] {
        self.ops
    }

    /// `pc`, a frame's saved position, checked.
    #[inline(always)]
    pub fn position(self, pc: usize) -> Pc {
        assert!(pc < self.ops.len(), "a frame's position past its ops");
        Pc::at(pc)
    }

    /// The op at `pc`, which is a target of one of these ops, the first
    /// op, a position [`Ops::position`] returned, or at most
    /// [`MAX_ADVANCE`] past the position of an op that is not one of the
    /// trailing `Op::Other`s (see the module's documentation).
    #[inline(always)]
    pub fn fetch(self, pc: Pc) -> &'a Op {
        debug_assert!(pc.index() < self.ops.len() && pc.0.is_multiple_of(OP_BYTES));
        // SAFETY: `pc` is in bounds by the above: targets and the first
        // op were checked in `CheckedOps::new`, saved positions in
        // `position`, and the `MAX_ADVANCE` trailing ops absorb any
        // advance from an op before them (the fast loop stops at the
        // first of them). A `Pc` is a whole number of ops.
        unsafe { &*self.ops.as_ptr().byte_add(pc.0) }
    }
}

/// The size of an op.
const OP_BYTES: usize = core::mem::size_of::<Op>();

/// A position in a function's ops as the fast loop keeps it: the op's
/// offset in bytes, so that finding the op is one addition (an index
/// would take a shift too: an op is 16 bytes, more than an x86 address
/// scales by). Made from indices, jump targets and advances only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pc(usize);

impl Pc {
    /// The position of the op at `index`.
    #[inline(always)]
    pub fn at(index: usize) -> Pc {
        Pc(index.wrapping_mul(OP_BYTES))
    }

    /// Its op's index.
    #[inline(always)]
    pub fn index(self) -> usize {
        self.0 / OP_BYTES
    }

    /// `ops` ops further on.
    #[inline(always)]
    pub fn skip(&mut self, ops: usize) {
        self.0 = self.0.wrapping_add(ops.wrapping_mul(OP_BYTES));
    }

    /// To the op at `target` (a jump).
    #[inline(always)]
    pub fn jump(&mut self, target: impl Into<u32>) {
        *self = Pc::at(target.into() as usize);
    }
}

/// The positions `op` may jump to (not counting the next op).
pub(crate) fn targets(op: &Op) -> [Option<u32>; 2] {
    use Op::*;
    match *op {
        BrEq { t, e, .. }
        | BrNe { t, e, .. }
        | BrUlt { t, e, .. }
        | BrUle { t, e, .. }
        | BrSlt64 { t, e, .. }
        | BrSle64 { t, e, .. }
        | BrSlt32 { t, e, .. }
        | BrSle32 { t, e, .. }
        | Branch { t, e, .. } => [Some(t), Some(e)],
        AddBrEq { t, .. }
        | AddBrNe { t, .. }
        | AddBrUlt { t, .. }
        | AddBrUle { t, .. }
        | AddBrSlt64 { t, .. }
        | AddBrSle64 { t, .. }
        | AddBrSlt32 { t, .. }
        | AddBrSle32 { t, .. } => [Some(t.into()), None],
        Jump { to }
        | MoveJump { to, .. }
        | LoopJump { to, .. }
        | LoopMoveJump { to, .. }
        | F64DivMoveJump { to, .. }
        | Move2Jump { to, .. }
        | Move2LoopJump { to, .. } => [Some(to), None],
        I32ToF64DivMoveJump { to, .. } => [Some(to.into()), None],
        CallInline { at, .. } => [Some(at), None],
        Const { .. }
        | Move { .. }
        | AddImm { .. }
        | Offset { .. }
        | Add64 { .. }
        | Sub64 { .. }
        | Mul64 { .. }
        | Add32 { .. }
        | Sub32 { .. }
        | Mul32 { .. }
        | And { .. }
        | Or { .. }
        | Xor { .. }
        | Shl64 { .. }
        | LShr64 { .. }
        | AShr64 { .. }
        | Shl32 { .. }
        | LShr32 { .. }
        | AShr32 { .. }
        | Eq { .. }
        | Ne { .. }
        | Ult { .. }
        | Ule { .. }
        | Slt64 { .. }
        | Sle64 { .. }
        | Slt32 { .. }
        | Sle32 { .. }
        | Select { .. }
        | Load1 { .. }
        | Load2 { .. }
        | Load4 { .. }
        | Load8 { .. }
        | Store1 { .. }
        | Store2 { .. }
        | Store4 { .. }
        | Store8 { .. }
        | Trunc32 { .. }
        | Trunc8 { .. }
        | Trunc1 { .. }
        | Sext32To64 { .. }
        | F64Add { .. }
        | F64Sub { .. }
        | F64Mul { .. }
        | F64Div { .. }
        | F64MulAdd { .. }
        | I32ToF64 { .. }
        | I64ToF64 { .. }
        | SDiv32 { .. }
        | SRem32 { .. }
        | SDiv64 { .. }
        | SRem64 { .. }
        | UDiv { .. }
        | URem { .. }
        | OffsetLoad1 { .. }
        | OffsetLoad2 { .. }
        | OffsetLoad4 { .. }
        | OffsetLoad8 { .. }
        | OffsetStore1 { .. }
        | OffsetStore2 { .. }
        | OffsetStore4 { .. }
        | OffsetStore8 { .. }
        | FieldLoad4 { .. }
        | FieldLoad8 { .. }
        | FieldStore4 { .. }
        | FieldStore8 { .. }
        | F64Neg { .. }
        | LoadFieldStore { .. }
        | LoadFieldLoad8 { .. }
        | LoadOffsetLoad8 { .. }
        | F64MulDiv { .. }
        | F64SubLoad8 { .. }
        | LoadMove { .. }
        | LoadLoad { .. }
        | MulSDiv32 { .. }
        | I32ToF64Div { .. }
        | OffsetFieldLoad8 { .. }
        | AddAdd { .. }
        | StoreStore { .. }
        | F64MulAddStore { .. }
        | F64MulMulAdd { .. }
        | F64NegMul { .. }
        | LoadAddStore { .. }
        | SextOffsetLoad4 { .. }
        | F64LoadMulAdd { .. }
        | CallFn { .. }
        | CallSym { .. }
        | CallSqrt { .. }
        | Ret { .. }
        | AddRet { .. }
        | Other => [None, None],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_the_first_op_must_be_within_the_ops() {
        let ops = alloc::vec![Op::Const { d: 0, v: 1 }, Op::Jump { to: 0 }];
        let checked = CheckedOps::new(ops.clone(), 1).unwrap();
        // The trailing ops absorb the longest advance from the last op.
        let view = checked.view();
        assert_eq!(view.as_slice().len(), 2 + MAX_ADVANCE);
        assert!(view.as_slice()[2..].iter().all(|op| *op == Op::Other));
        assert_eq!(*view.fetch(Pc::at(1)), Op::Jump { to: 0 });
        // A jump past the end, in either arm of a branch, or a fused op's.
        for bad in [
            Op::Jump { to: 2 },
            Op::BrEq {
                a: 0,
                b: 0,
                t: 0,
                e: 7,
                k: 0,
            },
            Op::CallInline { calls: 0, at: 9 },
            Op::Move2LoopJump {
                d1: 0,
                s1: 0,
                d2: 0,
                s2: 0,
                block: 0,
                to: 5,
            },
        ] {
            let mut o = ops.clone();
            o[1] = bad;
            let target = targets(&bad).into_iter().flatten().max().unwrap() as usize;
            assert_eq!(
                CheckedOps::new(o, 0).err(),
                Some(OutOfRange { op: 1, target }),
                "{bad:?}"
            );
        }
        assert!(CheckedOps::new(ops, 3).is_err());
    }

    #[test]
    #[should_panic(expected = "a frame's position past its ops")]
    fn a_saved_position_past_the_ops_is_refused() {
        let checked = CheckedOps::new(alloc::vec![Op::Jump { to: 0 }], 0).unwrap();
        let _ = checked.view().position(1 + MAX_ADVANCE);
    }
}
