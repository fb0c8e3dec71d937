//! Profile-guided O3: a unit whose function carries the profiler's counts
//! as LLVM profile metadata, so that the optimizer (block placement,
//! inlining thresholds, loop and select decisions) and the code generator
//! know which way its branches go and how hot its blocks are.
//!
//! The counts are the interpreter's, per conditional branch of the
//! function as the bytecode lowering saw it (the program's IR after
//! `LOWERING_PIPELINE`; branches numbered in block order). So the unit is
//! built from the same: a clone of the program with that pipeline run
//! over it exactly as `irlower` runs it (every function marked
//! `no-builtins` for the passes, the mark taken off after), then the
//! weights go on its branches by number, the calls become the function's
//! entry count, the counts' summary the module's `ProfileSummary`, and
//! the clone is cut into the unit as any other. When the function has
//! another number of conditional branches than the bytecode had, the
//! numbers mean nothing here: it gets its entry count alone.

use crate::unit::{Program, Unit, cut, defined_functions};
use ipc_abi::proto::jit::{LOWERING_PIPELINE, Profile};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::{LLVMModuleFlagBehavior, LLVMOpcode};

/// What a profile-guided unit got.
pub struct Guided {
    /// Branches given weights.
    pub weighted: usize,
    /// The function's conditional branches after the lowering pipeline.
    pub branches: usize,
    /// The profile's branch count, when it differed (weights not used).
    pub mismatch: Option<u32>,
}

impl std::fmt::Display for Guided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pgo_weighted={} pgo_branches={}",
            self.weighted, self.branches
        )?;
        if let Some(theirs) = self.mismatch {
            write!(f, " pgo_mismatch={theirs}")?;
        }
        Ok(())
    }
}

const NO_BUILTINS: &str = "no-builtins";

impl Program {
    /// `unit` (a function unit of function `index`) built from the
    /// program after the lowering pipeline, with `profile` on function
    /// `index`; the module, the callee copies it carries, what it got.
    pub fn guided_unit(
        &self,
        unit: &Unit,
        index: usize,
        profile: &Profile,
    ) -> Result<(LLVMModuleRef, usize, Guided), String> {
        // SAFETY: the clone is a valid module of the program, owned here
        // until handed on to `cut` (disposed of on error); the passes and
        // metadata keep it valid, and no definition is added or removed
        // before `cut`.
        unsafe {
            let m = LLVMCloneModule(self.module);
            match annotate(m, index, profile) {
                Ok(guided) => {
                    let (m, copies) = cut(m, unit);
                    Ok((m, copies, guided))
                }
                Err(e) => {
                    LLVMDisposeModule(m);
                    Err(e)
                }
            }
        }
    }
}

/// Lowers `m` as `irlower` does and puts `profile` on function `index`.
///
/// # Safety
/// `m` must be a valid module (a clone of the program).
unsafe fn annotate(m: LLVMModuleRef, index: usize, profile: &Profile) -> Result<Guided, String> {
    // SAFETY: see `Program::guided_unit`; attributes and metadata are
    // created in the module's context.
    unsafe {
        let ctx = LLVMGetModuleContext(m);
        let functions = defined_functions(m);
        let f = *functions.get(index).ok_or("no such function")?;
        let fn_index = llvm_sys::LLVMAttributeFunctionIndex;
        let mut marked = Vec::new();
        for &g in &functions {
            let has = !LLVMGetStringAttributeAtIndex(
                g,
                fn_index,
                NO_BUILTINS.as_ptr().cast(),
                NO_BUILTINS.len() as u32,
            )
            .is_null();
            if !has {
                let attr = LLVMCreateStringAttribute(
                    ctx,
                    NO_BUILTINS.as_ptr().cast(),
                    NO_BUILTINS.len() as u32,
                    c"".as_ptr(),
                    0,
                );
                LLVMAddAttributeAtIndex(g, fn_index, attr);
                marked.push(g);
            }
        }
        crate::llvm::run_passes(m, LOWERING_PIPELINE)?;
        for g in marked {
            LLVMRemoveStringAttributeAtIndex(
                g,
                fn_index,
                NO_BUILTINS.as_ptr().cast(),
                NO_BUILTINS.len() as u32,
            );
        }

        let branches = conditional_branches(f);
        let prof = LLVMGetMDKindIDInContext(ctx, c"prof".as_ptr(), 4);
        let mut guided = Guided {
            weighted: 0,
            branches: branches.len(),
            mismatch: None,
        };
        if branches.len() == profile.branches as usize {
            for w in &profile.weights {
                let Some(&br) = branches.get(w.edge as usize) else {
                    continue;
                };
                // One added to each: a branch never seen to go one way is
                // rare, not impossible.
                let weights = [w.taken, w.not_taken].map(|c| c.saturating_add(1));
                let node = md_node(ctx, "branch_weights", &weights.map(|c| const_i32(ctx, c)));
                LLVMSetMetadata(br, prof, LLVMMetadataAsValue(ctx, node));
                guided.weighted += 1;
            }
        } else {
            guided.mismatch = Some(profile.branches);
        }
        let entry = md_node(
            ctx,
            "function_entry_count",
            &[const_i64(ctx, u64::from(profile.calls))],
        );
        LLVMGlobalSetMetadata(f, prof, entry);
        add_summary(m, ctx, profile);
        Ok(guided)
    }
}

