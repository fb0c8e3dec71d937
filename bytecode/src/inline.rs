//! Small leaf functions copied into their interpreted callers' execution
//! form. A call costs the interpreter about as much as a dozen operations
//! (the tier check, a frame pushed and popped); a function of a few
//! operations that calls nothing (spectral-norm's `a(i, j)`) costs mostly
//! its call. Its copy runs in the caller's frame, on registers above the
//! caller's own, without a frame of its own, reading the caller's
//! argument registers as its parameters where it never writes them.
//!
//! Nothing else changes: the function keeps its body, its slot and its
//! frame for every other call. The call site (`Op::CallInline`) runs the
//! copy whatever the callee's tier, as a caller the JIT inlined a callee
//! into does: a call out to compiled code (the System V crossing, some
//! 330 host instructions) costs more than such a copy's whole body, and
//! asking for the tier cost spectral-norm 5%. The copy counts the
//! callee's calls. Only straight-line
//! callees are copied (no branches: every count the profiler reads stays
//! exact); what a copy does not do is name the callee as running (its
//! time is its caller's).
//!
//! Only what the fast loop runs is copied (no calls, branches, frame
//! memory, or anything else that would need the instruction itself,
//! whose positions a copy does not have).

use crate::exec::{self, Op};
use crate::format::*;
use alloc::vec::Vec;

/// At most this many instructions in a copied function.
pub(crate) const MAX_INSTRUCTIONS: usize = 32;

/// What copying callees into a function gave it.
#[derive(Default)]
pub(crate) struct Copies {
    /// How many registers a frame of it takes: its own and the copies'.
    pub regs: usize,
    /// The copies' constants (their callees' prologues), set once when a
    /// frame of it starts, with its own prologue.
    pub constants: Vec<(Reg, u64)>,
}

/// Copies the small leaf callees of `caller` (function `index` of
/// `module`, its execution form `ops`) into `ops`, each copy on registers
/// of its own above the caller's.
pub(crate) fn inline_leaves(module: &Module, index: usize, ops: &mut Vec<Op>) -> Copies {
    let Body::Code { regs, code } = &module.functions[index].body else {
        return Copies::default();
    };
    let mut copies = Copies {
        regs: *regs as usize,
        constants: Vec::new(),
    };
    for at in 0..code.len() {
        let Op::CallFn { callee, .. } = ops[at] else {
            continue;
        };
        let Inst::Call {
            args, ret, ret2, ..
        } = &code[at]
        else {
            continue;
        };
        if callee as usize == index || ret2.is_some() {
            continue;
        }
        let Some(c) = copy(module, callee, args, *ret, copies.regs, ops.len(), at) else {
            continue;
        };
        let calls =
            ipc_abi::counters::counter_offset(callee as usize, ipc_abi::counters::CALLS) / 8;
        let (Ok(calls), Ok(start)) = (u32::try_from(calls), u32::try_from(ops.len())) else {
            continue;
        };
        ops.extend(c.ops);
        ops[at] = Op::CallInline { calls, at: start };
        copies.regs += c.regs;
        copies.constants.extend(c.constants);
    }
    copies
}

/// One callee's copy: its ops, how many registers it takes, and the
/// constants its callee's prologue sets (left out of the ops).
struct Copy {
    ops: Vec<Op>,
    regs: usize,
    constants: Vec<(Reg, u64)>,
}

