//! Linking compile units into an app's regions: each unit's object code
//! comes from a pipeline kept across units ([`Codegen`]) and is linked by
//! ORC's LLJIT (one per app session and level, [`Linker`]) with a
//! RuntimeDyld object layer whose
//! memory-manager callbacks hand out memory in the code region (mapped
//! here read-write, in the app read-execute, at the same address) and the
//! data region. The JIT never runs this code:
//! symbols resolve only to absolute addresses the caller gives (the app's
//! exports, entry stubs, the globals' homes).

use crate::codegen::Codegen;
use crate::llvm::{Llvm, error_text};
use llvm_sys::core::*;
use llvm_sys::error::*;
use llvm_sys::orc2::ee::*;
use llvm_sys::orc2::lljit::*;
use llvm_sys::orc2::*;
use llvm_sys::prelude::{LLVMBool, LLVMModuleRef};
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

/// Where sections go: free space in the app's code region and data region.
/// Kept across links, so new code goes beside code that may be running.
pub struct Regions {
    code: Bump,
    data: Bump,
}

impl Regions {
    /// Free space from `next` to `end` in each region.
    pub fn new(code: (u64, u64), data: (u64, u64)) -> Regions {
        Regions {
            code: Bump {
                next: code.0,
                end: code.1,
            },
            data: Bump {
                next: data.0,
                end: data.1,
            },
        }
    }

