//! The bytecode's view of a function: the program's IR after
//! `LOWERING_PIPELINE`, which `irlower` ran over every function (each
//! marked `no-builtins`) before lowering it. The JIT needs the same view
//! where it meets the interpreter's numbers: on-stack replacement (values
//! by canonical number, `osr`) and profile-guided O3 (branches and calls
//! by number, `pgo`). The passes are all within a function, so running
//! them over one function alone gives it as `irlower` saw it.

use ipc_abi::proto::jit::LOWERING_PIPELINE;
use llvm_sys::LLVMOpcode;
use llvm_sys::core::*;
use llvm_sys::prelude::*;

const NO_BUILTINS: &str = "no-builtins";
const OPTNONE: &str = "optnone";
const NOINLINE: &str = "noinline";

/// Runs `LOWERING_PIPELINE` over function `f` of `m` as `irlower` ran it
/// over the whole program (with `f` marked `no-builtins`), and over no
/// other function (`functions`, marked `optnone` meanwhile): the passes
/// are all within a function, so `f` comes out as it did there, at the
/// cost of one function instead of the program. The marks come off
/// after (those it already had stay).
///
/// # Safety
/// `f` and `functions` must be defined functions of the valid module `m`.
pub unsafe fn lower_alone(
    m: LLVMModuleRef,
    f: LLVMValueRef,
    functions: &[LLVMValueRef],
) -> Result<(), String> {
    let at = llvm_sys::LLVMAttributeFunctionIndex;
    // SAFETY: the caller's promise; attributes of the module's context.
    unsafe {
        let ctx = LLVMGetModuleContext(m);
        let mut added: Vec<(LLVMValueRef, &str)> = Vec::new();
        let has_string = |g, name: &str| {
            !LLVMGetStringAttributeAtIndex(g, at, name.as_ptr().cast(), name.len() as u32).is_null()
        };
        let kind = |name: &str| LLVMGetEnumAttributeKindForName(name.as_ptr().cast(), name.len());
        if !has_string(f, NO_BUILTINS) {
            let attr = LLVMCreateStringAttribute(
                ctx,
                NO_BUILTINS.as_ptr().cast(),
                NO_BUILTINS.len() as u32,
                c"".as_ptr(),
                0,
            );
            LLVMAddAttributeAtIndex(f, at, attr);
            added.push((f, NO_BUILTINS));
        }
        for &g in functions.iter().filter(|&&g| g != f) {
            // The verifier wants `noinline` beside `optnone`.
            for name in [NOINLINE, OPTNONE] {
                if LLVMGetEnumAttributeAtIndex(g, at, kind(name)).is_null() {
                    LLVMAddAttributeAtIndex(g, at, LLVMCreateEnumAttribute(ctx, kind(name), 0));
                    added.push((g, name));
                }
            }
        }
        let lowered = crate::llvm::run_passes(m, LOWERING_PIPELINE);
        for (g, name) in added {
            if name == NO_BUILTINS {
                LLVMRemoveStringAttributeAtIndex(g, at, name.as_ptr().cast(), name.len() as u32);
            } else {
                LLVMRemoveEnumAttributeAtIndex(g, at, kind(name));
            }
        }
        lowered
    }
}

/// Function `f`'s conditional branches, in block order: after
/// `lower_alone`, the bytecode's branches by edge number (`irlower`
/// numbers them the same way). Profile-guided units weigh them, counted
/// units count them.
///
/// # Safety
/// `f` must be a defined function of a valid module.
pub unsafe fn conditional_branches(f: LLVMValueRef) -> Vec<LLVMValueRef> {
    let mut out = Vec::new();
    // SAFETY: walks the valid function's blocks and reads terminators.
    unsafe {
        let mut b = LLVMGetFirstBasicBlock(f);
        while !b.is_null() {
            let t = LLVMGetBasicBlockTerminator(b);
            if !t.is_null()
                && LLVMGetInstructionOpcode(t) == LLVMOpcode::LLVMBr
                && LLVMIsConditional(t) != 0
            {
                out.push(t);
            }
            b = LLVMGetNextBasicBlock(b);
        }
    }
    out
}

/// Function `f`'s calls through pointers, in block order: calls whose
/// callee is neither a function nor inline assembly; after `lower_alone`,
/// the bytecode's by site number (`irlower` numbers them the same way).
///
/// # Safety
/// `f` must be a defined function of a valid module.
pub unsafe fn indirect_calls(f: LLVMValueRef) -> Vec<LLVMValueRef> {
    // SAFETY: the caller's promise; kind tests on live values.
    unsafe {
        calls(f)
            .into_iter()
            .filter(|&c| {
                let callee = LLVMGetCalledValue(c);
                LLVMIsAFunction(callee).is_null() && LLVMIsAInlineAsm(callee).is_null()
            })
            .collect()
    }
}

/// Function `f`'s call instructions, in block order.
///
/// # Safety
/// `f` must be a defined function of a valid module.
pub unsafe fn calls(f: LLVMValueRef) -> Vec<LLVMValueRef> {
    let mut out = Vec::new();
    // SAFETY: walks the valid function's blocks and instructions.
    unsafe {
        let mut b = LLVMGetFirstBasicBlock(f);
        while !b.is_null() {
            let mut i = LLVMGetFirstInstruction(b);
            while !i.is_null() {
                if LLVMGetInstructionOpcode(i) == LLVMOpcode::LLVMCall {
                    out.push(i);
                }
                i = LLVMGetNextInstruction(i);
            }
            b = LLVMGetNextBasicBlock(b);
        }
    }
    out
}

impl crate::unit::Program {
    /// `unit` (a function unit of function `index`) cut from a copy of the
    /// program whose function went through the lowering pipeline first,
    /// so that its branches are numbered as the bytecode numbers them
    /// (`counting::count_branches`); the module and the callee copies it
    /// carries.
    pub fn lowered_unit(
        &self,
        unit: &crate::unit::Unit,
        index: usize,
    ) -> Result<(LLVMModuleRef, crate::inlining::Carried), String> {
        // SAFETY: the clone is a valid module of the program, owned here
        // until handed on to `cut` (disposed of on error); the passes keep
        // it valid and add or remove no definition.
        unsafe {
            let m = LLVMCloneModule(self.module);
            let functions = crate::unit::defined_functions(m);
            let lowered = match functions.get(index) {
                Some(&f) => lower_alone(m, f, &functions),
                None => Err("no such function".into()),
            };
            match lowered {
                Ok(()) => Ok(crate::unit::cut(m, unit)),
                Err(e) => {
                    LLVMDisposeModule(m);
                    Err(e)
                }
            }
        }
    }
}
