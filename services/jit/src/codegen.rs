//! Code generation with a pipeline built once per target machine
//! ([`Codegen`], over `codegen.cpp`): building LLVM's code generation
//! passes cost as much as running them on a small unit, and the C API
//! builds them anew for every module it emits.

use crate::llvm::Llvm;
use llvm_sys::prelude::{LLVMMemoryBufferRef, LLVMModuleRef};
use llvm_sys::target_machine::{LLVMDisposeTargetMachine, LLVMTargetMachineRef};
use std::ffi::c_void;

unsafe extern "C" {
    fn jitos_codegen_create(machine: LLVMTargetMachineRef) -> *mut c_void;
    fn jitos_codegen_emit(codegen: *mut c_void, module: LLVMModuleRef) -> LLVMMemoryBufferRef;
    fn jitos_codegen_dispose(codegen: *mut c_void);
}

/// A target machine for one optimization level and the code generation
/// pipeline built for it, run on one unit after another.
pub struct Codegen {
    machine: LLVMTargetMachineRef,
    pipeline: *mut c_void,
}

impl Codegen {
    /// A pipeline generating code as at `-O{level}` (`Llvm::new_machine`).
    pub fn new(llvm: &Llvm, level: u8) -> Result<Codegen, String> {
        let machine = llvm.new_machine(level)?;
        // SAFETY: a valid machine, kept (and disposed of) with the pipeline,
        // which refers to it.
        let pipeline = unsafe { jitos_codegen_create(machine) };
        if pipeline.is_null() {
            // SAFETY: the machine is ours and used by nothing.
            unsafe { LLVMDisposeTargetMachine(machine) };
            return Err("the target cannot emit object code in memory".into());
        }
        Ok(Codegen { machine, pipeline })
    }

    /// The object file of `module`, in a buffer the caller owns.
    ///
    /// # Safety
    /// `module` must be a valid module (left to the caller) whose data
    /// layout and triple are the machine's.
    pub unsafe fn emit(&mut self, module: LLVMModuleRef) -> LLVMMemoryBufferRef {
        // SAFETY: the pipeline is live and runs on one module at a time
        // (`&mut self`); the module is valid (caller).
        unsafe { jitos_codegen_emit(self.pipeline, module) }
    }
}

impl Drop for Codegen {
    fn drop(&mut self) {
        // SAFETY: both were made in `new` and are disposed of once, the
        // pipeline first (it refers to the machine).
        unsafe {
            jitos_codegen_dispose(self.pipeline);
            LLVMDisposeTargetMachine(self.machine);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llvm::{Cpu, take_message};
    use llvm_sys::core::*;
    use llvm_sys::ir_reader::LLVMParseIRInContext;
    use llvm_sys::target_machine::{LLVMCodeGenFileType, LLVMTargetMachineEmitToMemoryBuffer};

    const HEAD: &str = "target datalayout = \"e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128\"\ntarget triple = \"x86_64-pc-linux-gnu\"\n";

    /// Small programs of different shapes: recursion and a loop of calls
    /// (the self-test's), a loop over a global with floating point and a C
    /// library call, inline assembly.
    const PROGRAMS: &[&str] = &[
        crate::SAMPLE_IR,
        "@table = global [8 x double] zeroinitializer
declare double @sqrt(double)
define double @norm(i32 %k) {
entry:
  br label %loop
loop:
  %i = phi i32 [ 0, %entry ], [ %next, %loop ]
  %acc = phi double [ 0.0, %entry ], [ %sum, %loop ]
  %at = getelementptr [8 x double], ptr @table, i32 0, i32 %i
  %v = load double, ptr %at
  %sq = fmul double %v, %v
  %sum = fadd double %acc, %sq
  %next = add i32 %i, 1
  %again = icmp slt i32 %next, %k
  br i1 %again, label %loop, label %out
out:
  %r = call double @sqrt(double %sum)
  ret double %r
}",
        "define i64 @ticks() {
  %t = call i64 asm sideeffect \"rdtsc; shlq $$32, %rdx; orq %rdx, %rax\", \"={rax},~{rdx}\"()
  ret i64 %t
}",
    ];

    /// The program `ir` parsed into `ctx`.
    fn parse(ctx: llvm_sys::prelude::LLVMContextRef, ir: &str) -> LLVMModuleRef {
        let text = format!("{HEAD}{ir}\n");
        let mut module = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: LLVM copies the text; the module is the caller's.
        let failed = unsafe {
            let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(
                text.as_ptr().cast(),
                text.len(),
                c"test".as_ptr(),
            );
            LLVMParseIRInContext(ctx, buf, &mut module, &mut err)
        };
        assert_eq!(failed, 0, "{}", take_message(err));
        module
    }

    /// The bytes of `buffer`, which is disposed of.
    fn bytes(buffer: LLVMMemoryBufferRef) -> Vec<u8> {
        // SAFETY: a live buffer of `LLVMGetBufferSize` bytes, ours.
        unsafe {
            let v = std::slice::from_raw_parts(
                LLVMGetBufferStart(buffer).cast::<u8>(),
                LLVMGetBufferSize(buffer),
            )
            .to_vec();
            LLVMDisposeMemoryBuffer(buffer);
            v
        }
    }

    /// Run on program after program, twice round, a reused pipeline emits
    /// exactly what the C API's fresh one does (what `codegen.cpp` relies
    /// on: the pipeline resets itself between modules).
    #[test]
    fn a_reused_pipeline_emits_what_a_fresh_one_does() {
        let llvm = Llvm::init(Cpu::Baseline).unwrap();
        // SAFETY: the context, modules, machines and buffers are made and
        // disposed of here; every module belongs to the context.
        unsafe {
            let ctx = LLVMContextCreate();
            for level in [0, 2, 3] {
                let mut codegen = Codegen::new(&llvm, level).unwrap();
                let fresh = llvm.new_machine(level).unwrap();
                for round in 0..2 {
                    for (k, ir) in PROGRAMS.iter().enumerate() {
                        let module = parse(ctx, ir);
                        let copy = LLVMCloneModule(module);
                        let (mut out, mut err) = (std::ptr::null_mut(), std::ptr::null_mut());
                        let failed = LLVMTargetMachineEmitToMemoryBuffer(
                            fresh,
                            copy,
                            LLVMCodeGenFileType::LLVMObjectFile,
                            &mut err,
                            &mut out,
                        );
                        assert_eq!(failed, 0, "{}", take_message(err));
                        let reused = bytes(codegen.emit(module));
                        assert!(!reused.is_empty());
                        assert!(
                            reused == bytes(out),
                            "program {k} at O{level}, round {round}: objects differ"
                        );
                        LLVMDisposeModule(copy);
                        LLVMDisposeModule(module);
                    }
                }
                LLVMDisposeTargetMachine(fresh);
            }
            LLVMContextDispose(ctx);
        }
    }
}
