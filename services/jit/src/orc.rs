//! Linking a whole program into an app's regions with ORC's LLJIT and a
//! RuntimeDyld object layer whose memory-manager callbacks hand out memory
//! in the code region (mapped here read-write, in the app read-execute, at
//! the same address) and the data region. The JIT never runs this code:
//! symbols resolve only to the app's exports and to what it links itself.

use crate::llvm::{Llvm, take_message};
use llvm_sys::core::*;
use llvm_sys::error::*;
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::orc2::ee::*;
use llvm_sys::orc2::lljit::*;
use llvm_sys::orc2::*;
use llvm_sys::prelude::LLVMBool;
use llvm_sys::transforms::pass_builder::*;
use std::ffi::{CString, c_char, c_uint, c_void};
use std::ptr;

/// A bump allocator over one region.
struct Bump {
    base: u64,
    end: u64,
    next: u64,
}

impl Bump {
    fn alloc(&mut self, size: u64, align: u64) -> *mut u8 {
        let at = self.next.next_multiple_of(align.max(16));
        if at + size > self.end {
            return ptr::null_mut();
        }
        self.next = at + size;
        at as *mut u8
    }
}

/// Where sections go.
struct Regions {
    code: Bump,
    data: Bump,
}

extern "C" fn create_context(ctx: *mut c_void) -> *mut c_void {
    ctx
}

extern "C" fn notify_terminating(_: *mut c_void) {}

extern "C" fn allocate_code(
    opaque: *mut c_void,
    size: usize,
    align: c_uint,
    _: c_uint,
    _: *const c_char,
) -> *mut u8 {
    // SAFETY: `opaque` is the `Regions` passed to `link`, alive for the
    // whole link and used by nothing else meanwhile.
    let r = unsafe { &mut *(opaque as *mut Regions) };
    r.code.alloc(size as u64, align as u64)
}

extern "C" fn allocate_data(
    opaque: *mut c_void,
    size: usize,
    align: c_uint,
    _: c_uint,
    _: *const c_char,
    _read_only: LLVMBool,
) -> *mut u8 {
    // SAFETY: as in `allocate_code`.
    let r = unsafe { &mut *(opaque as *mut Regions) };
    r.data.alloc(size as u64, align as u64)
}

/// LLVM calls this for every memory manager it drops, whether or not it
/// was given one (a null callback crashes): nothing to free, the regions
/// belong to the app.
extern "C" fn destroy(_: *mut c_void) {}

/// Nothing to do: the app's mapping already says read-execute.
extern "C" fn finalize(_: *mut c_void, _: *mut *mut c_char) -> LLVMBool {
    0
}

extern "C" fn object_layer(
    ctx: *mut c_void,
    es: LLVMOrcExecutionSessionRef,
    _: *const c_char,
) -> LLVMOrcObjectLayerRef {
    // SAFETY: the callbacks match the C API's signatures; `ctx` is the
    // `Regions` of the link in progress.
    unsafe {
        LLVMOrcCreateRTDyldObjectLinkingLayerWithMCJITMemoryManagerLikeCallbacks(
            es,
            ctx,
            create_context,
            notify_terminating,
            allocate_code,
            allocate_data,
            finalize,
            Some(destroy),
        )
    }
}

/// External functions and globals of `module` that no export provides
/// (LLVM intrinsics aside).
///
/// # Safety
/// `module` must be a valid module.
unsafe fn unresolved(
    module: llvm_sys::prelude::LLVMModuleRef,
    exports: &[(String, u64)],
) -> Vec<String> {
    let mut missing = Vec::new();
    let mut check = |v: llvm_sys::prelude::LLVMValueRef| {
        // SAFETY: `v` is a function or global of the valid module.
        let (declaration, name) = unsafe {
            let mut len = 0;
            let p = LLVMGetValueName2(v, &mut len);
            (
                LLVMIsDeclaration(v) != 0,
                String::from_utf8_lossy(std::slice::from_raw_parts(p.cast(), len)).into_owned(),
            )
        };
        if declaration && !name.starts_with("llvm.") && !exports.iter().any(|(e, _)| *e == name) {
            missing.push(name);
        }
    };
    // SAFETY: iterating the module's own lists.
    unsafe {
        let mut f = LLVMGetFirstFunction(module);
        while !f.is_null() {
            check(f);
            f = LLVMGetNextFunction(f);
        }
        let mut g = LLVMGetFirstGlobal(module);
        while !g.is_null() {
            check(g);
            g = LLVMGetNextGlobal(g);
        }
    }
    missing.sort();
    missing
}

pub struct Linked {
    pub entry: u64,
    pub code_bytes: u64,
    pub data_bytes: u64,
}

fn error_text(e: LLVMErrorRef) -> String {
    // SAFETY: `e` is a live error; getting its message consumes it.
    take_message(unsafe { LLVMGetErrorMessage(e) })
}

