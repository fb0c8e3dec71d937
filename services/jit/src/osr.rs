//! On-stack replacement continuations: a unit whose function,
//! `ret cont(ptr state)`, runs the rest of a frame of a program function
//! from one of its loop headers, taking every value the frame had from
//! `state` (an array of 64-bit words, one per value by canonical number:
//! the arguments, then every instruction in block order).
//!
//! The interpreter's registers are values of the function as the bytecode
//! lowering saw it: the program's IR after `LOWERING_PIPELINE`. So the
//! continuation is built from the same: the whole program cloned, the
//! same passes over the function (LLVM 19 on both sides, `lowering`),
//! and then the function is cut open at the header: a new entry loads what
//! the loop needs from `state` and branches to the header (the header's
//! phis take the loaded values from it), and every use of a value the new
//! entry cannot reach (defined before the loop, or an argument) uses its
//! loaded copy instead. Blocks left unreachable are cleaned up by the
//! optimizer. The values' shape digest goes back to the interpreter, which
//! uses the continuation only if the digest is its bytecode's.

use crate::inlining::{Callees, Carried};
use crate::unit::{
    Program, UNIT_FUNCTION, cut_around, defined_functions, globals_from_their_homes,
};
use ipc_abi::proto::jit::osr_shape_digest;
use llvm_sys::LLVMTypeKind;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;

impl Program {
    /// A unit holding function `index`'s continuation from the loop header
    /// that is its `block`th block (after the lowering pipeline; with
    /// copies of callees to inline as `callees` says), the shape digest of
    /// its values, and what it carries. The caller owns the module.
    pub fn osr_unit(
        &self,
        index: usize,
        block: u32,
        callees: Callees<'_>,
    ) -> Result<(LLVMModuleRef, u64, Carried), String> {
        // SAFETY: the clone is a valid module in our context, owned here
        // until returned (disposed of on error); every edit keeps it valid:
        // blocks move whole, operands are replaced by values of the same
        // type that dominate them (the new entry's loads).
        unsafe {
            let m = LLVMCloneModule(self.module);
            match build(m, index, block, callees) {
                Ok((digest, carried)) => Ok((m, digest, carried)),
                Err(e) => {
                    LLVMDisposeModule(m);
                    Err(e)
                }
            }
        }
    }
}