/// Function `f`'s conditional branches, in block order.
///
/// # Safety
/// `f` must be a defined function of a valid module.
unsafe fn conditional_branches(f: LLVMValueRef) -> Vec<LLVMValueRef> {
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

/// `!{!"name", values...}`.
///
/// # Safety
/// `ctx` must be a live context and `values` metadata in it.
unsafe fn md_node(ctx: LLVMContextRef, name: &str, values: &[LLVMMetadataRef]) -> LLVMMetadataRef {
    // SAFETY: the caller's promise; LLVM copies the string and operands.
    unsafe {
        let mut ops = vec![LLVMMDStringInContext2(
            ctx,
            name.as_ptr().cast(),
            name.len(),
        )];
        ops.extend_from_slice(values);
        LLVMMDNodeInContext2(ctx, ops.as_mut_ptr(), ops.len())
    }
}

/// # Safety
/// `ctx` must be a live context.
unsafe fn const_i32(ctx: LLVMContextRef, v: u32) -> LLVMMetadataRef {
    // SAFETY: a constant of a type of the live context.
    unsafe { LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(ctx), u64::from(v), 0)) }
}

/// # Safety
/// `ctx` must be a live context.
unsafe fn const_i64(ctx: LLVMContextRef, v: u64) -> LLVMMetadataRef {
    // SAFETY: a constant of a type of the live context.
    unsafe { LLVMValueAsMetadata(LLVMConstInt(LLVMInt64TypeInContext(ctx), v, 0)) }
}

/// The module flag `ProfileSummary` for `profile`'s counts, in the shape
/// LLVM's `ProfileSummary::getFromMD` reads (instrumentation format, no
/// optional fields).
///
/// # Safety
/// `m` must be a valid module of the live context `ctx`.
unsafe fn add_summary(m: LLVMModuleRef, ctx: LLVMContextRef, profile: &Profile) {
    let s = profile.summary();
    // SAFETY: nodes of the live context, attached to its valid module.
    unsafe {
        let format = LLVMMDStringInContext2(ctx, c"InstrProf".as_ptr(), 9);
        let detailed: Vec<LLVMMetadataRef> = s
            .detailed
            .iter()
            .map(|&(cutoff, min, n)| {
                let mut entry = [
                    const_i32(ctx, cutoff),
                    const_i64(ctx, min),
                    const_i32(ctx, n),
                ];
                LLVMMDNodeInContext2(ctx, entry.as_mut_ptr(), entry.len())
            })
            .collect();
        let mut detailed = detailed;
        let detailed = LLVMMDNodeInContext2(ctx, detailed.as_mut_ptr(), detailed.len());
        let mut fields = [
            md_node(ctx, "ProfileFormat", &[format]),
            md_node(ctx, "TotalCount", &[const_i64(ctx, s.total)]),
            md_node(ctx, "MaxCount", &[const_i64(ctx, s.max)]),
            md_node(ctx, "MaxInternalCount", &[const_i64(ctx, s.max_internal)]),
            md_node(
                ctx,
                "MaxFunctionCount",
                &[const_i64(ctx, u64::from(profile.calls))],
            ),
            md_node(ctx, "NumCounts", &[const_i64(ctx, u64::from(s.num_counts))]),
            md_node(ctx, "NumFunctions", &[const_i64(ctx, 1)]),
            md_node(ctx, "DetailedSummary", &[detailed]),
        ];
        let summary = LLVMMDNodeInContext2(ctx, fields.as_mut_ptr(), fields.len());
        LLVMAddModuleFlag(
            m,
            LLVMModuleFlagBehavior::LLVMModuleFlagBehaviorError,
            c"ProfileSummary".as_ptr(),
            "ProfileSummary".len(),
            summary,
        );
    }
}
