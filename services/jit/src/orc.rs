//! Linking a whole program into an app's regions with ORC's LLJIT and a
//! RuntimeDyld object layer whose memory-manager callbacks hand out memory
//! in the code region (mapped here read-write, in the app read-execute, at
//! the same address) and the data region. The JIT never runs this code:
//! symbols resolve only to the app's exports and to what it links itself.

use crate::llvm::{Llvm, take_message};
use ipc_abi::proto::jit::{APP_DATA_BASE, APP_SLOT_BYTES};
use llvm_sys::core::*;
use llvm_sys::error::*;
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::orc2::ee::*;
use llvm_sys::orc2::lljit::*;
use llvm_sys::orc2::*;
use llvm_sys::prelude::LLVMBool;
use llvm_sys::prelude::{LLVMContextRef, LLVMModuleRef, LLVMValueRef};
use llvm_sys::transforms::pass_builder::*;
use std::ffi::{CString, c_char, c_uint, c_void};
use std::ptr;

/// A bump allocator over one region.
struct Bump {
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

/// Where sections go: the app's code region and its data region after the
/// dispatch slots. Kept across links, so a tier-up adds code beside the
/// code that is still running.
pub struct Regions {
    code: Bump,
    data: Bump,
}

impl Regions {
    pub fn new(code: (u64, u64), data: (u64, u64)) -> Regions {
        Regions {
            code: Bump {
                end: code.0 + code.1,
                next: code.0,
            },
            data: Bump {
                end: data.0 + data.1,
                next: data.0 + APP_SLOT_BYTES,
            },
        }
    }
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
    /// Defined functions in slot order, with their new code's address.
    pub functions: Vec<(String, u64)>,
    /// The program's globals and where they live (first link only).
    pub globals: Vec<(String, u64)>,
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
    regions: &mut Regions,
    prior_globals: Option<&[(String, u64)]>,
) -> Result<Linked, String> {
    let (code_start, data_start) = (regions.code.next, regions.data.next);
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
        let functions = match route_through_slots(ctx, module) {
            Ok(f) => f,
            Err(e) => {
                LLVMDisposeModule(module);
                LLVMOrcDisposeThreadSafeContext(tsctx);
                return Err(e);
            }
        };
        // A recompile reuses the globals' one home: their definitions become
        // declarations resolved to where the first link put them.
        let mut global_names = Vec::new();
        let mut g = LLVMGetFirstGlobal(module);
        while !g.is_null() {
            if LLVMIsDeclaration(g) == 0 {
                let mut len = 0;
                let p = LLVMGetValueName2(g, &mut len);
                global_names.push(
                    String::from_utf8_lossy(std::slice::from_raw_parts(p.cast(), len)).into_owned(),
                );
                if prior_globals.is_some() {
                    LLVMSetInitializer(g, ptr::null_mut());
                }
            }
            g = LLVMGetNextGlobal(g);
        }
        let mut all_exports: Vec<(String, u64)> = exports.to_vec();
        if let Some(prior) = prior_globals {
            all_exports.extend_from_slice(prior);
        }
        let exports = &all_exports;
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
            regions as *mut Regions as *mut c_void,
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
            let lookup = |name: &str| -> Result<(String, u64), String> {
                let c = CString::new(name).unwrap();
                let mut addr = 0;
                let e = LLVMOrcLLJITLookup(jit, &mut addr, c.as_ptr());
                if e.is_null() {
                    Ok((name.to_string(), addr))
                } else {
                    Err(error_text(e))
                }
            };
            let functions = functions
                .iter()
                .map(|f| lookup(f))
                .collect::<Result<Vec<_>, _>>()?;
            let globals = if prior_globals.is_some() {
                Vec::new()
            } else {
                global_names
                    .iter()
                    .map(|g| lookup(g))
                    .collect::<Result<Vec<_>, _>>()?
            };
            Ok((entry, functions, globals))
        })();
        let e = LLVMOrcDisposeLLJIT(jit);
        if !e.is_null() {
            LLVMConsumeError(e);
        }
        LLVMOrcDisposeThreadSafeContext(tsctx);
        let (entry, functions, globals) = result?;
        Ok(Linked {
            entry,
            code_bytes: regions.code.next - code_start,
            data_bytes: regions.data.next - data_start,
            functions,
            globals,
        })
    }
}