/// Cuts `m` (a clone of the program) down to the continuation unit.
///
/// # Safety
/// `m` must be a valid module (a clone of the program).
unsafe fn build(
    m: LLVMModuleRef,
    index: usize,
    block: u32,
    callees: Callees<'_>,
) -> Result<(u64, Carried), String> {
    // SAFETY: see `Program::osr_unit`.
    unsafe {
        let ctx = LLVMGetModuleContext(m);
        let functions = defined_functions(m);
        let f = *functions.get(index).ok_or("no such function")?;
        crate::lowering::lower_alone(m, f, &functions)?;
        // The values by canonical number, and their shapes.
        let blocks = blocks_of(f);
        let mut values: Vec<LLVMValueRef> = (0..LLVMCountParams(f))
            .map(|i| LLVMGetParam(f, i))
            .collect();
        let params = values.len();
        for &b in &blocks {
            let mut i = LLVMGetFirstInstruction(b);
            while !i.is_null() {
                values.push(i);
                i = LLVMGetNextInstruction(i);
            }
        }
        let digest = osr_shape_digest(values.iter().enumerate().map(|(k, &v)| {
            let ty = LLVMTypeOf(v);
            let kind = LLVMGetTypeKind(ty);
            let width = if kind == LLVMTypeKind::LLVMIntegerTypeKind {
                LLVMGetIntTypeWidth(ty)
            } else {
                0
            };
            let opcode = if k < params {
                0
            } else {
                LLVMGetInstructionOpcode(v) as u32
            };
            (opcode, kind as u32, width)
        }));
        let header = *blocks
            .get(block as usize)
            .ok_or("the function has no such block")?;

        // The continuation: every block of the function, after a new entry.
        let ptr_ty = LLVMPointerTypeInContext(ctx, 0);
        let i64_ty = LLVMInt64TypeInContext(ctx);
        let ret = LLVMGetReturnType(LLVMGlobalGetValueType(f));
        let mut param = [ptr_ty];
        let cont_ty = LLVMFunctionType(ret, param.as_mut_ptr(), 1, 0);
        let cont = LLVMAddFunction(m, c"__jit_osr".as_ptr(), cont_ty);
        let entry = LLVMAppendBasicBlockInContext(ctx, cont, c"osr.entry".as_ptr());
        for &b in &blocks {
            LLVMRemoveBasicBlockFromParent(b);
            LLVMAppendExistingBasicBlock(cont, b);
        }
        let builder = LLVMCreateBuilderInContext(ctx);
        LLVMPositionBuilderAtEnd(builder, entry);
        let state = LLVMGetParam(cont, 0);
        let number: HashMap<LLVMValueRef, usize> =
            values.iter().enumerate().map(|(k, &v)| (v, k)).collect();
        let mut loaded: HashMap<LLVMValueRef, LLVMValueRef> = HashMap::new();
        let mut load = |v: LLVMValueRef| -> Result<LLVMValueRef, String> {
            if let Some(&l) = loaded.get(&v) {
                return Ok(l);
            }
            let k = number[&v];
            LLVMPositionBuilderAtEnd(builder, entry);
            let mut offset = [LLVMConstInt(i64_ty, k as u64, 0)];
            let at = LLVMBuildGEP2(builder, i64_ty, state, offset.as_mut_ptr(), 1, c"".as_ptr());
            let word = LLVMBuildLoad2(builder, i64_ty, at, c"".as_ptr());
            let l = from_word(builder, ctx, word, LLVMTypeOf(v))?;
            loaded.insert(v, l);
            Ok(l)
        };
        // The header's phis come from the entry with the frame's values.
        let reachable = reachable_from(header);
        let mut i = LLVMGetFirstInstruction(header);
        while !i.is_null() && !LLVMIsAPHINode(i).is_null() {
            let mut value = [load(i)?];
            let mut from = [entry];
            LLVMAddIncoming(i, value.as_mut_ptr(), from.as_mut_ptr(), 1);
            i = LLVMGetNextInstruction(i);
        }
        // Every value the rest of the frame uses lives in a stack slot from
        // here on: the entry stores the frame's value, its definition (if
        // it runs again) stores the new one, and each use loads the latest.
        // A value computed before the loop, or in an enclosing loop around
        // the header, then has the right value on every path without
        // working out where phis would go; the optimizer (`sroa`) turns the
        // slots back into registers.
        let uses = LLVMCreateBuilderInContext(ctx);
        let mut made: HashSet<LLVMValueRef> = HashSet::new();
        for &v in &values {
            let users = reachable_users(v, &reachable);
            if users.is_empty() {
                continue;
            }
            let ty = LLVMTypeOf(v);
            let first = load(v)?;
            LLVMPositionBuilderAtEnd(builder, entry);
            let slot = LLVMBuildAlloca(builder, ty, c"".as_ptr());
            made.insert(LLVMBuildStore(builder, first, slot));
            let outside = LLVMIsAInstruction(v).is_null()
                || !reachable.contains(&LLVMGetInstructionParent(v));
            if !outside {
                // After the definition (after all phis, for a phi).
                let mut after = LLVMGetNextInstruction(v);
                while !after.is_null() && !LLVMIsAPHINode(after).is_null() {
                    after = LLVMGetNextInstruction(after);
                }
                LLVMPositionBuilderBefore(uses, after);
                made.insert(LLVMBuildStore(uses, v, slot));
            }
            for user in users {
                if made.contains(&user) {
                    continue;
                }
                for j in 0..LLVMGetNumOperands(user).max(0) as u32 {
                    if LLVMGetOperand(user, j) != v {
                        continue;
                    }
                    if LLVMIsAPHINode(user).is_null() {
                        LLVMPositionBuilderBefore(uses, user);
                    } else {
                        // On the edge: at the end of the incoming block.
                        let pred = LLVMGetIncomingBlock(user, j);
                        LLVMPositionBuilderBefore(uses, LLVMGetBasicBlockTerminator(pred));
                    }
                    let now = LLVMBuildLoad2(uses, ty, slot, c"".as_ptr());
                    LLVMSetOperand(user, j, now);
                }
            }
        }
        LLVMDisposeBuilder(uses);
        // Uses of the old function's arguments left in unreachable blocks
        // would name another function's values: they get the entry's.
        for &p in &values[..params] {
            if !LLVMGetFirstUse(p).is_null() {
                LLVMReplaceAllUsesWith(p, load(p)?);
            }
        }
        LLVMPositionBuilderAtEnd(builder, entry);
        LLVMBuildBr(builder, header);
        LLVMDisposeBuilder(builder);
        // Calls to program functions go through their slots (with
        // copies, the calls left after optimizing, `inlining`); the cut
        // function itself is a declaration now (its entry stub).
        let carried = cut_around(m, &functions, index, cont, callees);
        let name = CString::new(UNIT_FUNCTION).unwrap();
        LLVMSetValueName2(cont, name.as_ptr(), UNIT_FUNCTION.len());
        globals_from_their_homes(m);
        crate::llvm::verify(m)?;
        Ok((digest, carried))
    }
}