    /// Where the next code and data go.
    pub fn next(&self) -> (u64, u64) {
        (self.code.next, self.data.next)
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

pub struct Linked {
    /// The addresses of the names asked for, in order.
    pub addresses: Vec<u64>,
    pub code_bytes: u64,
    pub data_bytes: u64,
    /// Time spent optimizing the unit, and generating and linking its
    /// code (where a compile's cost goes).
    pub optimize_us: u64,
    pub codegen_us: u64,
}

/// Collects the errors ORC reports on the side: a failed link (such as a
/// symbol no one defines) reaches the lookup only as "Failed to
/// materialize", while the reason ("Symbols not found: [ fwrite ]") goes
/// to the session's error reporter.
extern "C" fn collect_error(ctx: *mut c_void, e: LLVMErrorRef) {
    // SAFETY: `ctx` is the `Vec<String>` `Linker::new` registers (boxed in
    // the linker), which outlives the JIT that calls this.
    let errors = unsafe { &mut *(ctx as *mut Vec<String>) };
    errors.push(error_text(e));
}

/// Names LLJIT's own platform support defines in the JITDylib it links
/// into (its `atexit` machinery): a unit's declarations of them are
/// renamed to [`RENAMED_PREFIX`] + name so that they reach the C library's
/// functions the app host exports under the plain name.
const LLJIT_DEFINES: &[&str] = &["atexit", "__cxa_atexit", "__dso_handle"];
const RENAMED_PREFIX: &str = "__jitos.libc.";

/// Renames `module`'s declarations of the names LLJIT defines itself.
///
/// # Safety
/// `module` must be a valid module.
unsafe fn rename_lljit_names(module: LLVMModuleRef) {
    for name in LLJIT_DEFINES {
        let c = CString::new(*name).unwrap();
        let renamed = format!("{RENAMED_PREFIX}{name}");
        // SAFETY: looking up and renaming values of a valid module.
        unsafe {
            let f = LLVMGetNamedFunction(module, c.as_ptr());
            let v = if f.is_null() {
                LLVMGetNamedGlobal(module, c.as_ptr())
            } else {
                f
            };
            if !v.is_null() && LLVMIsDeclaration(v) != 0 {
                LLVMSetValueName2(v, renamed.as_ptr() as *const _, renamed.len());
            }
        }
    }
}

/// What a unit's link may resolve outside itself: the C library's exports,
/// every function's entry stub, every global's home.
pub type SymbolTable = std::collections::HashMap<String, u64>;

/// Defines, on demand, the names a link looks for and the unit does not
/// define: only those, with their addresses from the [`SymbolTable`] in
/// `ctx`. Defining all ~3,600 exports up front for every unit cost more
/// than compiling a small function; asking on demand also covers the
/// calls code generation adds itself (`floor` for `llvm.floor` without
/// SSE4.1, `memcpy`, `__divti3`, ...).
extern "C" fn define_on_demand(
    _generator: LLVMOrcDefinitionGeneratorRef,
    ctx: *mut c_void,
    _state: *mut LLVMOrcLookupStateRef,
    _kind: LLVMOrcLookupKind,
    jd: LLVMOrcJITDylibRef,
    _flags: LLVMOrcJITDylibLookupFlags,
    set: LLVMOrcCLookupSet,
    len: usize,
) -> LLVMErrorRef {
    // SAFETY: `ctx` is the table `link` registered, which outlives the JIT
    // that calls this; ORC passes `len` live elements; each name that goes
    // into a definition is retained for it, as `LLVMOrcAbsoluteSymbols`
    // takes over one reference per name.
    unsafe {
        let table = &*(ctx as *const SymbolTable);
        let elements = std::slice::from_raw_parts(set, len);
        let mut pairs = Vec::new();
        for e in elements {
            let name = std::ffi::CStr::from_ptr(LLVMOrcSymbolStringPoolEntryStr(e.Name));
            let Ok(name) = name.to_str() else { continue };
            // LLJIT's own names reach the C library's under the renamed form.
            let plain = name.strip_prefix(RENAMED_PREFIX).unwrap_or(name);
            let Some(&address) = table.get(plain) else {
                continue;
            };
            LLVMOrcRetainSymbolStringPoolEntry(e.Name);
            pairs.push(LLVMOrcCSymbolMapPair {
                Name: e.Name,
                Sym: LLVMJITEvaluatedSymbol {
                    Address: address,
                    Flags: LLVMJITSymbolFlags {
                        GenericFlags: LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported
                            as u8
                            | LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8,
                        TargetFlags: 0,
                    },
                },
            });
        }
        if pairs.is_empty() {
            return ptr::null_mut();
        }
        let mu = LLVMOrcAbsoluteSymbols(pairs.as_mut_ptr(), pairs.len());
        LLVMOrcJITDylibDefine(jd, mu)
    }
}

extern "C" fn keep_table(_ctx: *mut c_void) {}

/// One LLJIT for an app's session and level, made at its first link and
/// kept with its code generation pipeline: a compile then pays for
/// optimizing and generating its unit, not for a fresh JIT, target
/// machine and pass pipeline each time. The JIT only links: the unit's
/// object code comes from [`Codegen`]. Every unit goes into the main
/// JITDylib, its own definitions renamed `NAME.uN` first, so that each
/// unit's `__jit_unit` is its own. Its memory manager allocates from the
/// app's [`Regions`], and the names a unit needs from outside come from
/// the app's [`SymbolTable`] (`define_on_demand`).
pub struct Linker {
    jit: LLVMOrcLLJITRef,
    codegen: Codegen,
    regions: *mut Regions,
    /// What ORC reports on the side during a link (boxed: the session
    /// holds its address).
    reported: Box<Reported>,
    units: u64,
}

/// The errors ORC reported during a link (`collect_error`).
struct Reported(Vec<String>);

impl Linker {
    /// A JIT that generates code as at `-O{level}` (`Llvm::new_machine`),
    /// links into `regions` and resolves to `symbols`.
    ///
    /// # Safety
    /// `regions` and `symbols` must stay alive and where they are for the
    /// linker's whole life, and be used by nothing else while it links.
    pub unsafe fn new(
        llvm: &Llvm,
        level: u8,
        regions: *mut Regions,
        symbols: *const SymbolTable,
    ) -> Result<Linker, String> {
        let codegen = Codegen::new(llvm, level)?;
        // SAFETY: the builder and the machine pass to `LLVMOrcCreateLLJIT`
        // (or are disposed of on an early error); the callbacks' contexts
        // live as long as the JIT (the caller's promise, and the box).
        unsafe {
            let builder = LLVMOrcCreateLLJITBuilder();
            let machine = match llvm.new_machine(level) {
                Ok(m) => m,
                Err(e) => {
                    LLVMOrcDisposeLLJITBuilder(builder);
                    return Err(e);
                }
            };
            LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
                builder,
                LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(machine),
            );
            LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator(
                builder,
                object_layer,
                regions as *mut c_void,
            );
            let mut jit = ptr::null_mut();
            let e = LLVMOrcCreateLLJIT(&mut jit, builder);
            if !e.is_null() {
                return Err(format!("cannot create the JIT: {}", error_text(e)));
            }
            let mut reported = Box::new(Reported(Vec::new()));
            LLVMOrcExecutionSessionSetErrorReporter(
                LLVMOrcLLJITGetExecutionSession(jit),
                collect_error,
                &mut reported.0 as *mut Vec<String> as *mut c_void,
            );
            // Names a unit needs from outside are defined when the link
            // asks (`define_on_demand`).
            let generator = LLVMOrcCreateCustomCAPIDefinitionGenerator(
                define_on_demand,
                symbols as *mut c_void,
                keep_table,
            );
            LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), generator);
            Ok(Linker {
                jit,
                codegen,
                regions,
                reported,
                units: 0,
            })
        }
    }

    /// Optimizes `module` (a unit, owned from here on) at `level`, hands
    /// it to `after_optimizing`, links it, and returns the addresses of
    /// `lookups` (names it defines).
    ///
    /// # Safety
    /// `module` must be a valid module of the program, owned by no one
    /// else; `after_optimizing` must leave it valid.
    pub unsafe fn link(
        &mut self,
        llvm: &Llvm,
        module: LLVMModuleRef,
        level: u8,
        after_optimizing: &dyn Fn(LLVMModuleRef),
        lookups: &[&str],
    ) -> Result<Linked, String> {
        // SAFETY: no link is running: nothing else uses the regions now.
        let (code_start, data_start) = unsafe { (*self.regions).next() };
        self.units += 1;
        let names: Vec<String> = lookups
            .iter()
            .map(|n| format!("{n}.u{}", self.units))
            .collect();
        let started = std::time::Instant::now();
        // At O0 there is nothing to optimize: `default<O0>` only runs the
        // always-inliner (and a unit's callees are declarations, never
        // inlined) and passes for features C programs do not use here
        // (coroutines, remarks); skipping it saves about a tenth of a
        // small compile.
        let passes = if level > 0 {
            // SAFETY: a valid module, ours; disposed of below if it cannot
            // be optimized.
            unsafe { llvm.optimize(module, level) }
        } else {
            Ok(())
        };
        if let Err(e) = passes {
            // SAFETY: the module is ours and used no more.
            unsafe { LLVMDisposeModule(module) };
            return Err(e);
        }
        after_optimizing(module);
        let optimized = std::time::Instant::now();
        // SAFETY: the module is ours: renamed, emitted and disposed of
        // here; the object buffer passes to the JIT.
        let result = unsafe {
            // LLJIT's own names are renamed in the unit first
            // (`rename_lljit_names`), and the unit's definitions get names
            // of their own.
            rename_lljit_names(module);
            for (old, new) in lookups.iter().zip(&names) {
                rename_definition(module, old, new);
            }
            let object = self.codegen.emit(module);
            LLVMDisposeModule(module);
            self.reported.0.clear();
            let jd = LLVMOrcLLJITGetMainJITDylib(self.jit);
            let e = LLVMOrcLLJITAddObjectFile(self.jit, jd, object);
            if e.is_null() {
                names
                    .iter()
                    .map(|name| {
                        let c = CString::new(name.as_str()).unwrap();
                        let mut addr = 0;
                        let e = LLVMOrcLLJITLookup(self.jit, &mut addr, c.as_ptr());
                        if e.is_null() {
                            Ok(addr)
                        } else {
                            Err(error_text(e))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            } else {
                Err(format!("cannot add the unit's object: {}", error_text(e)))
            }
        };
        // SAFETY: as above: the link is over.
        let (code_end, data_end) = unsafe { (*self.regions).next() };
        let addresses = result.map_err(|e| {
            if self.reported.0.is_empty() {
                e
            } else {
                format!("{e}: {}", self.reported.0.join("; "))
            }
        })?;
        Ok(Linked {
            addresses,
            code_bytes: code_end - code_start,
            data_bytes: data_end - data_start,
            optimize_us: (optimized - started).as_micros() as u64,
            codegen_us: optimized.elapsed().as_micros() as u64,
        })
    }
}

impl Drop for Linker {
    fn drop(&mut self) {
        // SAFETY: the JIT was made by `new` and is disposed of once.
        let e = unsafe { LLVMOrcDisposeLLJIT(self.jit) };
        if !e.is_null() {
            // SAFETY: an error we own.
            unsafe { LLVMConsumeError(e) };
        }
    }
}

/// Renames `module`'s definition `old` (a function or a global) to `new`.
///
/// # Safety
/// `module` must be a valid module.
unsafe fn rename_definition(module: LLVMModuleRef, old: &str, new: &str) {
    let c = CString::new(old).unwrap();
    // SAFETY: looking up and renaming values of a valid module.
    unsafe {
        let f = LLVMGetNamedFunction(module, c.as_ptr());
        let v = if f.is_null() {
            LLVMGetNamedGlobal(module, c.as_ptr())
        } else {
            f
        };
        if !v.is_null() && LLVMIsDeclaration(v) == 0 {
            LLVMSetValueName2(v, new.as_ptr() as *const c_char, new.len());
        }
    }
}

/// Links one unit with a JIT of its own (`Linker`), made and dropped here:
/// for the globals unit of a `Load`, which runs once.
///
/// # Safety
/// `module` must be a valid module of the program, owned by no one else.
pub unsafe fn link(
    llvm: &Llvm,
    module: LLVMModuleRef,
    level: u8,
    symbols: &SymbolTable,
    lookups: &[&str],
    regions: &mut Regions,
) -> Result<Linked, String> {
    // SAFETY: `regions` and `symbols` outlive the linker, dropped below,
    // and nothing else uses them meanwhile; the module passes on.
    unsafe {
        let mut linker = match Linker::new(llvm, level, regions, symbols) {
            Ok(l) => l,
            Err(e) => {
                LLVMDisposeModule(module);
                return Err(e);
            }
        };
        linker.link(llvm, module, level, &|_| {}, lookups)
    }
}
