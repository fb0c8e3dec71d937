//! A small safe layer over LLVM's C API: initialize the x86 target, parse
//! IR, verify, optimize at a level, emit object code. Every LLVM object is
//! owned by a guard that disposes of it.

use llvm_sys::core::*;
use llvm_sys::error::*;
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::prelude::*;
use llvm_sys::target::*;
use llvm_sys::target_machine::*;
use llvm_sys::transforms::pass_builder::*;
use std::ffi::{CStr, CString};
use std::ptr;

pub fn version() -> String {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: writes three integers through valid pointers.
    unsafe { LLVMGetVersion(&mut major, &mut minor, &mut patch) };
    format!("{major}.{minor}.{patch}")
}

/// Takes an LLVM-allocated message.
pub fn take_message(m: *mut std::ffi::c_char) -> String {
    if m.is_null() {
        return String::new();
    }
    // SAFETY: LLVM returned a NUL-terminated string it allocated; it is
    // copied, then freed with the matching function.
    unsafe {
        let s = CStr::from_ptr(m).to_string_lossy().into_owned();
        LLVMDisposeMessage(m);
        s
    }
}

/// Takes an LLVM error's message (consuming the error).
pub fn error_text(e: LLVMErrorRef) -> String {
    // SAFETY: `e` is a live error; getting its message consumes it.
    take_message(unsafe { LLVMGetErrorMessage(e) })
}

/// Runs LLVM's verifier over `module`.
///
/// # Safety
/// `module` must be a valid module.
pub unsafe fn verify(module: LLVMModuleRef) -> Result<(), String> {
    let mut msg = ptr::null_mut();
    // SAFETY: `module` is valid (caller); `msg` receives an owned message.
    let broken = unsafe {
        llvm_sys::analysis::LLVMVerifyModule(
            module,
            llvm_sys::analysis::LLVMVerifierFailureAction::LLVMReturnStatusAction,
            &mut msg,
        )
    };
    let text = take_message(msg);
    if broken != 0 {
        return Err(format!("IR does not verify: {text}"));
    }
    Ok(())
}

pub struct Llvm {
    machine: LLVMTargetMachineRef,
    triple: String,
    target: LLVMTargetRef,
    /// The features code may use (`+avx2,...`; empty: baseline x86-64).
    /// Code is always tuned for generic x86-64 ([`TUNE_CPU`]).
    features: CString,
}

/// The CPU model code is tuned for: generic x86-64, whichever features it
/// uses (under emulation the CPU's model names no real microarchitecture:
/// QEMU's `-cpu max` reads as "k8-sse3").
const TUNE_CPU: &CStr = c"x86-64";

/// Which CPU the JIT generates code for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu {
    /// The one it runs on, with the instruction-set extensions the CPU
    /// has *and* the kernel lets tasks use (LLVM reads CPUID and XCR0:
    /// AVX only where the kernel saves its state).
    Host,
    /// Baseline x86-64 (SSE2), whatever the CPU has.
    Baseline,
}

pub struct Object {
    pub bytes: usize,
    pub functions: usize,
}

struct Context(LLVMContextRef);

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context was created by us and everything in it (the
        // module) is dropped before it, by field order in `compile`.
        unsafe { LLVMContextDispose(self.0) }
    }
}

impl Llvm {
    pub fn init(cpu: Cpu) -> Result<Llvm, String> {
        // SAFETY: the target initializers only register the x86 backend;
        // the triple and machine calls get valid, owned arguments.
        unsafe {
            LLVMInitializeX86TargetInfo();
            LLVMInitializeX86Target();
            LLVMInitializeX86TargetMC();
            LLVMInitializeX86AsmPrinter();
            // Inline assembly in a program is parsed by the x86 assembly
            // parser; without it LLVM aborts on the first `asm` statement.
            LLVMInitializeX86AsmParser();
            let triple_ptr = LLVMGetDefaultTargetTriple();
            let triple = CStr::from_ptr(triple_ptr).to_string_lossy().into_owned();
            let mut target = ptr::null_mut();
            let mut err = ptr::null_mut();
            if LLVMGetTargetFromTriple(triple_ptr, &mut target, &mut err) != 0 {
                LLVMDisposeMessage(triple_ptr);
                return Err(take_message(err));
            }
            LLVMDisposeMessage(triple_ptr);
            let features = match cpu {
                Cpu::Baseline => c"".to_owned(),
                Cpu::Host => {
                    let p = LLVMGetHostCPUFeatures();
                    let features = CStr::from_ptr(p).to_owned();
                    LLVMDisposeMessage(p);
                    features
                }
            };
            let mut llvm = Llvm {
                machine: ptr::null_mut(),
                triple,
                target,
                features,
            };
            llvm.machine = llvm.new_machine(2)?;
            Ok(llvm)
        }
    }

    pub fn triple(&self) -> &str {
        &self.triple
    }

    /// The features the target machine generates code for (`+avx2,...`;
    /// empty for baseline x86-64).
    pub fn features(&self) -> &str {
        self.features.to_str().unwrap_or("")
    }

    /// Whether code may use `feature` (`"avx2"`).
    pub fn uses(&self, feature: &str) -> bool {
        self.features()
            .split(',')
            .any(|x| x.strip_prefix('+') == Some(feature))
    }

