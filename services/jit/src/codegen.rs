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
