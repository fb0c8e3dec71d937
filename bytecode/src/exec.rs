//! The interpreter's execution form of a function's code: made once, when
//! the interpreter is made, from validated [`Inst`]s. The file's
//! instructions say an operation and its width or predicate as operands
//! (`Bin { op, w, .. }`), which costs the loop a second dispatch on every
//! step; here the frequent ones are operations of their own, one dispatch
//! each (`Add32`, `BrSlt64`, `Load4`), in a small `Copy` value.
//!
//! One [`Op`] per `Inst`, at the same position, so jump targets and the
//! saved position of a frame mean the same in both; an instruction with no
//! fast form is [`Op::Other`] and runs from its `Inst`.
//!
//! Registers hold canonical values (narrow integers zero-extended), so
//! `and`/`or`/`xor`, equality and unsigned comparisons are width-blind,
//! and 64-bit operations need no mask. A comparison `a > b` is `b < a`:
//! only `<` and `<=` have ops of their own.

use crate::format::*;

/// An operation in execution form (registers are the frame's, as in
/// [`Inst`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    Const {
        d: Reg,
        v: u64,
    },
    Move {
        d: Reg,
        s: Reg,
    },
    AddImm {
        d: Reg,
        a: Reg,
        imm: i64,
    },
    Offset {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
    },
    Add64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Sub64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Mul64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Add32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Sub32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Mul32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    And {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Or {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Xor {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Shl64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    LShr64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    AShr64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Shl32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    LShr32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    AShr32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    /// `a == b`, `a != b`, `a < b`, `a <= b` as 0 or 1.
    Eq {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Ne {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Ult {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Ule {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Slt64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Sle64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Slt32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Sle32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    /// Compare and branch: to `t` when it holds, else to `e`; `k`: where
    /// the branch is counted (its `Inst` edge, or [`NO_EDGE`]).
    BrEq {
        a: Reg,
        b: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    BrNe {
        a: Reg,
        b: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    BrUlt {
        a: Reg,
        b: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    BrUle {
        a: Reg,
        b: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    BrSlt64 {
        a: Reg,
        b: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    BrSle64 {
        a: Reg,
        b: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    BrSlt32 {
        a: Reg,
        b: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    BrSle32 {
        a: Reg,
        b: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    Branch {
        c: Reg,
        t: Target,
        e: Target,
        k: Edge,
    },
    Jump {
        to: Target,
    },
    Select {
        d: Reg,
        c: Reg,
        a: Reg,
        b: Reg,
    },
    Load1 {
        d: Reg,
        addr: Reg,
    },
    Load2 {
        d: Reg,
        addr: Reg,
    },
    Load4 {
        d: Reg,
        addr: Reg,
    },
    Load8 {
        d: Reg,
        addr: Reg,
    },
    Store1 {
        addr: Reg,
        s: Reg,
    },
    Store2 {
        addr: Reg,
        s: Reg,
    },
    Store4 {
        addr: Reg,
        s: Reg,
    },
    Store8 {
        addr: Reg,
        s: Reg,
    },
    /// Zero-extension is a move of a canonical value; these keep the low
    /// bits, and sign-extend 32 to 64 bits.
    Trunc32 {
        d: Reg,
        a: Reg,
    },
    Trunc8 {
        d: Reg,
        a: Reg,
    },
    Trunc1 {
        d: Reg,
        a: Reg,
    },
    Sext32To64 {
        d: Reg,
        a: Reg,
    },
    F64Add {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    F64Sub {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    F64Mul {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    F64Div {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    F64MulAdd {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    /// Signed 32-bit integer to double.
    I32ToF64 {
        d: Reg,
        a: Reg,
    },
    I64ToF64 {
        d: Reg,
        a: Reg,
    },
    /// Division and remainder (a zero divisor, or the minimum by -1 for
    /// the signed ones, traps).
    SDiv32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    SRem32 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    SDiv64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    SRem64 {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    UDiv {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    URem {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    // Two instructions in one dispatch (the second still has its own op,
    // for jumps that land on it): a phi's move and the jump after it, an
    // address and the load or store through it.
    MoveJump {
        d: Reg,
        s: Reg,
        to: Target,
    },
    /// A loop's back-edge (`Inst::BackJump`), which counts the
    /// function's loop iterations, and the phi move before it.
    LoopJump {
        to: Target,
        block: u32,
    },
    LoopMoveJump {
        d: Reg,
        s: Reg,
        to: Target,
        block: u32,
    },
    OffsetLoad1 {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
        v: Reg,
    },
    OffsetLoad2 {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
        v: Reg,
    },
    OffsetLoad4 {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
        v: Reg,
    },
    OffsetLoad8 {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
        v: Reg,
    },
    OffsetStore1 {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
        v: Reg,
    },
    OffsetStore2 {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
        v: Reg,
    },
    OffsetStore4 {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
        v: Reg,
    },
    OffsetStore8 {
        d: Reg,
        base: Reg,
        index: Reg,
        scale: i32,
        v: Reg,
    },
    /// A field's address (`AddImm`) and the load or store through it.
    FieldLoad4 {
        d: Reg,
        base: Reg,
        imm: i32,
        v: Reg,
    },
    FieldLoad8 {
        d: Reg,
        base: Reg,
        imm: i32,
        v: Reg,
    },
    FieldStore4 {
        d: Reg,
        base: Reg,
        imm: i32,
        v: Reg,
    },
    FieldStore8 {
        d: Reg,
        base: Reg,
        imm: i32,
        v: Reg,
    },
    F64Neg {
        d: Reg,
        a: Reg,
    },
    /// A load (4 bytes or, `w8`, 8) into `d1`, then a field's address
    /// (`d2 = base + imm`) and the store of `v` through it, the same
    /// size: an element copied (fannkuch's `perm[i] = perm1[i]`).
    LoadFieldStore {
        w8: bool,
        d1: Reg,
        a1: Reg,
        d2: Reg,
        base: Reg,
        imm: i32,
        v: Reg,
    },
    /// An 8-byte load into `d1`, then a field's address (`d2 = base +
    /// imm`) and the 8-byte load through it into `v`.
    LoadFieldLoad8 {
        d1: Reg,
        a1: Reg,
        d2: Reg,
        base: Reg,
        imm: i32,
        v: Reg,
    },
    /// An 8-byte load into `d1`, then an element's address (`d2 = base +
    /// index * scale`) and the 8-byte load through it into `v`.
    LoadOffsetLoad8 {
        d1: Reg,
        a1: Reg,
        d2: Reg,
        base: Reg,
        index: Reg,
        scale: i16,
        v: Reg,
    },
    /// `d1 = a1 * b1`, then `d2 = a2 / b2` (`double`).
    F64MulDiv {
        d1: Reg,
        a1: Reg,
        b1: Reg,
        d2: Reg,
        a2: Reg,
        b2: Reg,
    },
    /// `d1 = a1 - b1` (`double`), then an 8-byte load into `d2`.
    F64SubLoad8 {
        d1: Reg,
        a1: Reg,
        b1: Reg,
        d2: Reg,
        a2: Reg,
    },
    /// A load (4 bytes or, `w8`, 8) into `d`, then a move.
    LoadMove {
        w8: bool,
        d: Reg,
        a: Reg,
        md: Reg,
        ms: Reg,
    },
    /// Two loads of the same size (4 bytes or, `w8`, 8), in order.
    LoadLoad {
        w8: bool,
        d1: Reg,
        a1: Reg,
        d2: Reg,
        a2: Reg,
    },
    /// `d1 = a1 * b1`, then `d2 = a2 / b2` (signed), in 32 bits:
    /// spectral-norm's `(i + j) * (i + j + 1) / 2`.
    MulSDiv32 {
        d1: Reg,
        a1: Reg,
        b1: Reg,
        d2: Reg,
        a2: Reg,
        b2: Reg,
    },
    /// `d1 = (double) a1` (a 32-bit signed integer), then `d2 = a2 / b2`
    /// (`double`).
    I32ToF64Div {
        d1: Reg,
        a1: Reg,
        d2: Reg,
        a2: Reg,
        b2: Reg,
    },
    /// `d = a / b` (`double`), then an edge's move and jump (a copied
    /// callee's result going back to its caller).
    F64DivMoveJump {
        d: Reg,
        a: Reg,
        b: Reg,
        md: Reg,
        ms: Reg,
        to: u32,
    },
    /// A `double` element's address (`d = base + index * 8`), its load
    /// (`v`) and a multiply-add by it (`md = ma * v + mc`): a dot
    /// product's step, spectral-norm's `s += a(i, j) * v[j]`.
    F64LoadMulAdd {
        d: Reg,
        base: Reg,
        index: Reg,
        v: Reg,
        md: Reg,
        ma: Reg,
        mc: Reg,
    },
    /// `d1 = (double) a1` (a 32-bit signed integer), `d2 = a2 / d1`,
    /// then an edge's move and jump: a copied callee's `return 1.0 / n`
    /// going back to its caller (spectral-norm's `a(i, j)`).
    I32ToF64DivMoveJump {
        d1: Reg,
        a1: Reg,
        d2: Reg,
        a2: Reg,
        md: Reg,
        ms: Reg,
        to: u16,
    },
    /// An element's address (`d1 = base + index * scale`), a field's
    /// address from it (`d2 = d1 + imm`) and the 8-byte load through
    /// that (`v`): n-body's `bodies[i].v[k]`.
    OffsetFieldLoad8 {
        d1: Reg,
        base: Reg,
        index: Reg,
        scale: i16,
        d2: Reg,
        imm: i16,
        v: Reg,
    },
    /// Two additions, each writing its register before the next reads
    /// (64-bit or, `w32`, 32-bit): `i + j + 1`, spectral-norm's `a()`.
    AddAdd {
        w32: bool,
        d1: Reg,
        a1: Reg,
        b1: Reg,
        d2: Reg,
        a2: Reg,
        b2: Reg,
    },
    /// Two stores of the same size (4 bytes or, `w8`, 8), in order: a
    /// swap's two halves (fannkuch's flips).
    StoreStore {
        w8: bool,
        a1: Reg,
        v1: Reg,
        a2: Reg,
        v2: Reg,
    },
    /// `d = a * b + c` (`double`), then its store through `addr`: n-body's
    /// `v += dt * a`.
    F64MulAddStore {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
        addr: Reg,
    },
    /// `d1 = a1 * b1`, then `d2 = a2 * b2 + c2` (`double`).
    F64MulMulAdd {
        d1: Reg,
        a1: Reg,
        b1: Reg,
        d2: Reg,
        a2: Reg,
        b2: Reg,
        c2: Reg,
    },
    /// `d1 = -a1`, then `d2 = a2 * b2` (`double`).
    F64NegMul {
        d1: Reg,
        a1: Reg,
        d2: Reg,
        a2: Reg,
        b2: Reg,
    },
    /// A load through `p` into `l`, an addition into `s` (`a + b`, 64-bit
    /// or, `w32`, 32-bit, with the 8- or 4-byte access), and the store of
    /// `s` through `p`: C's `x += y` on memory (`counter++`), three
    /// instructions, one dispatch; each register is read after the
    /// instructions before it wrote theirs.
    LoadAddStore {
        w32: bool,
        l: Reg,
        p: Reg,
        s: Reg,
        a: Reg,
        b: Reg,
    },
    /// A 32-bit index sign-extended (`s = sext a`), the address it
    /// indexes (`d = base + s * scale`) and the 4-byte load through it
    /// (`v`): three instructions, one dispatch.
    SextOffsetLoad4 {
        s: Reg,
        a: Reg,
        d: Reg,
        base: Reg,
        scale: i32,
        v: Reg,
    },
    /// An addition and the compare-and-branch right after it (a loop's
    /// step and test, the commonest pair in loops): `d = a + b` (in 32
    /// bits when `w32`), then to `t` when `x` and `y` compare as the op
    /// says (read after `d` is written: either may be `d`), else on past
    /// the pair. Made where one of the branch's targets is the
    /// instruction after it and the other fits 16 bits
    /// (`step_and_test`): when it is the branch's `then`, the op has the
    /// opposite comparison and jumps to the branch's `else`. `k` says
    /// where the branch is counted: the word of its edges
    /// (`ipc_abi::counters::EDGES`) for "taken" when the op jumps, so
    /// `2 * edge` for a branch as it was and `2 * edge + 1` for one
    /// turned round (the other word is `k ^ 1`; a branch numbered past
    /// 32,766 is not fused).
    AddBrEq {
        w32: bool,
        d: Reg,
        a: Reg,
        b: Reg,
        x: Reg,
        y: Reg,
        k: Edge,
        t: u16,
    },
    AddBrNe {
        w32: bool,
        d: Reg,
        a: Reg,
        b: Reg,
        x: Reg,
        y: Reg,
        k: Edge,
        t: u16,
    },
    AddBrUlt {
        w32: bool,
        d: Reg,
        a: Reg,
        b: Reg,
        x: Reg,
        y: Reg,
        k: Edge,
        t: u16,
    },
    AddBrUle {
        w32: bool,
        d: Reg,
        a: Reg,
        b: Reg,
        x: Reg,
        y: Reg,
        k: Edge,
        t: u16,
    },
    AddBrSlt64 {
        w32: bool,
        d: Reg,
        a: Reg,
        b: Reg,
        x: Reg,
        y: Reg,
        k: Edge,
        t: u16,
    },
    AddBrSle64 {
        w32: bool,
        d: Reg,
        a: Reg,
        b: Reg,
        x: Reg,
        y: Reg,
        k: Edge,
        t: u16,
    },
    AddBrSlt32 {
        w32: bool,
        d: Reg,
        a: Reg,
        b: Reg,
        x: Reg,
        y: Reg,
        k: Edge,
        t: u16,
    },
    AddBrSle32 {
        w32: bool,
        d: Reg,
        a: Reg,
        b: Reg,
        x: Reg,
        y: Reg,
        k: Edge,
        t: u16,
    },
    /// Two phi moves, one after the other, and a jump after them (an
    /// edge's stub, `Inst::Jump`): three instructions in one dispatch.
    Move2Jump {
        d1: Reg,
        s1: Reg,
        d2: Reg,
        s2: Reg,
        to: u32,
    },
    /// Two phi moves, one after the other, and the loop's back-edge after
    /// them (`Inst::BackJump`, its header `block` narrowed): three
    /// instructions in one dispatch.
    Move2LoopJump {
        d1: Reg,
        s1: Reg,
        d2: Reg,
        s2: Reg,
        block: u16,
        to: u32,
    },
    /// A call of program function `callee` that the interpreter can make
    /// without looking at anything but the callee's tier: the callee has
    /// code, is not variadic, and takes exactly the arguments' classes,
    /// none in memory (`link_calls`). Its arguments and results are the
    /// `Inst::Call`'s at this position; when it has at most
    /// [`CALL_REGS`] arguments and one result or none, they are here too
    /// (`n` of them in `a`, the result into `d` unless it is
    /// [`NO_REGISTER`]), so that the loop need not look at the `Inst`;
    /// otherwise `n` is [`LONG_CALL`].
    CallFn {
        callee: u32,
        d: Reg,
        n: u8,
        a: [Reg; CALL_REGS],
    },
    /// A call of a program function whose copy runs in the caller's
    /// frame from position `at` (`inline`), whatever the callee's tier
    /// (the copy costs less than a call out to its compiled code),
    /// counted in word `calls` of the counters object (the callee's
    /// `ipc_abi::counters::CALLS`).
    CallInline {
        calls: u32,
        at: u32,
    },
    /// A call of C library function (or other symbol) `sym`: the
    /// `Inst::Call` at this position.
    CallSym {
        sym: u32,
    },
    /// A call of the C library's `sqrt` (`f32`: `sqrtf`) of register `a`
    /// into `d` (the `Inst::Call` at this position): computed here, the
    /// same correctly rounded IEEE square root, for every argument but a
    /// negative one, whose call goes out (it sets `errno`).
    CallSqrt {
        d: Reg,
        a: Reg,
        f32: bool,
    },
    /// Returns register `v`'s value, or nothing when `v` is
    /// [`NO_REGISTER`].
    Ret {
        v: Reg,
    },
    /// Returns `a + b` (64 bits, or 32 when `w32`): C's `return x + y`,
    /// an addition and the return of its result (whose register nothing
    /// reads after the frame is gone).
    AddRet {
        w32: bool,
        a: Reg,
        b: Reg,
    },
    /// No fast form: run the `Inst` at this position.
    Other,
}

/// Arguments a call op carries itself (`Op::CallFn`).
pub(crate) const CALL_REGS: usize = 4;
/// `Op::CallFn`'s `n` for a call whose registers only its `Inst` has.
pub(crate) const LONG_CALL: u8 = u8::MAX;

// The loop copies an op out of the code on every step: keep it two words.
const _: () = assert!(core::mem::size_of::<Op>() <= 16);

/// Where a branch op counts its edges: its `Inst` edge number, narrowed
/// to keep an op in 16 bytes.
pub(crate) type Edge = u16;
/// A branch past the first 65,535 of its function: not counted.
pub(crate) const NO_EDGE: Edge = Edge::MAX;

/// How many words of branch edges function `f` counts in (taken and not
/// taken per conditional branch, as far as an op can number them).
pub fn edge_words(f: &Function) -> usize {
    2 * f.branches().min(NO_EDGE as usize)
}

/// How many words of call targets function `f` counts in
/// (`ipc_abi::counters::TARGETS`).
pub fn target_words(f: &Function) -> usize {
    ipc_abi::counters::TARGET_WORDS * f.indirect_calls()
}

fn edge_index(edge: u32) -> Edge {
    Edge::try_from(edge).unwrap_or(NO_EDGE)
}

/// Marks the calls and returns of `code` (already in execution form as
/// `ops`) that the interpreter's loop makes itself (`Op::CallFn`,
/// `Op::Ret`): calls of `module`'s functions whose arguments need no
/// conversion, returns of one register or none.
pub(crate) fn link_calls(ops: &mut [Op], code: &[Inst], module: &Module) {
    for (op, inst) in ops.iter_mut().zip(code) {
        match inst {
            Inst::Call {
                callee: Callee::Function(i),
                args,
                fixed,
                ret,
                ret2,
            } => {
                let Some(callee) = module.functions.get(*i as usize) else {
                    continue;
                };
                let plain = !callee.variadic
                    && matches!(callee.body, Body::Code { .. })
                    && *fixed as usize == args.len()
                    && args.len() == callee.params.len()
                    && args
                        .iter()
                        .zip(&callee.params)
                        .all(|(&(_, class), &param)| {
                            class == param && !matches!(param, Class::Memory { .. })
                        });
                if plain {
                    *op = call_fn(*i, args, *ret, *ret2);
                }
            }
            Inst::Call {
                callee: Callee::Symbol(sym),
                args,
                fixed,
                ret,
                ret2: None,
            } => {
                let name = module
                    .symbols
                    .get(*sym as usize)
                    .and_then(|s| (s.kind == SymbolKind::External).then_some(s.name.as_str()));
                *op = match (name, args.as_slice(), *fixed, *ret) {
                    (Some("sqrt"), &[(a, Class::F64)], 1, Some((d, Class::F64))) => {
                        Op::CallSqrt { d, a, f32: false }
                    }
                    (Some("sqrtf"), &[(a, Class::F32)], 1, Some((d, Class::F32))) => {
                        Op::CallSqrt { d, a, f32: true }
                    }
                    _ => Op::CallSym { sym: *sym },
                }
            }
            Inst::Call {
                callee: Callee::Symbol(sym),
                ..
            } => *op = Op::CallSym { sym: *sym },
            // (A register numbered `NO_REGISTER` returns the slow way.)
            Inst::Ret { value } if *op == Op::Other && *value != Some(NO_REGISTER) => {
                *op = Op::Ret {
                    v: value.unwrap_or(NO_REGISTER),
                }
            }
            _ => {}
        }
    }
}

/// `Op::CallFn` for a call of `callee` with `args` and results `ret`,
/// `ret2`: its registers in the op when they fit.
fn call_fn(
    callee: u32,
    args: &[(Reg, Class)],
    ret: Option<(Reg, Class)>,
    ret2: Option<(Reg, Class)>,
) -> Op {
    let long = Op::CallFn {
        callee,
        d: NO_REGISTER,
        n: LONG_CALL,
        a: [0; CALL_REGS],
    };
    let d = match ret {
        Some((NO_REGISTER, _)) => return long,
        Some((d, _)) => d,
        None => NO_REGISTER,
    };
    if args.len() > CALL_REGS || ret2.is_some() {
        return long;
    }
    let mut a = [0; CALL_REGS];
    for (k, &(r, _)) in args.iter().enumerate() {
        a[k] = r;
    }
    Op::CallFn {
        callee,
        d,
        n: args.len() as u8,
        a,
    }
}

/// The execution form of `code` (one op per instruction).
pub(crate) fn translate(code: &[Inst]) -> alloc::vec::Vec<Op> {
    translate_at(code, 0)
}

/// The execution form of `code` placed at position `origin` of its
/// function's ops (jump targets in it are positions of the whole).
pub(crate) fn translate_at(code: &[Inst], origin: usize) -> alloc::vec::Vec<Op> {
    code.iter()
        .enumerate()
        .map(|(k, inst)| {
            three(&code[k..])
                .or_else(|| step_and_test(&code[k..], origin + k))
                .or_else(|| code.get(k + 1).and_then(|next| pair(inst, next)))
                .or_else(|| code.get(k + 1).and_then(|next| arithmetic_pair(inst, next)))
                .unwrap_or(op(inst))
        })
        .collect()
}

/// `Move`, `Move`, `BackJump` at the start of `code`, as one op.
fn three(code: &[Inst]) -> Option<Op> {
    match code {
        [
            Inst::Cast {
                op:
                    Cast::SExt {
                        from: Width::W32,
                        to: Width::W64,
                    },
                dst: s,
                a,
            },
            Inst::Offset {
                dst: d,
                base,
                index,
                scale,
            },
            Inst::Load {
                size: Size::B4,
                dst: v,
                addr,
            },
            ..,
        ] if index == s && addr == d => Some(Op::SextOffsetLoad4 {
            s: *s,
            a: *a,
            d: *d,
            base: *base,
            scale: i32::try_from(*scale).ok()?,
            v: *v,
        }),
        [
            Inst::Load {
                size,
                dst: l,
                addr: p,
            },
            Inst::Bin {
                op: BinOp::Add,
                w,
                dst: s,
                a,
                b,
            },
            Inst::Store {
                size: stored,
                addr: q,
                src,
            },
            ..,
        ] if p == q && src == s && size == stored => {
            let w32 = match (size, w) {
                (Size::B8, Width::W64) => false,
                (Size::B4, Width::W32) => true,
                _ => return None,
            };
            Some(Op::LoadAddStore {
                w32,
                l: *l,
                p: *p,
                s: *s,
                a: *a,
                b: *b,
            })
        }
        [
            Inst::Offset {
                dst: d1,
                base,
                index,
                scale,
            },
            Inst::AddImm { dst: d2, a, imm },
            Inst::Load {
                size: Size::B8,
                dst: v,
                addr,
            },
            ..,
        ] if a == d1 && addr == d2 => Some(Op::OffsetFieldLoad8 {
            d1: *d1,
            base: *base,
            index: *index,
            scale: i16::try_from(*scale).ok()?,
            d2: *d2,
            imm: i16::try_from(*imm).ok()?,
            v: *v,
        }),
        [
            Inst::Load {
                size,
                dst: d1,
                addr: a1,
            },
            Inst::AddImm {
                dst: d2,
                a: base,
                imm,
            },
            Inst::Store {
                size: stored,
                addr,
                src: v,
            },
            ..,
        ] if addr == d2 && size == stored && matches!(size, Size::B4 | Size::B8) => {
            Some(Op::LoadFieldStore {
                w8: *size == Size::B8,
                d1: *d1,
                a1: *a1,
                d2: *d2,
                base: *base,
                imm: i32::try_from(*imm).ok()?,
                v: *v,
            })
        }
        [
            Inst::Load {
                size: Size::B8,
                dst: d1,
                addr: a1,
            },
            Inst::AddImm {
                dst: d2,
                a: base,
                imm,
            },
            Inst::Load {
                size: Size::B8,
                dst: v,
                addr,
            },
            ..,
        ] if addr == d2 => Some(Op::LoadFieldLoad8 {
            d1: *d1,
            a1: *a1,
            d2: *d2,
            base: *base,
            imm: i32::try_from(*imm).ok()?,
            v: *v,
        }),
        [
            Inst::Load {
                size: Size::B8,
                dst: d1,
                addr: a1,
            },
            Inst::Offset {
                dst: d2,
                base,
                index,
                scale,
            },
            Inst::Load {
                size: Size::B8,
                dst: v,
                addr,
            },
            ..,
        ] if addr == d2 => Some(Op::LoadOffsetLoad8 {
            d1: *d1,
            a1: *a1,
            d2: *d2,
            base: *base,
            index: *index,
            scale: i16::try_from(*scale).ok()?,
            v: *v,
        }),
        [
            Inst::Offset {
                dst: d,
                base,
                index,
                scale: 8,
            },
            Inst::Load {
                size: Size::B8,
                dst: v,
                addr,
            },
            Inst::FMulAdd {
                f: Float::F64,
                dst: md,
                a,
                b,
                c,
            },
            ..,
        ] if addr == d && (a == v || b == v) => Some(Op::F64LoadMulAdd {
            d: *d,
            base: *base,
            index: *index,
            v: *v,
            md: *md,
            // (The product is the same either way round.)
            ma: if b == v { *a } else { *b },
            mc: *c,
        }),
        [
            Inst::Cast {
                op:
                    Cast::SiToFp {
                        from: Width::W32,
                        to: Float::F64,
                    },
                dst: d1,
                a: a1,
            },
            Inst::F64Div { dst: d2, a: a2, b },
            Inst::Move { dst: md, src: ms },
            Inst::Jump { to },
            ..,
        ] if b == d1 => Some(Op::I32ToF64DivMoveJump {
            d1: *d1,
            a1: *a1,
            d2: *d2,
            a2: *a2,
            md: *md,
            ms: *ms,
            to: u16::try_from(*to).ok()?,
        }),
        [
            Inst::F64Div { dst: d, a, b },
            Inst::Move { dst: md, src: ms },
            Inst::Jump { to },
            ..,
        ] => Some(Op::F64DivMoveJump {
            d: *d,
            a: *a,
            b: *b,
            md: *md,
            ms: *ms,
            to: *to,
        }),
        [
            Inst::Move { dst: d1, src: s1 },
            Inst::Move { dst: d2, src: s2 },
            Inst::Jump { to },
            ..,
        ] => Some(Op::Move2Jump {
            d1: *d1,
            s1: *s1,
            d2: *d2,
            s2: *s2,
            to: *to,
        }),
        [
            Inst::Move { dst: d1, src: s1 },
            Inst::Move { dst: d2, src: s2 },
            Inst::BackJump { to, block },
            ..,
        ] => Some(Op::Move2LoopJump {
            d1: *d1,
            s1: *s1,
            d2: *d2,
            s2: *s2,
            block: u16::try_from(*block).ok()?,
            to: *to,
        }),
        _ => None,
    }
}

/// An `Add` at position `at` (the start of `code`) and the
/// compare-and-branch after it, as one op (`Op::AddBrEq`...), when one of
/// the branch's targets is the instruction after it (turned round when
/// that is its `then`) and the other fits.
fn step_and_test(code: &[Inst], at: usize) -> Option<Op> {
    let [
        Inst::Bin {
            op: BinOp::Add,
            w,
            dst: d,
            a,
            b,
        },
        branch @ Inst::CmpBranch {
            then, els, edge, ..
        },
        ..,
    ] = code
    else {
        return None;
    };
    let w32 = match w {
        Width::W32 => true,
        Width::W64 => false,
        _ => return None,
    };
    let next = at + 2;
    let turned = if *els as usize == next {
        false
    } else if *then as usize == next {
        true
    } else {
        return None;
    };
    // Where the jump is counted (see `Op::AddBrEq`): branches past the
    // first 32,767 of a function stay unfused (uncounted ones too: a
    // word index near `NO_EDGE` would name another branch's word in a
    // function that has that many).
    let k = match edge_index(*edge) {
        e if e < NO_EDGE / 2 => 2 * e + Edge::from(turned),
        _ => return None,
    };
    let (d, a, b) = (*d, *a, *b);
    let target = |t: Target| u16::try_from(t).ok();
    // The branch's own op says which comparison, operands swapped for
    // `>` and `>=`; the fused op is the same comparison's, or, turned
    // round, its opposite (`!(x < y)` is `y <= x`).
    macro_rules! fused {
        ($($branch:ident => $fused:ident, $opposite:ident, $swap:expr);*) => {
            match op(branch) {
                $(Op::$branch { a: x, b: y, t, .. } if !turned => Op::$fused {
                    w32, d, a, b, x, y, k, t: target(t)?,
                },
                Op::$branch { a: x, b: y, e, .. } => {
                    let (x, y) = if $swap { (y, x) } else { (x, y) };
                    Op::$opposite { w32, d, a, b, x, y, k, t: target(e)? }
                })*
                _ => return None,
            }
        };
    }
    Some(fused!(
        BrEq => AddBrEq, AddBrNe, false;
        BrNe => AddBrNe, AddBrEq, false;
        BrUlt => AddBrUlt, AddBrUle, true;
        BrUle => AddBrUle, AddBrUlt, true;
        BrSlt64 => AddBrSlt64, AddBrSle64, true;
        BrSle64 => AddBrSle64, AddBrSlt64, true;
        BrSlt32 => AddBrSlt32, AddBrSle32, true;
        BrSle32 => AddBrSle32, AddBrSlt32, true
    ))
}

/// Two frequent operations one after the other, as one op (each reads
/// its registers after the one before wrote its own).
fn arithmetic_pair(first: &Inst, next: &Inst) -> Option<Op> {
    match (first, next) {
        (
            &Inst::Bin {
                op: BinOp::Add,
                w: w1,
                dst: d1,
                a: a1,
                b: b1,
            },
            &Inst::Bin {
                op: BinOp::Add,
                w: w2,
                dst: d2,
                a: a2,
                b: b2,
            },
        ) if w1 == w2 && matches!(w1, Width::W32 | Width::W64) => Some(Op::AddAdd {
            w32: w1 == Width::W32,
            d1,
            a1,
            b1,
            d2,
            a2,
            b2,
        }),
        (
            &Inst::Load {
                size: s1,
                dst: d1,
                addr: a1,
            },
            &Inst::Load {
                size: s2,
                dst: d2,
                addr: a2,
            },
        ) if s1 == s2 && matches!(s1, Size::B4 | Size::B8) => Some(Op::LoadLoad {
            w8: s1 == Size::B8,
            d1,
            a1,
            d2,
            a2,
        }),
        (
            &Inst::F64Mul {
                dst: d1,
                a: a1,
                b: b1,
            },
            &Inst::F64Div {
                dst: d2,
                a: a2,
                b: b2,
            },
        ) => Some(Op::F64MulDiv {
            d1,
            a1,
            b1,
            d2,
            a2,
            b2,
        }),
        (
            &Inst::F64Sub {
                dst: d1,
                a: a1,
                b: b1,
            },
            &Inst::Load {
                size: Size::B8,
                dst: d2,
                addr: a2,
            },
        ) => Some(Op::F64SubLoad8 { d1, a1, b1, d2, a2 }),
        (
            &Inst::Load {
                size,
                dst: d,
                addr: a,
            },
            &Inst::Move { dst: md, src: ms },
        ) if matches!(size, Size::B4 | Size::B8) => Some(Op::LoadMove {
            w8: size == Size::B8,
            d,
            a,
            md,
            ms,
        }),
        (
            &Inst::Bin {
                op: BinOp::Mul,
                w: Width::W32,
                dst: d1,
                a: a1,
                b: b1,
            },
            &Inst::Bin {
                op: BinOp::SDiv,
                w: Width::W32,
                dst: d2,
                a: a2,
                b: b2,
            },
        ) => Some(Op::MulSDiv32 {
            d1,
            a1,
            b1,
            d2,
            a2,
            b2,
        }),
        (
            &Inst::Cast {
                op:
                    Cast::SiToFp {
                        from: Width::W32,
                        to: Float::F64,
                    },
                dst: d1,
                a: a1,
            },
            &Inst::F64Div {
                dst: d2,
                a: a2,
                b: b2,
            },
        ) => Some(Op::I32ToF64Div { d1, a1, d2, a2, b2 }),
        (
            &Inst::Store {
                size: s1,
                addr: a1,
                src: v1,
            },
            &Inst::Store {
                size: s2,
                addr: a2,
                src: v2,
            },
        ) if s1 == s2 && matches!(s1, Size::B4 | Size::B8) => Some(Op::StoreStore {
            w8: s1 == Size::B8,
            a1,
            v1,
            a2,
            v2,
        }),
        (
            &Inst::FMulAdd {
                f: Float::F64,
                dst: d,
                a,
                b,
                c,
            },
            &Inst::Store {
                size: Size::B8,
                addr,
                src,
            },
        ) if src == d => Some(Op::F64MulAddStore { d, a, b, c, addr }),
        (
            &Inst::F64Mul {
                dst: d1,
                a: a1,
                b: b1,
            },
            &Inst::FMulAdd {
                f: Float::F64,
                dst: d2,
                a: a2,
                b: b2,
                c: c2,
            },
        ) => Some(Op::F64MulMulAdd {
            d1,
            a1,
            b1,
            d2,
            a2,
            b2,
            c2,
        }),
        (
            &Inst::FUn {
                op: FUnOp::Neg,
                f: Float::F64,
                dst: d1,
                a: a1,
            },
            &Inst::F64Mul {
                dst: d2,
                a: a2,
                b: b2,
            },
        ) => Some(Op::F64NegMul { d1, a1, d2, a2, b2 }),
        _ => None,
    }
}

/// The op that does `first` and then `next` (the instruction after it),
/// where there is one.
fn pair(first: &Inst, next: &Inst) -> Option<Op> {
    let (d, base, index, scale) = match *first {
        Inst::Bin {
            op: BinOp::Add,
            w,
            dst,
            a,
            b,
        } if *next == Inst::Ret { value: Some(dst) } && dst != NO_REGISTER => {
            let w32 = match w {
                Width::W64 => false,
                Width::W32 => true,
                _ => return None,
            };
            return Some(Op::AddRet { w32, a, b });
        }
        Inst::Move { dst, src } => {
            return match *next {
                Inst::Jump { to } => Some(Op::MoveJump { d: dst, s: src, to }),
                Inst::BackJump { to, block } => Some(Op::LoopMoveJump {
                    d: dst,
                    s: src,
                    to,
                    block,
                }),
                _ => None,
            };
        }
        Inst::Offset {
            dst,
            base,
            index,
            scale,
        } => (dst, base, index, i32::try_from(scale).ok()?),
        Inst::AddImm {
            dst: d,
            a: base,
            imm,
        } => {
            let imm = i32::try_from(imm).ok()?;
            return match *next {
                Inst::Load { size, dst: v, addr } if addr == d => match size {
                    Size::B4 => Some(Op::FieldLoad4 { d, base, imm, v }),
                    Size::B8 => Some(Op::FieldLoad8 { d, base, imm, v }),
                    _ => None,
                },
                Inst::Store { size, addr, src: v } if addr == d => match size {
                    Size::B4 => Some(Op::FieldStore4 { d, base, imm, v }),
                    Size::B8 => Some(Op::FieldStore8 { d, base, imm, v }),
                    _ => None,
                },
                _ => None,
            };
        }
        _ => return None,
    };
    Some(match *next {
        Inst::Load { size, dst: v, addr } if addr == d => match size {
            Size::B1 => Op::OffsetLoad1 {
                d,
                base,
                index,
                scale,
                v,
            },
            Size::B2 => Op::OffsetLoad2 {
                d,
                base,
                index,
                scale,
                v,
            },
            Size::B4 => Op::OffsetLoad4 {
                d,
                base,
                index,
                scale,
                v,
            },
            Size::B8 => Op::OffsetLoad8 {
                d,
                base,
                index,
                scale,
                v,
            },
        },
        // The stored value is read after the address is written: it may
        // be the same register.
        Inst::Store { size, addr, src: v } if addr == d => match size {
            Size::B1 => Op::OffsetStore1 {
                d,
                base,
                index,
                scale,
                v,
            },
            Size::B2 => Op::OffsetStore2 {
                d,
                base,
                index,
                scale,
                v,
            },
            Size::B4 => Op::OffsetStore4 {
                d,
                base,
                index,
                scale,
                v,
            },
            Size::B8 => Op::OffsetStore8 {
                d,
                base,
                index,
                scale,
                v,
            },
        },
        _ => return None,
    })
}

fn op(inst: &Inst) -> Op {
    use IntPred::*;
    use Width::*;
    match *inst {
        Inst::Const { dst, value } => Op::Const { d: dst, v: value },
        Inst::Move { dst, src } => Op::Move { d: dst, s: src },
        Inst::AddImm { dst, a, imm } => Op::AddImm { d: dst, a, imm },
        Inst::Offset {
            dst,
            base,
            index,
            scale,
        } => match i32::try_from(scale) {
            Ok(scale) => Op::Offset {
                d: dst,
                base,
                index,
                scale,
            },
            Err(_) => Op::Other,
        },
        Inst::Bin {
            op,
            w,
            dst: d,
            a,
            b,
        } => match (op, w) {
            (BinOp::Add, W64) => Op::Add64 { d, a, b },
            (BinOp::Sub, W64) => Op::Sub64 { d, a, b },
            (BinOp::Mul, W64) => Op::Mul64 { d, a, b },
            (BinOp::Add, W32) => Op::Add32 { d, a, b },
            (BinOp::Sub, W32) => Op::Sub32 { d, a, b },
            (BinOp::Mul, W32) => Op::Mul32 { d, a, b },
            (BinOp::And, _) => Op::And { d, a, b },
            (BinOp::Or, _) => Op::Or { d, a, b },
            (BinOp::Xor, _) => Op::Xor { d, a, b },
            (BinOp::Shl, W64) => Op::Shl64 { d, a, b },
            (BinOp::LShr, W64) => Op::LShr64 { d, a, b },
            (BinOp::AShr, W64) => Op::AShr64 { d, a, b },
            (BinOp::Shl, W32) => Op::Shl32 { d, a, b },
            (BinOp::LShr, W32) => Op::LShr32 { d, a, b },
            (BinOp::AShr, W32) => Op::AShr32 { d, a, b },
            (BinOp::SDiv, W32) => Op::SDiv32 { d, a, b },
            (BinOp::SRem, W32) => Op::SRem32 { d, a, b },
            (BinOp::SDiv, W64) => Op::SDiv64 { d, a, b },
            (BinOp::SRem, W64) => Op::SRem64 { d, a, b },
            // Canonical operands: unsigned division is width-blind.
            (BinOp::UDiv, _) => Op::UDiv { d, a, b },
            (BinOp::URem, _) => Op::URem { d, a, b },
            _ => Op::Other,
        },
        Inst::ICmp { p, w, dst: d, a, b } => match (p, w) {
            (Eq, _) => Op::Eq { d, a, b },
            (Ne, _) => Op::Ne { d, a, b },
            (Ult, _) => Op::Ult { d, a, b },
            (Ule, _) => Op::Ule { d, a, b },
            (Ugt, _) => Op::Ult { d, a: b, b: a },
            (Uge, _) => Op::Ule { d, a: b, b: a },
            (Slt, W64) => Op::Slt64 { d, a, b },
            (Sle, W64) => Op::Sle64 { d, a, b },
            (Sgt, W64) => Op::Slt64 { d, a: b, b: a },
            (Sge, W64) => Op::Sle64 { d, a: b, b: a },
            (Slt, W32) => Op::Slt32 { d, a, b },
            (Sle, W32) => Op::Sle32 { d, a, b },
            (Sgt, W32) => Op::Slt32 { d, a: b, b: a },
            (Sge, W32) => Op::Sle32 { d, a: b, b: a },
            _ => Op::Other,
        },
        Inst::CmpBranch {
            p,
            w,
            a,
            b,
            then: t,
            els: e,
            edge,
        } => {
            let k = edge_index(edge);
            match (p, w) {
                (Eq, _) => Op::BrEq { a, b, t, e, k },
                (Ne, _) => Op::BrNe { a, b, t, e, k },
                (Ult, _) => Op::BrUlt { a, b, t, e, k },
                (Ule, _) => Op::BrUle { a, b, t, e, k },
                (Ugt, _) => Op::BrUlt {
                    a: b,
                    b: a,
                    t,
                    e,
                    k,
                },
                (Uge, _) => Op::BrUle {
                    a: b,
                    b: a,
                    t,
                    e,
                    k,
                },
                (Slt, W64) => Op::BrSlt64 { a, b, t, e, k },
                (Sle, W64) => Op::BrSle64 { a, b, t, e, k },
                (Sgt, W64) => Op::BrSlt64 {
                    a: b,
                    b: a,
                    t,
                    e,
                    k,
                },
                (Sge, W64) => Op::BrSle64 {
                    a: b,
                    b: a,
                    t,
                    e,
                    k,
                },
                (Slt, W32) => Op::BrSlt32 { a, b, t, e, k },
                (Sle, W32) => Op::BrSle32 { a, b, t, e, k },
                (Sgt, W32) => Op::BrSlt32 {
                    a: b,
                    b: a,
                    t,
                    e,
                    k,
                },
                (Sge, W32) => Op::BrSle32 {
                    a: b,
                    b: a,
                    t,
                    e,
                    k,
                },
                _ => Op::Other,
            }
        }
        Inst::Branch {
            cond,
            then,
            els,
            edge,
        } => Op::Branch {
            c: cond,
            t: then,
            e: els,
            k: edge_index(edge),
        },
        Inst::Jump { to } => Op::Jump { to },
        Inst::BackJump { to, block } => Op::LoopJump { to, block },
        Inst::Select { dst, cond, a, b } => Op::Select {
            d: dst,
            c: cond,
            a,
            b,
        },
        Inst::Load { size, dst: d, addr } => match size {
            Size::B1 => Op::Load1 { d, addr },
            Size::B2 => Op::Load2 { d, addr },
            Size::B4 => Op::Load4 { d, addr },
            Size::B8 => Op::Load8 { d, addr },
        },
        Inst::Store { size, addr, src: s } => match size {
            Size::B1 => Op::Store1 { addr, s },
            Size::B2 => Op::Store2 { addr, s },
            Size::B4 => Op::Store4 { addr, s },
            Size::B8 => Op::Store8 { addr, s },
        },
        Inst::Cast { op, dst: d, a } => match op {
            Cast::Trunc(W32) => Op::Trunc32 { d, a },
            Cast::Trunc(W8) => Op::Trunc8 { d, a },
            Cast::Trunc(W1) => Op::Trunc1 { d, a },
            Cast::SExt { from: W32, to: W64 } => Op::Sext32To64 { d, a },
            Cast::SiToFp {
                from: W32,
                to: Float::F64,
            } => Op::I32ToF64 { d, a },
            Cast::SiToFp {
                from: W64,
                to: Float::F64,
            } => Op::I64ToF64 { d, a },
            _ => Op::Other,
        },
        Inst::F64Add { dst: d, a, b } => Op::F64Add { d, a, b },
        Inst::F64Sub { dst: d, a, b } => Op::F64Sub { d, a, b },
        Inst::F64Mul { dst: d, a, b } => Op::F64Mul { d, a, b },
        Inst::F64Div { dst: d, a, b } => Op::F64Div { d, a, b },
        Inst::FMulAdd {
            f: Float::F64,
            dst: d,
            a,
            b,
            c,
        } => Op::F64MulAdd { d, a, b, c },
        Inst::FUn {
            op: FUnOp::Neg,
            f: Float::F64,
            dst: d,
            a,
        } => Op::F64Neg { d, a },
        _ => Op::Other,
    }
}
