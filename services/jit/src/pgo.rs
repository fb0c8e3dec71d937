//! Profile-guided O3: a unit whose function carries the profiler's counts
//! as LLVM profile metadata, so that the optimizer (block placement, loop
//! and select decisions, indirect-call promotion) and the code generator
//! know which way its branches go and where its calls through pointers
//! go.
//!
//! The counts are the interpreter's, per conditional branch and per call
//! through a pointer of the function as the bytecode lowering saw it (the
//! program's IR after `LOWERING_PIPELINE`; each kind numbered in block
//! order). So the unit is built from the same: a clone of the program
//! with that pipeline run over the function exactly as `irlower` ran it
//! (`lowering::lower_alone`). Then the weights go on its branches by number, each hot call
//! target becomes value profile metadata (`VP`) on its call, and LLVM's
//! indirect-call
//! promotion pass turns those calls into a test of the pointer and a
//! direct call (which the unit's copies then let the optimizer inline),
//! the indirect call staying for other targets; the clone is then cut
//! into the unit as any other. When the function has another number of
//! branches (or calls through pointers) than the bytecode had, those
//! numbers mean nothing here: they are not used.
//!
//! No entry count and no `ProfileSummary` go with it: the counts are of a
//! short span (the interpreter's, often the first iterations of the
//! first loop), too partial for LLVM's "this function has profile data"
//! mode, which an entry count turns on. With one, LLVM unrolled sieve's
//! inner loop by the trip count its first iterations showed (the loop
//! for 2) and put the unrolled loop's setup in the outer loop, which runs
//! 200,000 times: 0.72x as fast as O3 without a profile (`cargo xtask
//! bench pgo` at 86be163; on the host, the same IR with the same weight
//! and an entry count ran 5.22 M instructions against 3.63 M with either
//! alone). A summary would also make code the interpreter never reached
//! cold (optimized for size). Weights alone shape each branch's layout
//! and the loop and select decisions that read branch probabilities.

use crate::inlining::Carried;
use crate::unit::{Program, Unit, cut, defined_functions};
use ipc_abi::proto::jit::Profile;
use llvm_sys::core::*;
use llvm_sys::prelude::*;

/// What a profile-guided unit got.
pub struct Guided {
    /// Branches given weights.
    pub weighted: usize,
    /// The function's conditional branches after the lowering pipeline.
    pub branches: usize,
    /// The profile's branch count, when it differed (weights not used).
    pub mismatch: Option<u32>,
    /// Calls through pointers promoted to a test and a direct call.
    pub promoted: usize,
    /// The function's calls through pointers after the lowering pipeline.
    pub sites: usize,
    /// The profile's count of them, when it differed (targets not used).
    pub site_mismatch: Option<u32>,
}

impl std::fmt::Display for Guided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pgo_weighted={} pgo_branches={} pgo_promoted={} pgo_sites={}",
            self.weighted, self.branches, self.promoted, self.sites
        )?;
        if let Some(theirs) = self.mismatch {
            write!(f, " pgo_mismatch={theirs}")?;
        }
        if let Some(theirs) = self.site_mismatch {
            write!(f, " pgo_site_mismatch={theirs}")?;
        }
        Ok(())
    }
}

impl Program {
    /// `unit` (a function unit of function `index`) built from the
    /// program after the lowering pipeline, with `profile` on function
    /// `index`; the module, the callee copies it carries, what it got.
    pub fn guided_unit(
        &self,
        unit: &Unit,
        index: usize,
        profile: &Profile,
    ) -> Result<(LLVMModuleRef, Carried, Guided), String> {
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
        crate::lowering::lower_alone(m, f, &functions)?;

        let branches = crate::lowering::conditional_branches(f);
        let sites = crate::lowering::indirect_calls(f);
        let prof = LLVMGetMDKindIDInContext(ctx, c"prof".as_ptr(), 4);
        let mut guided = Guided {
            weighted: 0,
            branches: branches.len(),
            mismatch: None,
            promoted: 0,
            sites: sites.len(),
            site_mismatch: None,
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
        if sites.len() == profile.sites as usize {
            let mut valued = 0;
            for t in &profile.targets {
                let (Some(&call), Some(&target)) = (
                    sites.get(t.site as usize),
                    functions.get(t.function as usize),
                ) else {
                    continue;
                };
                // `!{"VP", i32 0 (indirect-call targets), i64 calls,
                // i64 the target's GUID, i64 calls to it}`.
                let guid = function_guid(&crate::unit::name_of(target));
                let count = t.count.min(t.total);
                if count == 0 {
                    continue;
                }
                let node = md_node(
                    ctx,
                    "VP",
                    &[
                        const_i32(ctx, 0),
                        const_i64(ctx, u64::from(t.total)),
                        const_i64(ctx, guid),
                        const_i64(ctx, u64::from(count)),
                    ],
                );
                LLVMSetMetadata(call, prof, LLVMMetadataAsValue(ctx, node));
                valued += 1;
            }
            if valued > 0 {
                let before = direct_calls(f);
                crate::llvm::run_passes(m, "pgo-icall-prom")?;
                guided.promoted = direct_calls(f).saturating_sub(before);
            }
        } else {
            guided.site_mismatch = Some(profile.sites);
        }
        Ok(guided)
    }
}

/// The GUID LLVM's profile data names a function of external linkage by
/// (`GlobalValue::getGUID` of its name: the low 64 bits of the name's
/// MD5, little-endian), which its indirect-call promotion looks up.
fn function_guid(name: &str) -> u64 {
    let digest = md5::compute(name.as_bytes());
    u64::from_le_bytes(digest.0[..8].try_into().expect("16 bytes"))
}

/// How many of function `f`'s calls name their callee directly.
///
/// # Safety
/// `f` must be a defined function of a valid module.
unsafe fn direct_calls(f: LLVMValueRef) -> usize {
    // SAFETY: the caller's promise; kind tests on live values.
    unsafe {
        crate::lowering::calls(f)
            .into_iter()
            .filter(|&c| !LLVMIsAFunction(LLVMGetCalledValue(c)).is_null())
            .count()
    }
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