    /// A target machine for code the app runs: for the CPU chosen at
    /// `init` (`Cpu`), static relocations, small code model (the app's
    /// image and regions all lie in the low 2 GiB), generating code as
    /// clang does at `-O{level}` (at O0 fast instruction selection and
    /// register allocation: the cheap tier compiles cheaply).
    pub fn new_machine(&self, level: u8) -> Result<LLVMTargetMachineRef, String> {
        let codegen = match level {
            0 => LLVMCodeGenOptLevel::LLVMCodeGenLevelNone,
            1 => LLVMCodeGenOptLevel::LLVMCodeGenLevelLess,
            2 => LLVMCodeGenOptLevel::LLVMCodeGenLevelDefault,
            _ => LLVMCodeGenOptLevel::LLVMCodeGenLevelAggressive,
        };
        let triple = CString::new(self.triple.as_str()).unwrap();
        // SAFETY: all arguments are valid, NUL-terminated and owned here.
        let machine = unsafe {
            LLVMCreateTargetMachine(
                self.target,
                triple.as_ptr(),
                TUNE_CPU.as_ptr(),
                self.features.as_ptr(),
                codegen,
                LLVMRelocMode::LLVMRelocStatic,
                LLVMCodeModel::LLVMCodeModelSmall,
            )
        };
        if machine.is_null() {
            return Err("LLVMCreateTargetMachine failed".into());
        }
        Ok(machine)
    }

    /// Runs the new pass manager's `default<O{level}>` pipeline over
    /// `module`.
    ///
    /// # Safety
    /// `module` must be a valid module.
    pub unsafe fn optimize(&self, module: LLVMModuleRef, level: u8) -> Result<(), String> {
        let passes = CString::new(format!("default<O{level}>")).unwrap();
        // SAFETY: `module` is valid (caller), the machine is ours, the
        // options are created and disposed of here.
        let e = unsafe {
            let options = LLVMCreatePassBuilderOptions();
            let e = LLVMRunPasses(module, passes.as_ptr(), self.machine, options);
            LLVMDisposePassBuilderOptions(options);
            e
        };
        if !e.is_null() {
            return Err(format!("optimization failed: {}", error_text(e)));
        }
        Ok(())
    }

    /// Parses, verifies, optimizes at `level` (0..=3) and emits an object.
    pub fn compile(&self, ir: &str, level: u8) -> Result<Object, String> {
        // SAFETY: every handle below is created here and disposed of before
        // returning (the module by `LLVMDisposeModule`, the context by its
        // guard, buffers and options by their dispose functions); the IR
        // buffer is copied by LLVM, so `ir` need not outlive the call.
        unsafe {
            let ctx = Context(LLVMContextCreate());
            let name = CString::new("app").unwrap();
            let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(
                ir.as_ptr().cast(),
                ir.len(),
                name.as_ptr(),
            );
            let mut module = ptr::null_mut();
            let mut err = ptr::null_mut();
            // Takes ownership of `buf`.
            if LLVMParseIRInContext(ctx.0, buf, &mut module, &mut err) != 0 {
                return Err(format!("IR does not parse: {}", take_message(err)));
            }
            let result = self.optimize_and_emit(module, level);
            LLVMDisposeModule(module);
            drop(ctx);
            result
        }
    }

    /// # Safety
    /// `module` must be a valid module; it stays owned by the caller.
    unsafe fn optimize_and_emit(&self, module: LLVMModuleRef, level: u8) -> Result<Object, String> {
        // SAFETY: as for `compile`.
        unsafe {
            verify(module)?;
            self.optimize(module, level)?;
            let mut functions = 0;
            let mut f = LLVMGetFirstFunction(module);
            while !f.is_null() {
                if LLVMIsDeclaration(f) == 0 {
                    functions += 1;
                }
                f = LLVMGetNextFunction(f);
            }
            let mut out: LLVMMemoryBufferRef = ptr::null_mut();
            let mut err = ptr::null_mut();
            if LLVMTargetMachineEmitToMemoryBuffer(
                self.machine,
                module,
                LLVMCodeGenFileType::LLVMObjectFile,
                &mut err,
                &mut out,
            ) != 0
            {
                return Err(format!("code generation failed: {}", take_message(err)));
            }
            let bytes = LLVMGetBufferSize(out);
            LLVMDisposeMemoryBuffer(out);
            Ok(Object { bytes, functions })
        }
    }
}

impl Drop for Llvm {
    fn drop(&mut self) {
        // SAFETY: the machine was created in `init` and is used by nothing
        // else.
        unsafe { LLVMDisposeTargetMachine(self.machine) }
    }
}

/// Runs `passes` over `module` the way `irlower` does (no target machine:
/// target-independent passes with default costs), so that both see the
/// same result (`ipc_abi::proto::jit::LOWERING_PIPELINE`).
///
/// # Safety
/// `module` must be a valid module.
pub unsafe fn run_passes(module: LLVMModuleRef, passes: &str) -> Result<(), String> {
    let passes = CString::new(passes).map_err(|e| e.to_string())?;
    // SAFETY: `module` is valid (caller); a null target machine is allowed;
    // the options are created and disposed of here.
    let e = unsafe {
        let options = LLVMCreatePassBuilderOptions();
        let e = LLVMRunPasses(module, passes.as_ptr(), std::ptr::null_mut(), options);
        LLVMDisposePassBuilderOptions(options);
        e
    };
    if e.is_null() {
        Ok(())
    } else {
        Err(format!("the lowering passes failed: {}", error_text(e)))
    }
}
