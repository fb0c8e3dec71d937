//! Inlining across dispatch slots (O2 and O3 units). A C function means
//! the same at every tier, so a high-tier unit may carry copies of the
//! bodies of the program functions its function calls, for the optimizer
//! to inline: they are `available_externally` (visible to the optimizer,
//! never emitted; LLVM drops what it did not inline). Every call the
//! optimizer leaves standing is then routed through the callee's dispatch
//! slot, as in any other unit, so a callee that was not inlined still
//! changes tier under the caller's feet.
//!
//! `noinline` on every function of a program is what clang writes at -O0
//! (it inlines nothing itself there), not the programmer's wish: the
//! copies of such a program lose it. Where only some functions carry it,
//! it is kept. A function marked `optnone` is never copied.
//!
//! Which copies: the functions reachable through direct calls, nearest
//! first, each at most [`BODY_LIMIT`] instructions, all of them together
//! at most [`BUDGET`]: what the optimizer would not inline anyway (big
//! bodies) only costs compile time.

use crate::unit::{UNIT_FUNCTION, make_declaration, route_calls_through_slots};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMModuleRef, LLVMValueRef};
use llvm_sys::{LLVMAttributeFunctionIndex, LLVMLinkage};
use std::collections::VecDeque;
use std::ffi::CString;

/// The lowest level whose units carry copies (clang inlines from O2 on
/// too; O0 and O1 compiles stay cheap).
pub const FROM_LEVEL: u8 = 2;
/// The largest callee body copied into a unit, in instructions (LLVM's
/// O3 inline threshold is 250 "cost", a few instructions each at most).
pub const BODY_LIMIT: usize = 400;
/// The most instructions of copied bodies in one unit.
pub const BUDGET: usize = 4000;

/// The instructions of `f` and the program functions it calls directly
/// (indices into `functions`), in call order, each once.
///
/// # Safety
/// `f` must be a function of a valid module; `functions` that module's
/// defined functions.
unsafe fn body(f: LLVMValueRef, functions: &[LLVMValueRef]) -> (usize, Vec<usize>) {
    let mut size = 0;
    let mut callees = Vec::new();
    // SAFETY: walks the blocks and instructions of a valid function.
    unsafe {
        let mut bb = LLVMGetFirstBasicBlock(f);
        while !bb.is_null() {
            let mut inst = LLVMGetFirstInstruction(bb);
            while !inst.is_null() {
                size += 1;
                if !LLVMIsACallInst(inst).is_null() {
                    let callee = LLVMGetCalledValue(inst);
                    if let Some(i) = functions.iter().position(|&g| g == callee)
                        && !callees.contains(&i)
                    {
                        callees.push(i);
                    }
                }
                inst = LLVMGetNextInstruction(inst);
            }
            bb = LLVMGetNextBasicBlock(bb);
        }
    }
    (size, callees)
}

/// The functions (indices, not `own`) whose bodies go with the unit of
/// function `own`, whose code is `from` (`functions[own]`, or an
/// on-stack-replacement continuation of it): reachable from `from`
/// through direct calls, breadth first, within [`BODY_LIMIT`] each and
/// [`BUDGET`] together.
///
/// # Safety
/// `functions` must be the defined functions of a valid module, `from`
/// a function of it.
pub unsafe fn chosen(functions: &[LLVMValueRef], own: usize, from: LLVMValueRef) -> Vec<usize> {
    let mut chosen = Vec::new();
    let mut seen = vec![false; functions.len()];
    seen[own] = true;
    let mut spent = 0;
    // SAFETY: the caller's promise.
    let (_, first) = unsafe { body(from, functions) };
    let mut queue: VecDeque<usize> = first.into();
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        // SAFETY: as above.
        let (size, callees) = unsafe { body(functions[i], functions) };
        if size > BODY_LIMIT || spent + size > BUDGET {
            continue;
        }
        spent += size;
        chosen.push(i);
        queue.extend(callees.into_iter().filter(|&c| !seen[c]));
    }
    chosen
}

/// The kind of a function attribute by name.
fn attribute(name: &str) -> u32 {
    // SAFETY: LLVM reads `name.len()` bytes.
    unsafe { LLVMGetEnumAttributeKindForName(name.as_ptr().cast(), name.len()) }
}

/// Whether function `f` carries the function attribute `name`.
///
/// # Safety
/// `f` must be a valid function.
unsafe fn has(f: LLVMValueRef, name: &str) -> bool {
    // SAFETY: the caller's promise.
    unsafe {
        !LLVMGetEnumAttributeAtIndex(f, LLVMAttributeFunctionIndex, attribute(name)).is_null()
    }
}

/// Whether every one of `functions` (a program's definitions) is marked
/// `noinline`: clang's -O0 output, which says nothing about the program.
///
/// # Safety
/// `functions` must be valid functions.
pub unsafe fn blanket_noinline(functions: &[LLVMValueRef]) -> bool {
    // SAFETY: the caller's promise.
    !functions.is_empty() && functions.iter().all(|&f| unsafe { has(f, "noinline") })
}

/// Marks function `f` (a definition) as a copy for the optimizer only,
/// inlinable unless the program asked otherwise (see the module's doc).
/// False (and `f` untouched) for a function that is never copied.
///
/// # Safety
/// `f` must be a function defined in a valid module.
pub unsafe fn keep_as_copy(f: LLVMValueRef, blanket_noinline: bool) -> bool {
    // SAFETY: the caller's promise.
    unsafe {
        if has(f, "optnone") {
            return false;
        }
        if blanket_noinline {
            LLVMRemoveEnumAttributeAtIndex(f, LLVMAttributeFunctionIndex, attribute("noinline"));
        }
        LLVMSetLinkage(f, LLVMLinkage::LLVMAvailableExternallyLinkage);
        true
    }
}

/// After optimizing an inlining unit `m` of a program whose functions are
/// `names` (table order): copies the optimizer kept become declarations,
/// and every call the unit's function still makes to a program function
/// goes through the callee's dispatch slot. Returns how many calls were
/// left standing.
///
/// # Safety
/// `m` must be a valid, optimized function unit.
pub unsafe fn route_calls_left(m: LLVMModuleRef, names: &[String]) -> usize {
    // SAFETY: values are looked up by name in the valid module; each copy
    // is replaced by a declaration before the declarations are collected.
    unsafe {
        let lookup = |name: &str| {
            let c = CString::new(name).unwrap();
            LLVMGetNamedFunction(m, c.as_ptr())
        };
        let own = lookup(UNIT_FUNCTION);
        if own.is_null() {
            return 0;
        }
        for name in names {
            let f = lookup(name);
            if !f.is_null() && LLVMIsDeclaration(f) == 0 {
                make_declaration(m, f);
            }
        }
        // Table order, a null where the unit no longer mentions a function.
        let functions: Vec<LLVMValueRef> = names.iter().map(|n| lookup(n)).collect();
        let ctx = LLVMGetModuleContext(m);
        route_calls_through_slots(ctx, own, &functions)
    }
}