/// The copy of function `callee` for a call at `call_at` with `args`,
/// result to `ret`, its registers from `shift` on, placed at `origin`:
/// the moves of the arguments, the body without its prologue's constants
/// (returned apart) and its return, a move of the result and a jump back
/// after the call. `None` when it is not a small straight-line leaf the
/// fast loop runs whole, or does not fit.
fn copy(
    module: &Module,
    callee: u32,
    args: &[(Reg, Class)],
    ret: Option<(Reg, Class)>,
    shift: usize,
    origin: usize,
    call_at: usize,
) -> Option<Copy> {
    let f = module.functions.get(callee as usize)?;
    let Body::Code { regs, code } = &f.body else {
        return None;
    };
    if f.variadic || code.len() > MAX_INSTRUCTIONS || args.len() != f.params.len() {
        return None;
    }
    let regs = *regs as usize;
    // Registers and positions must fit the op's fields.
    if shift + regs > Reg::MAX as usize || origin + args.len() + code.len() + 1 > u32::MAX as usize
    {
        return None;
    }
    // Straight-line: its one return ends it (anything else that moves
    // control is refused below).
    let (Inst::Ret { value }, body) = code.split_last()? else {
        return None;
    };
    // Its parameters are the caller's argument registers themselves when
    // nothing in it writes them (the copy writes only its own registers,
    // so the arguments stay as they were): no moves in.
    let params = args.len();
    let direct = !body
        .iter()
        .any(|i| written(i).is_some_and(|d| (d as usize) < params));
    let r = |x: Reg| match args.get(x as usize) {
        Some(&(a, _)) if direct => a,
        _ => x + shift as Reg,
    };
    // The prologue's constants (the lowering's, written once and never
    // again) are the caller's to set when its frame starts.
    let leading = body
        .iter()
        .take_while(|i| matches!(i, Inst::Const { .. }))
        .count();
    let constants: Vec<(Reg, u64)> = body[..leading]
        .iter()
        .filter_map(|i| match *i {
            Inst::Const { dst, value } => Some((r(dst), value)),
            _ => None,
        })
        .collect();
    let mut block: Vec<Inst> = if direct {
        Vec::new()
    } else {
        args.iter()
            .enumerate()
            .map(|(k, &(a, _))| Inst::Move {
                dst: r(k as Reg),
                src: a,
            })
            .collect()
    };
    for inst in &body[leading..] {
        // The same instruction on the copy's registers.
        let mut copied = inst.clone();
        match &mut copied {
            Inst::Const { dst, .. } => *dst = r(*dst),
            Inst::Move { dst, src: a }
            | Inst::Cast { dst, a, .. }
            | Inst::AddImm { dst, a, .. }
            | Inst::Load { dst, addr: a, .. }
            | Inst::Store {
                addr: dst, src: a, ..
            } => {
                for x in [dst, a] {
                    *x = r(*x);
                }
            }
            Inst::Bin { dst, a, b, .. }
            | Inst::F64Add { dst, a, b }
            | Inst::F64Sub { dst, a, b }
            | Inst::F64Mul { dst, a, b }
            | Inst::F64Div { dst, a, b }
            | Inst::ICmp { dst, a, b, .. }
            | Inst::Offset {
                dst,
                base: a,
                index: b,
                ..
            } => {
                for x in [dst, a, b] {
                    *x = r(*x);
                }
            }
            Inst::FMulAdd { dst, a, b, c, .. }
            | Inst::Select {
                dst,
                cond: a,
                a: b,
                b: c,
            } => {
                for x in [dst, a, b, c] {
                    *x = r(*x);
                }
            }
            _ => return None,
        }
        block.push(copied);
    }
    if let (Some(v), Some((dst, _))) = (value, ret) {
        block.push(Inst::Move { dst, src: r(*v) });
    }
    block.push(Inst::Jump {
        to: (call_at + 1) as u32,
    });
    let ops = exec::translate_at(&block, origin);
    // Everything must be the fast loop's own.
    let fast = ops.iter().all(|op| {
        !matches!(
            op,
            Op::Other
                | Op::CallFn { .. }
                | Op::CallSym { .. }
                | Op::CallSqrt { .. }
                | Op::CallInline { .. }
                | Op::Ret { .. }
                | Op::AddRet { .. }
                | Op::LoopJump { .. }
                | Op::LoopMoveJump { .. }
                | Op::Move2LoopJump { .. }
        )
    });
    fast.then_some(Copy {
        ops,
        regs,
        constants,
    })
}

/// The register instruction `i` writes, if any (of those a copy can
/// hold).
fn written(i: &Inst) -> Option<Reg> {
    match *i {
        Inst::Const { dst, .. }
        | Inst::Move { dst, .. }
        | Inst::Cast { dst, .. }
        | Inst::AddImm { dst, .. }
        | Inst::Load { dst, .. }
        | Inst::Bin { dst, .. }
        | Inst::F64Add { dst, .. }
        | Inst::F64Sub { dst, .. }
        | Inst::F64Mul { dst, .. }
        | Inst::F64Div { dst, .. }
        | Inst::ICmp { dst, .. }
        | Inst::Offset { dst, .. }
        | Inst::FMulAdd { dst, .. }
        | Inst::Select { dst, .. } => Some(dst),
        _ => None,
    }
}
