//! Counting in compiled code, for the profiler: a unit compiled below O3
//! for an app with a counters page (`ipc_abi::counters`) adds one to its
//! function's call counter on entry and to its back-edge counter at the
//! top of every loop header (the target of a back-edge of a depth-first
//! walk from the entry, as the bytecode's lowering finds them). A header
//! also counts the entry into its loop, so a loop run n times counts n
//! where the interpreter counts its n - 1 back-edges.
//! The adds are volatile: the optimizer must not keep a count in a
//! register for the length of a loop, where the profiler cannot see it.

use crate::unit::UNIT_FUNCTION;
use ipc_abi::counters::{APP_COUNTERS_BASE, BACKEDGES, CALLS, counter_offset};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMBasicBlockRef, LLVMModuleRef, LLVMValueRef};
use std::ffi::CString;

/// Adds the counting to the unit's function, function `index` of the
/// program (its entry counted as a call when `entry`; not for an
/// on-stack-replacement continuation, which goes on with a call already
/// counted).
///
/// # Safety
/// `module` must be a valid function unit (`Program::unit`).
pub unsafe fn count_calls_and_loops(module: LLVMModuleRef, index: usize, entry: bool) {
    let name = CString::new(UNIT_FUNCTION).unwrap();
    // SAFETY: reading and extending a valid module with instructions of
    // its own context; every insertion point is an instruction of the
    // function, and the builder is disposed of at the end.
    unsafe {
        let f = LLVMGetNamedFunction(module, name.as_ptr());
        if f.is_null() || LLVMCountBasicBlocks(f) == 0 {
            return;
        }
        let mut blocks: Vec<LLVMBasicBlockRef> = Vec::new();
        let mut bb = LLVMGetFirstBasicBlock(f);
        while !bb.is_null() {
            blocks.push(bb);
            bb = LLVMGetNextBasicBlock(bb);
        }
        let headers = loop_headers(&blocks);
        let ctx = LLVMGetModuleContext(module);
        let i64_ty = LLVMInt64TypeInContext(ctx);
        let ptr_ty = LLVMPointerTypeInContext(ctx, 0);
        let builder = LLVMCreateBuilderInContext(ctx);
        let bump = |before: LLVMValueRef, which: usize| {
            LLVMPositionBuilderBefore(builder, before);
            let at = APP_COUNTERS_BASE + counter_offset(index, which);
            let addr = LLVMConstIntToPtr(LLVMConstInt(i64_ty, at, 0), ptr_ty);
            let old = LLVMBuildLoad2(builder, i64_ty, addr, c"".as_ptr());
            LLVMSetVolatile(old, 1);
            let new = LLVMBuildAdd(builder, old, LLVMConstInt(i64_ty, 1, 0), c"".as_ptr());
            let store = LLVMBuildStore(builder, new, addr);
            LLVMSetVolatile(store, 1);
        };
        // After the entry block's allocas (static ones stay first).
        let mut at = LLVMGetFirstInstruction(blocks[0]);
        while !at.is_null() && !LLVMIsAAllocaInst(at).is_null() {
            at = LLVMGetNextInstruction(at);
        }
        if entry && !at.is_null() {
            bump(at, CALLS);
        }
        for h in headers {
            let mut at = LLVMGetFirstInstruction(h);
            while !at.is_null() && !LLVMIsAPHINode(at).is_null() {
                at = LLVMGetNextInstruction(at);
            }
            if !at.is_null() {
                bump(at, BACKEDGES);
            }
        }
        LLVMDisposeBuilder(builder);
    }
}

/// The targets of the back-edges of a depth-first walk from `blocks[0]`.
///
/// # Safety
/// `blocks` must be the blocks of one valid function.
unsafe fn loop_headers(blocks: &[LLVMBasicBlockRef]) -> Vec<LLVMBasicBlockRef> {
    let successors = |b: LLVMBasicBlockRef| -> Vec<LLVMBasicBlockRef> {
        // SAFETY: terminators and successors of valid blocks.
        unsafe {
            let t = LLVMGetBasicBlockTerminator(b);
            if t.is_null() {
                return Vec::new();
            }
            (0..LLVMGetNumSuccessors(t))
                .map(|i| LLVMGetSuccessor(t, i))
                .collect()
        }
    };
    let mut headers = Vec::new();
    let Some(&entry) = blocks.first() else {
        return headers;
    };
    let mut visited = vec![entry];
    let mut on_path = vec![entry];
    let mut stack = vec![(entry, successors(entry), 0usize)];
    while let Some((b, succ, next)) = stack.last_mut() {
        let Some(&s) = succ.get(*next) else {
            let done = *b;
            on_path.retain(|&x| x != done);
            stack.pop();
            continue;
        };
        *next += 1;
        if on_path.contains(&s) {
            if !headers.contains(&s) {
                headers.push(s);
            }
        } else if !visited.contains(&s) {
            visited.push(s);
            on_path.push(s);
            stack.push((s, successors(s), 0));
        }
    }
    headers
}
