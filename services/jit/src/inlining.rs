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
//! Which copies: the functions reachable through direct calls, each at
//! most [`BODY_LIMIT`] instructions, all of them together at most
//! [`BUDGET`] (what the optimizer would not inline anyway, big bodies,
//! only costs compile time), nearest first; and when the run's call
//! counts say something (`calls::CallCounts`: the app counts and the
//! unit's function has run), hottest first, and never a callee the run
//! has not called (a copy that is never run only costs compile time and
//! code size in the caller). Counts only choose; a callee left out is
//! called through its slot, which is always right.

use crate::unit::{UNIT_FUNCTION, make_declaration, route_calls_through_slots};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMModuleRef, LLVMValueRef};
use llvm_sys::{LLVMAttributeFunctionIndex, LLVMLinkage};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
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

/// How a unit treats its function's calls to program functions.
#[derive(Clone, Copy, Debug)]
pub enum Callees<'a> {
    /// Every one goes through the callee's slot.
    ThroughSlots,
    /// The unit carries copies of callees for the optimizer to inline
    /// ([`chosen`]), by size and, with the run's call counts (by function
    /// index), by calls.
    Copied(Option<&'a [u64]>),
}

/// What an inlining unit carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Carried {
    /// Callee bodies copied into the unit.
    pub copies: usize,
    /// Callees within reach that were left out because the run never
    /// called them.
    pub cold: usize,
    /// The run's call counts chose (otherwise size alone).
    pub by_calls: bool,
}

/// The functions (indices, not `own`) whose bodies go with the unit of
/// function `own`, whose code is `from` (`functions[own]`, or an
/// on-stack-replacement continuation of it), as [`choose`] picks them,
/// and how many it left out as cold.
///
/// # Safety
/// `functions` must be the defined functions of a valid module, `from`
/// a function of it.
pub unsafe fn chosen(
    functions: &[LLVMValueRef],
    own: usize,
    from: LLVMValueRef,
    calls: Option<&[u64]>,
) -> (Vec<usize>, usize) {
    // SAFETY: the caller's promise.
    let (_, first) = unsafe { body(from, functions) };
    // SAFETY: as above; `choose` asks only for indices of `functions`.
    let body_of = |i: usize| unsafe { body(functions[i], functions) };
    choose(functions.len(), own, first, body_of, calls)
}

/// Chooses copies among `functions` functions for the unit of `own`,
/// whose code calls `first` directly; `body(i)` is function `i`'s size
/// in instructions and the functions it calls directly. Reachable
/// callees are taken within [`BODY_LIMIT`] each and [`BUDGET`] together,
/// nearest first; with `calls` (each function's calls so far), hottest
/// first (ties nearest first), and those with no calls are left out
/// (counted as cold, the second result: their callees are not reached
/// through them).
pub fn choose(
    functions: usize,
    own: usize,
    first: Vec<usize>,
    mut body: impl FnMut(usize) -> (usize, Vec<usize>),
    calls: Option<&[u64]>,
) -> (Vec<usize>, usize) {
    let heat = |i: usize| calls.map_or(0, |c| c.get(i).copied().unwrap_or(0));
    let mut cold = 0;
    let mut chosen = Vec::new();
    let mut seen = vec![false; functions];
    if let Some(s) = seen.get_mut(own) {
        *s = true;
    }
    let mut spent = 0;
    // Hottest first, then in the order found (breadth first).
    let mut order = 0usize;
    let mut queue = BinaryHeap::new();
    let mut push = |queue: &mut BinaryHeap<_>, i: usize| {
        queue.push((heat(i), Reverse(order), i));
        order += 1;
    };
    for i in first {
        push(&mut queue, i);
    }
    while let Some((hot, _, i)) = queue.pop() {
        if i >= functions || std::mem::replace(&mut seen[i], true) {
            continue;
        }
        if calls.is_some() && hot == 0 {
            cold += 1;
            continue;
        }
        let (size, callees) = body(i);
        if size > BODY_LIMIT || spent + size > BUDGET {
            continue;
        }
        spent += size;
        chosen.push(i);
        for c in callees {
            if c < functions && !seen[c] {
                push(&mut queue, c);
            }
        }
    }
    (chosen, cold)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A call graph: function `i`'s size and the functions it calls.
    fn graph<'a>(
        bodies: &'a [(usize, &'a [usize])],
    ) -> impl FnMut(usize) -> (usize, Vec<usize>) + 'a {
        |i| (bodies[i].0, bodies[i].1.to_vec())
    }

    #[test]
    fn by_size_alone_nearest_first_within_the_limits() {
        // 0 calls 1 (small), 2 (too big) and 3; 3 calls 4; 1 calls 0.
        let bodies: &[(usize, &[usize])] = &[
            (10, &[1, 2, 3]),
            (20, &[0]),
            (BODY_LIMIT + 1, &[]),
            (30, &[4]),
            (40, &[]),
        ];
        let (chosen, cold) = choose(5, 0, vec![1, 2, 3], graph(bodies), None);
        assert_eq!((chosen, cold), (vec![1, 3, 4], 0));
    }

    #[test]
    fn the_budget_takes_the_nearest_without_counts_and_the_hottest_with_them() {
        // Function 0 calls 1..=11, each of BODY_LIMIT instructions: the
        // budget holds BUDGET / BODY_LIMIT of them.
        let fit = BUDGET / BODY_LIMIT;
        let callees: Vec<usize> = (1..=fit + 1).collect();
        let mut bodies: Vec<(usize, &[usize])> = vec![(10, &[])];
        bodies.extend(callees.iter().map(|_| (BODY_LIMIT, &[][..])));
        let n = bodies.len();
        let (by_size, _) = choose(n, 0, callees.clone(), graph(&bodies), None);
        assert_eq!(by_size, (1..=fit).collect::<Vec<_>>());
        // The later a callee, the hotter: the first is left out.
        let calls: Vec<u64> = (0..n as u64).map(|i| 1 + i * 10).collect();
        let (by_calls, cold) = choose(n, 0, callees, graph(&bodies), Some(&calls));
        let mut expected: Vec<usize> = (2..=fit + 1).collect();
        expected.reverse();
        assert_eq!((by_calls, cold), (expected, 0));
    }

    #[test]
    fn callees_the_run_never_called_are_left_out_with_what_only_they_reach() {
        // 0 calls 1 (hot) and 2 (never called); 2 calls 3, which nothing
        // else calls; 1 calls 4.
        let bodies: &[(usize, &[usize])] =
            &[(10, &[1, 2]), (10, &[4]), (10, &[3]), (10, &[]), (10, &[])];
        let calls = [1, 500, 0, 0, 80];
        let (chosen, cold) = choose(5, 0, vec![1, 2], graph(bodies), Some(&calls));
        assert_eq!((chosen, cold), (vec![1, 4], 1));
        // Without counts both are carried, and what 2 reaches.
        let (chosen, _) = choose(5, 0, vec![1, 2], graph(bodies), None);
        assert_eq!(chosen, [1, 2, 4, 3]);
    }

    #[test]
    fn out_of_range_indices_are_ignored() {
        let bodies: &[(usize, &[usize])] = &[(10, &[1, 7]), (10, &[9])];
        let (chosen, _) = choose(2, 0, vec![1, 7], graph(bodies), Some(&[1]));
        assert!(chosen.is_empty(), "{chosen:?}");
        let (chosen, _) = choose(2, 0, vec![1, 7], graph(bodies), None);
        assert_eq!(chosen, [1]);
    }
}