/// Compiles `ir` at `level` and links it into the regions, resolving
/// external symbols to `exports`; returns the address of `main`.
pub fn link(
    llvm: &Llvm,
    ir: &[u8],
    level: u8,
    exports: &[(String, u64)],
    midway: &mut dyn FnMut(),
    code: (u64, u64),
    data: (u64, u64),
) -> Result<Linked, String> {
    let mut regions = Box::new(Regions {
        code: Bump {
            base: code.0,
            end: code.0 + code.1,
            next: code.0,
        },
        data: Bump {
            base: data.0,
            end: data.0 + data.1,
            next: data.0,
        },
    });
    // SAFETY: every LLVM object below is created here and disposed of
    // before returning; the module's ownership passes to the thread-safe
    // module and then to the JIT; `regions` outlives the JIT.
    unsafe {
        let tsctx = LLVMOrcCreateNewThreadSafeContext();
        let ctx = LLVMOrcThreadSafeContextGetContext(tsctx);
        let name = CString::new("app").unwrap();
        let buf =
            LLVMCreateMemoryBufferWithMemoryRangeCopy(ir.as_ptr().cast(), ir.len(), name.as_ptr());
        let mut module = ptr::null_mut();
        let mut msg = ptr::null_mut();
        if LLVMParseIRInContext(ctx, buf, &mut module, &mut msg) != 0 {
            LLVMOrcDisposeThreadSafeContext(tsctx);
            return Err(format!("IR does not parse: {}", take_message(msg)));
        }
        if llvm_sys::analysis::LLVMVerifyModule(
            module,
            llvm_sys::analysis::LLVMVerifierFailureAction::LLVMReturnStatusAction,
            &mut msg,
        ) != 0
        {
            LLVMDisposeModule(module);
            LLVMOrcDisposeThreadSafeContext(tsctx);
            return Err(format!("IR does not verify: {}", take_message(msg)));
        }
        take_message(msg);
        let missing = unresolved(module, exports);
        if !missing.is_empty() {
            LLVMDisposeModule(module);
            LLVMOrcDisposeThreadSafeContext(tsctx);
            return Err(format!(
                "the program uses C library functions the app host does not provide: {}",
                missing.join(", ")
            ));
        }
        midway();
        let passes = CString::new(format!("default<O{level}>")).unwrap();
        let options = LLVMCreatePassBuilderOptions();
        let e = LLVMRunPasses(module, passes.as_ptr(), llvm.machine(), options);
        LLVMDisposePassBuilderOptions(options);
        if !e.is_null() {
            LLVMDisposeModule(module);
            LLVMOrcDisposeThreadSafeContext(tsctx);
            return Err(format!("optimization failed: {}", error_text(e)));
        }

        let builder = LLVMOrcCreateLLJITBuilder();
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
            builder,
            LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(llvm.new_machine()?),
        );
        LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator(
            builder,
            object_layer,
            &mut *regions as *mut Regions as *mut c_void,
        );
        let mut jit = ptr::null_mut();
        let e = LLVMOrcCreateLLJIT(&mut jit, builder);
        if !e.is_null() {
            LLVMDisposeModule(module);
            LLVMOrcDisposeThreadSafeContext(tsctx);
            return Err(format!("cannot create the JIT: {}", error_text(e)));
        }
        let result = (|| {
            let jd = LLVMOrcLLJITGetMainJITDylib(jit);
            let mut pairs: Vec<LLVMOrcCSymbolMapPair> = exports
                .iter()
                .map(|(n, a)| {
                    let n = CString::new(n.as_str()).unwrap();
                    LLVMOrcCSymbolMapPair {
                        Name: LLVMOrcLLJITMangleAndIntern(jit, n.as_ptr()),
                        Sym: LLVMJITEvaluatedSymbol {
                            Address: *a,
                            Flags: LLVMJITSymbolFlags {
                                GenericFlags: LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported as u8
                                    | LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8,
                                TargetFlags: 0,
                            },
                        },
                    }
                })
                .collect();
            if !pairs.is_empty() {
                let mu = LLVMOrcAbsoluteSymbols(pairs.as_mut_ptr(), pairs.len());
                let e = LLVMOrcJITDylibDefine(jd, mu);
                if !e.is_null() {
                    return Err(format!(
                        "cannot define the app's exports: {}",
                        error_text(e)
                    ));
                }
            }
            let tsm = LLVMOrcCreateNewThreadSafeModule(module, tsctx);
            let e = LLVMOrcLLJITAddLLVMIRModule(jit, jd, tsm);
            if !e.is_null() {
                return Err(format!("cannot add the module: {}", error_text(e)));
            }
            let mut entry = 0;
            let main = CString::new("main").unwrap();
            let e = LLVMOrcLLJITLookup(jit, &mut entry, main.as_ptr());
            if !e.is_null() {
                return Err(error_text(e));
            }
            Ok(entry)
        })();
        let e = LLVMOrcDisposeLLJIT(jit);
        if !e.is_null() {
            LLVMConsumeError(e);
        }
        LLVMOrcDisposeThreadSafeContext(tsctx);
        let entry = result?;
        Ok(Linked {
            entry,
            code_bytes: regions.code.next - regions.code.base,
            data_bytes: regions.data.next - regions.data.base,
        })
    }
}