/// The blocks of `f`, in order.
///
/// # Safety
/// `f` must be a valid function.
unsafe fn blocks_of(f: LLVMValueRef) -> Vec<LLVMBasicBlockRef> {
    let mut out = Vec::new();
    // SAFETY: walking a valid function's block list.
    unsafe {
        let mut b = LLVMGetFirstBasicBlock(f);
        while !b.is_null() {
            out.push(b);
            b = LLVMGetNextBasicBlock(b);
        }
    }
    out
}

/// The instructions in `reachable` blocks that use `v`.
///
/// # Safety
/// `v` must be a valid value.
unsafe fn reachable_users(
    v: LLVMValueRef,
    reachable: &HashSet<LLVMBasicBlockRef>,
) -> Vec<LLVMValueRef> {
    let mut out = Vec::new();
    // SAFETY: walking a valid value's use list; users of instructions
    // and arguments are instructions.
    unsafe {
        let mut u = LLVMGetFirstUse(v);
        while !u.is_null() {
            let user = LLVMGetUser(u);
            if !LLVMIsAInstruction(user).is_null()
                && reachable.contains(&LLVMGetInstructionParent(user))
                && !out.contains(&user)
            {
                out.push(user);
            }
            u = LLVMGetNextUse(u);
        }
    }
    out
}

/// The blocks reachable from `start` (itself included).
///
/// # Safety
/// `start` must be a valid block with terminators throughout its function.
unsafe fn reachable_from(start: LLVMBasicBlockRef) -> HashSet<LLVMBasicBlockRef> {
    let mut seen = HashSet::from([start]);
    let mut work = vec![start];
    // SAFETY: terminators and successors of valid blocks.
    unsafe {
        while let Some(b) = work.pop() {
            let t = LLVMGetBasicBlockTerminator(b);
            if t.is_null() {
                continue;
            }
            for s in 0..LLVMGetNumSuccessors(t) {
                let n = LLVMGetSuccessor(t, s);
                if seen.insert(n) {
                    work.push(n);
                }
            }
        }
    }
    seen
}

/// A value of type `ty` from the 64-bit word the interpreter keeps it in
/// (integers zero-extended, `float` in the low 32 bits, pointers and
/// `double` as their bits).
///
/// # Safety
/// `builder` must be positioned in a function of `ctx`.
unsafe fn from_word(
    builder: LLVMBuilderRef,
    ctx: LLVMContextRef,
    word: LLVMValueRef,
    ty: LLVMTypeRef,
) -> Result<LLVMValueRef, String> {
    // SAFETY: conversions built at the builder's position.
    unsafe {
        Ok(match LLVMGetTypeKind(ty) {
            LLVMTypeKind::LLVMIntegerTypeKind if LLVMGetIntTypeWidth(ty) == 64 => word,
            LLVMTypeKind::LLVMIntegerTypeKind => LLVMBuildTrunc(builder, word, ty, c"".as_ptr()),
            LLVMTypeKind::LLVMPointerTypeKind => LLVMBuildIntToPtr(builder, word, ty, c"".as_ptr()),
            LLVMTypeKind::LLVMDoubleTypeKind => LLVMBuildBitCast(builder, word, ty, c"".as_ptr()),
            LLVMTypeKind::LLVMFloatTypeKind => {
                let i32_ty = LLVMInt32TypeInContext(ctx);
                let low = LLVMBuildTrunc(builder, word, i32_ty, c"".as_ptr());
                LLVMBuildBitCast(builder, low, ty, c"".as_ptr())
            }
            _ => return Err("a value the interpreter cannot hand over (its type)".into()),
        })
    }
}