/// Rewrites `module` so that every call to a function it defines goes
/// through that function's dispatch slot (a load from a constant address in
/// the data region, which the optimizer cannot fold), gives every defined
/// function and global an external name (so a later compile can refer to
/// them), and returns the defined functions in slot order.
///
/// # Safety
/// `module` must be a valid module in `ctx`.
pub unsafe fn route_through_slots(
    ctx: LLVMContextRef,
    module: LLVMModuleRef,
) -> Result<Vec<String>, String> {
    // SAFETY: iterates and edits the valid module; instructions are
    // collected before any is replaced, and each is erased only after its
    // uses moved to the new call.
    unsafe {
        let mut functions = Vec::new();
        let mut f = LLVMGetFirstFunction(module);
        while !f.is_null() {
            if LLVMIsDeclaration(f) == 0 {
                LLVMSetLinkage(f, llvm_sys::LLVMLinkage::LLVMExternalLinkage);
                LLVMSetVisibility(f, llvm_sys::LLVMVisibility::LLVMDefaultVisibility);
                functions.push(f);
            }
            f = LLVMGetNextFunction(f);
        }
        if functions.len() as u64 * 8 > APP_SLOT_BYTES {
            return Err(format!(
                "{} functions: more than the slot table holds",
                functions.len()
            ));
        }
        let mut index = 0;
        let mut g = LLVMGetFirstGlobal(module);
        while !g.is_null() {
            if LLVMIsDeclaration(g) == 0 {
                LLVMSetLinkage(g, llvm_sys::LLVMLinkage::LLVMExternalLinkage);
                LLVMSetVisibility(g, llvm_sys::LLVMVisibility::LLVMDefaultVisibility);
                let name = CString::new(format!("__app_global.{index}")).unwrap();
                LLVMSetValueName2(g, name.as_ptr(), name.as_bytes().len());
                index += 1;
            }
            g = LLVMGetNextGlobal(g);
        }
        let ptr_ty = LLVMPointerTypeInContext(ctx, 0);
        let i64_ty = LLVMInt64TypeInContext(ctx);
        let builder = LLVMCreateBuilderInContext(ctx);
        let mut calls = Vec::new();
        for &func in &functions {
            let mut bb = LLVMGetFirstBasicBlock(func);
            while !bb.is_null() {
                let mut inst = LLVMGetFirstInstruction(bb);
                while !inst.is_null() {
                    if !LLVMIsACallInst(inst).is_null() {
                        let callee = LLVMGetCalledValue(inst);
                        if let Some(slot) = functions.iter().position(|&f| f == callee) {
                            calls.push((inst, slot));
                        }
                    }
                    inst = LLVMGetNextInstruction(inst);
                }
                bb = LLVMGetNextBasicBlock(bb);
            }
        }
        for (call, slot) in calls {
            LLVMPositionBuilderBefore(builder, call);
            let address = LLVMConstInt(i64_ty, APP_DATA_BASE + 8 * slot as u64, 0);
            let slot_ptr = LLVMConstIntToPtr(address, ptr_ty);
            let empty = CString::new("").unwrap();
            let target = LLVMBuildLoad2(builder, ptr_ty, slot_ptr, empty.as_ptr());
            let n = LLVMGetNumArgOperands(call);
            let mut args: Vec<LLVMValueRef> = (0..n).map(|i| LLVMGetOperand(call, i)).collect();
            let new = LLVMBuildCall2(
                builder,
                LLVMGetCalledFunctionType(call),
                target,
                args.as_mut_ptr(),
                n,
                empty.as_ptr(),
            );
            LLVMReplaceAllUsesWith(call, new);
            LLVMInstructionEraseFromParent(call);
        }
        LLVMDisposeBuilder(builder);
        Ok(functions
            .iter()
            .map(|&f| {
                let mut len = 0;
                let p = LLVMGetValueName2(f, &mut len);
                String::from_utf8_lossy(std::slice::from_raw_parts(p.cast(), len)).into_owned()
            })
            .collect())
    }
}
