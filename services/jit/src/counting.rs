//! Counting in compiled code, for the profiler: a unit compiled below O3
//! for an app with a counters page (`ipc_abi::counters`) adds one to its
//! function's call counter on entry, at O1 and O2 to the taken or
//! not-taken word of each conditional branch it runs (`count_branches`),
//! and to its back-edge counter at the top of every loop header (the target of a back-edge of a depth-first
//! walk from the entry, as the bytecode's lowering finds them). A header
//! also counts the entry into its loop, so a loop run n times counts n
//! where the interpreter counts its n - 1 back-edges.
//! The adds are volatile: the optimizer must not keep a count in a
//! register for the length of a loop, where the profiler cannot see it.
//!
//! Time: at its entry and after every call it makes (where it runs again)
//! the function names itself as the one running, as the interpreter does
//! (`ipc_abi::counters::RUNNING`, one store); the profiler samples the
//! word. O3 code does not (nothing above it to decide, and a store at
//! every call and return of a small hot function costs up to half its
//! time under TCG): its time counts for the profiled function that called
//! it.

use crate::unit::UNIT_FUNCTION;
use ipc_abi::counters::{
    APP_COUNTERS_BASE, BACKEDGES, CALLS, EDGES, RUNNING, counter_offset, running_word,
};
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
        let address = |at: u64| LLVMConstIntToPtr(LLVMConstInt(i64_ty, at, 0), ptr_ty);
        let load = |addr: LLVMValueRef| {
            let v = LLVMBuildLoad2(builder, i64_ty, addr, c"".as_ptr());
            LLVMSetVolatile(v, 1);
            v
        };
        let store = |v: LLVMValueRef, addr: LLVMValueRef| {
            LLVMSetVolatile(LLVMBuildStore(builder, v, addr), 1);
        };
        let bump = |before: LLVMValueRef, which: usize| {
            LLVMPositionBuilderBefore(builder, before);
            let addr = address(APP_COUNTERS_BASE + counter_offset(index, which));
            let new = LLVMBuildAdd(
                builder,
                load(addr),
                LLVMConstInt(i64_ty, 1, 0),
                c"".as_ptr(),
            );
            store(new, addr);
        };
        // Names the function as the one running (the profiler samples
        // it): one store.
        let switch = |before: LLVMValueRef| {
            LLVMPositionBuilderBefore(builder, before);
            let running_at = address(APP_COUNTERS_BASE + 8 * RUNNING as u64);
            store(LLVMConstInt(i64_ty, running_word(index), 0), running_at);
        };
        // Where the function runs again after a call: after every call
        // that is not an intrinsic or inline assembly (a `musttail` call
        // has nothing after it).
        let mut resumes = Vec::new();
        for &b in &blocks {
            let mut i = LLVMGetFirstInstruction(b);
            while !i.is_null() {
                let next = LLVMGetNextInstruction(i);
                if !LLVMIsACallInst(i).is_null()
                    && LLVMGetTailCallKind(i)
                        != llvm_sys::LLVMTailCallKind::LLVMTailCallKindMustTail
                    && !next.is_null()
                {
                    let callee = LLVMGetCalledValue(i);
                    let intrinsic =
                        !LLVMIsAFunction(callee).is_null() && LLVMGetIntrinsicID(callee) != 0;
                    if !intrinsic && LLVMIsAInlineAsm(callee).is_null() {
                        resumes.push(next);
                    }
                }
                i = next;
            }
        }
        // After the entry block's allocas (static ones stay first).
        let mut at = LLVMGetFirstInstruction(blocks[0]);
        while !at.is_null() && !LLVMIsAAllocaInst(at).is_null() {
            at = LLVMGetNextInstruction(at);
        }
        if entry && !at.is_null() {
            bump(at, CALLS);
        }
        if !at.is_null() {
            switch(at);
        }
        for r in resumes {
            switch(r);
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

/// Adds branch counting to the unit's function, function `index` of the
/// program, whose unit was cut from the lowered program
/// (`Program::lowered_unit`, so its conditional branches, in block order,
/// are the bytecode's by edge number): each adds one to its taken or
/// not-taken word where the interpreter does (`ipc_abi::counters::EDGES`).
/// The function finds its edges at entry (the object's layout is the app
/// host's); when they are not two words per branch it found (no
/// bytecode, edges that did not fit), every branch adds 0 to its own call
/// counter instead, so nothing else is ever written. Returns how many
/// branches count. Done before counting calls and loops, whose code has
/// no branches of its own.
///
/// # Safety
/// `module` must be a valid function unit cut from the lowered program.
pub unsafe fn count_branches(module: LLVMModuleRef, index: usize) -> usize {
    let name = CString::new(UNIT_FUNCTION).unwrap();
    // SAFETY: as in `count_calls_and_loops`: instructions of the module's
    // context inserted before instructions of the function.
    unsafe {
        let f = LLVMGetNamedFunction(module, name.as_ptr());
        if f.is_null() || LLVMCountBasicBlocks(f) == 0 {
            return 0;
        }
        let branches = crate::lowering::conditional_branches(f);
        if branches.is_empty() {
            return 0;
        }
        let ctx = LLVMGetModuleContext(module);
        let i64_ty = LLVMInt64TypeInContext(ctx);
        let ptr_ty = LLVMPointerTypeInContext(ctx, 0);
        let builder = LLVMCreateBuilderInContext(ctx);
        let int = |v: u64| LLVMConstInt(i64_ty, v, 0);
        // At entry, after the static allocas: where the edges are, and
        // whether they are this function's.
        let mut at = LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(f));
        while !at.is_null() && !LLVMIsAAllocaInst(at).is_null() {
            at = LLVMGetNextInstruction(at);
        }
        LLVMPositionBuilderBefore(builder, at);
        let word_at = LLVMConstIntToPtr(
            int(APP_COUNTERS_BASE + counter_offset(index, EDGES)),
            ptr_ty,
        );
        let word = LLVMBuildLoad2(builder, i64_ty, word_at, c"".as_ptr());
        LLVMSetVolatile(word, 1);
        let len = LLVMBuildLShr(builder, word, int(32), c"".as_ptr());
        let ours = LLVMBuildICmp(
            builder,
            llvm_sys::LLVMIntPredicate::LLVMIntEQ,
            len,
            int(2 * branches.len() as u64),
            c"".as_ptr(),
        );
        let offset = LLVMBuildAnd(builder, word, int(0xffff_ffff), c"".as_ptr());
        let base = LLVMBuildAdd(builder, offset, int(APP_COUNTERS_BASE), c"".as_ptr());
        let calls = int(APP_COUNTERS_BASE + counter_offset(index, CALLS));
        let one = LLVMBuildZExt(builder, ours, i64_ty, c"".as_ptr());
        for (k, &br) in branches.iter().enumerate() {
            LLVMPositionBuilderBefore(builder, br);
            let taken = LLVMGetCondition(br);
            // Taken (to the first successor): word 2k, else 2k + 1.
            let slot = LLVMBuildSelect(
                builder,
                taken,
                int(16 * k as u64),
                int(16 * k as u64 + 8),
                c"".as_ptr(),
            );
            let edge = LLVMBuildAdd(builder, base, slot, c"".as_ptr());
            let target = LLVMBuildSelect(builder, ours, edge, calls, c"".as_ptr());
            let addr = LLVMBuildIntToPtr(builder, target, ptr_ty, c"".as_ptr());
            let old = LLVMBuildLoad2(builder, i64_ty, addr, c"".as_ptr());
            LLVMSetVolatile(old, 1);
            let new = LLVMBuildAdd(builder, old, one, c"".as_ptr());
            LLVMSetVolatile(LLVMBuildStore(builder, new, addr), 1);
        }
        LLVMDisposeBuilder(builder);
        branches.len()
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
