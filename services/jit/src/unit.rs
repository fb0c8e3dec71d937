//! A program and its compile units. The program's module is parsed and
//! verified once; every defined function and global gets an external name
//! (globals become `__app_global.N`, so private string literals can be
//! referred to from other units). A unit is a copy of that module cut down
//! to one thing to link:
//!
//! - the *globals unit*: every global with its initializer, every function
//!   a declaration; linked once, into the data region, where the globals
//!   then live for the program's whole life (every tier, every JIT restart);
//! - a *function unit*: one function's body; every call to a program
//!   function loads the callee's dispatch slot and calls through it, every
//!   other function is a declaration (resolved to its entry stub), every
//!   global is `available_externally` (its initializer stays visible to the
//!   optimizer, its storage is the one home the globals unit made);
//! - an *inlining function unit* (O2, O3): the same, but with copies of
//!   its callees' bodies for the optimizer to inline, and only the calls
//!   left standing after optimizing routed through slots (`inlining`).

use crate::inlining::{Callees, Carried};
use crate::llvm::{take_message, verify};
use ipc_abi::proto::jit::slot;
use llvm_sys::core::*;
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::orc2::*;
use llvm_sys::prelude::{LLVMContextRef, LLVMModuleRef, LLVMValueRef};
use llvm_sys::{LLVMLinkage, LLVMVisibility};
use std::ffi::CString;
use std::ptr;

/// The name the unit's own function is linked under.
pub const UNIT_FUNCTION: &str = "__jit_unit";

/// The name a global gets in every unit.
pub fn global_symbol(index: usize) -> String {
    format!("__app_global.{index}")
}

pub struct Program {
    tsctx: LLVMOrcThreadSafeContextRef,
    /// The program as parsed (units are clones of it).
    pub(crate) module: LLVMModuleRef,
    /// Defined functions, in module order (= the function table).
    pub functions: Vec<String>,
    /// How many globals the program defines.
    pub globals: usize,
}

pub enum Unit {
    Globals,
    /// A function alone: its calls to program functions go through slots.
    Function(usize),
    /// A function with copies of its callees' bodies for the optimizer to
    /// inline (`inlining`), chosen with the run's call counts when they
    /// say something (`calls::CallCounts::of`); the calls left after
    /// optimizing go through slots (`inlining::route_calls_left`).
    Inlining(usize, Option<Vec<u64>>),
}

impl Unit {
    /// How the unit treats its function's calls.
    pub fn callees(&self) -> Callees<'_> {
        match self {
            Unit::Inlining(_, calls) => Callees::Copied(calls.as_deref()),
            Unit::Globals | Unit::Function(_) => Callees::ThroughSlots,
        }
    }
}

/// # Safety
/// `v` must be a valid named value.
pub(crate) unsafe fn name_of(v: LLVMValueRef) -> String {
    let mut len = 0;
    // SAFETY: the caller's promise; LLVM returns `len` bytes.
    unsafe {
        let p = LLVMGetValueName2(v, &mut len);
        String::from_utf8_lossy(std::slice::from_raw_parts(p.cast(), len)).into_owned()
    }
}

/// # Safety
/// `module` must be valid.
pub(crate) unsafe fn defined_functions(module: LLVMModuleRef) -> Vec<LLVMValueRef> {
    let mut out = Vec::new();
    // SAFETY: walks the valid module's list.
    unsafe {
        let mut f = LLVMGetFirstFunction(module);
        while !f.is_null() {
            if LLVMIsDeclaration(f) == 0 {
                out.push(f);
            }
            f = LLVMGetNextFunction(f);
        }
    }
    out
}

/// Globals of `module` that units share: defined, not LLVM's own.
///
/// # Safety
/// `module` must be valid.
unsafe fn program_globals(module: LLVMModuleRef) -> Vec<LLVMValueRef> {
    let mut out = Vec::new();
    // SAFETY: walks the valid module's list.
    unsafe {
        let mut g = LLVMGetFirstGlobal(module);
        while !g.is_null() {
            if LLVMIsDeclaration(g) == 0 && !name_of(g).starts_with("llvm.") {
                out.push(g);
            }
            g = LLVMGetNextGlobal(g);
        }
    }
    out
}

impl Program {
    /// Parses (text or bitcode) and verifies `ir`, gives every defined
    /// function and global an external name, and lets every function use
    /// the target machine's `features` (`for_this_cpu`).
    pub fn parse(ir: &[u8], features: &str) -> Result<Program, String> {
        // SAFETY: the context and module are created here and owned by the
        // returned `Program` (or disposed of on error); LLVM copies `ir`.
        unsafe {
            let tsctx = LLVMOrcCreateNewThreadSafeContext();
            let ctx = LLVMOrcThreadSafeContextGetContext(tsctx);
            let name = CString::new("app").unwrap();
            let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(
                ir.as_ptr().cast(),
                ir.len(),
                name.as_ptr(),
            );
            let mut module = ptr::null_mut();
            let mut msg = ptr::null_mut();
            if LLVMParseIRInContext(ctx, buf, &mut module, &mut msg) != 0 {
                LLVMOrcDisposeThreadSafeContext(tsctx);
                return Err(format!("IR does not parse: {}", take_message(msg)));
            }
            // Owned from here on: an early return disposes of both.
            let mut program = Program {
                tsctx,
                module,
                functions: Vec::new(),
                globals: 0,
            };
            verify(module)?;
            for f in defined_functions(module) {
                for_this_cpu(f, features);
                LLVMSetLinkage(f, LLVMLinkage::LLVMExternalLinkage);
                LLVMSetVisibility(f, LLVMVisibility::LLVMDefaultVisibility);
                program.functions.push(name_of(f));
            }
            let globals = program_globals(module);
            for (i, &g) in globals.iter().enumerate() {
                LLVMSetLinkage(g, LLVMLinkage::LLVMExternalLinkage);
                LLVMSetVisibility(g, LLVMVisibility::LLVMDefaultVisibility);
                let name = CString::new(global_symbol(i)).unwrap();
                LLVMSetValueName2(g, name.as_ptr(), name.as_bytes().len());
            }
            program.globals = globals.len();
            Ok(program)
        }
    }

    pub fn context(&self) -> LLVMOrcThreadSafeContextRef {
        self.tsctx
    }

    /// External functions and globals no export provides (LLVM intrinsics
    /// aside), sorted.
    pub fn unresolved(&self, exports: &[(String, u64)]) -> Vec<String> {
        let mut missing = Vec::new();
        // SAFETY: walks the valid module's lists.
        unsafe {
            let mut f = LLVMGetFirstFunction(self.module);
            let mut check = |v| {
                let name = name_of(v);
                if LLVMIsDeclaration(v) != 0
                    && !name.starts_with("llvm.")
                    && !exports.iter().any(|(e, _)| *e == name)
                {
                    missing.push(name);
                }
            };
            while !f.is_null() {
                check(f);
                f = LLVMGetNextFunction(f);
            }
            let mut g = LLVMGetFirstGlobal(self.module);
            while !g.is_null() {
                check(g);
                g = LLVMGetNextGlobal(g);
            }
        }
        missing.sort();
        missing
    }

    /// A fresh module (in the program's context) holding `unit`, and the
    /// callee bodies it carries for inlining; the caller owns it.
    pub fn unit(&self, unit: &Unit) -> (LLVMModuleRef, Carried) {
        // SAFETY: the clone is a valid module of the program, handed over.
        unsafe { cut(LLVMCloneModule(self.module), unit) }
    }
}

/// Cuts `m`, a clone of the program (its functions and globals as the
/// program has them, bodies possibly transformed), down to `unit`;
/// returns it and the callee bodies it carries for inlining.
///
/// # Safety
/// `m` must be a valid module with the program's definitions, owned by
/// the caller (and handed back).
pub(crate) unsafe fn cut(m: LLVMModuleRef, unit: &Unit) -> (LLVMModuleRef, Carried) {
    // SAFETY: every edit below keeps the module valid (see
    // `make_declaration`), and values are collected before any is deleted.
    unsafe {
        let functions = defined_functions(m);
        let mut carried = Carried::default();
        match *unit {
            Unit::Globals => {
                for f in functions {
                    make_declaration(m, f);
                }
            }
            Unit::Function(index) | Unit::Inlining(index, _) => {
                let own = functions[index];
                carried = cut_around(m, &functions, index, own, unit.callees());
                // Uses of the function's own address (not calls: those
                // go through its slot) mean its entry stub, as in every
                // other unit; so do calls to it from the copies.
                let name = CString::new(name_of(own)).unwrap();
                let unit_name = CString::new(UNIT_FUNCTION).unwrap();
                LLVMSetValueName2(own, unit_name.as_ptr(), UNIT_FUNCTION.len());
                let decl = LLVMAddFunction(m, name.as_ptr(), LLVMGlobalGetValueType(own));
                LLVMReplaceAllUsesWith(own, decl);
                globals_from_their_homes(m);
            }
        }
        (m, carried)
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: both were created in `parse` and are owned only here;
        // units are separate clones, handed to the JIT.
        unsafe {
            LLVMDisposeModule(self.module);
            LLVMOrcDisposeThreadSafeContext(self.tsctx);
        }
    }
}

/// Lets function `f` use the target machine's `features` beside its own.
/// clang writes the CPU it compiled for into every function
/// (`"target-cpu"="x86-64" "target-features"="+sse2,..."`), and LLVM
/// generates each function for its own attributes, not the machine's: left
/// alone, every unit would be baseline x86-64 whatever the CPU has. The
/// machine's features come first, the function's own after them (LLVM
/// reads the list in order): a function that asked for more (`target`
/// attributes) keeps it.
///
/// # Safety
/// `f` must be a function of a valid module.
unsafe fn for_this_cpu(f: LLVMValueRef, features: &str) {
    if features.is_empty() {
        return;
    }
    const KEY: &str = "target-features";
    // SAFETY: reading and replacing a string attribute of a valid
    // function; LLVM copies the key and value.
    unsafe {
        let index = llvm_sys::LLVMAttributeFunctionIndex;
        let old = LLVMGetStringAttributeAtIndex(f, index, KEY.as_ptr().cast(), KEY.len() as u32);
        let mut value = features.to_string();
        if !old.is_null() {
            let mut len = 0;
            let p = LLVMGetStringAttributeValue(old, &mut len);
            let own = std::slice::from_raw_parts(p.cast::<u8>(), len as usize);
            if !own.is_empty() {
                value.push(',');
                value.push_str(&String::from_utf8_lossy(own));
            }
        }
        let ctx = LLVMGetModuleContext(LLVMGetGlobalParent(f));
        let attr = LLVMCreateStringAttribute(
            ctx,
            KEY.as_ptr().cast(),
            KEY.len() as u32,
            value.as_ptr().cast(),
            value.len() as u32,
        );
        LLVMAddAttributeAtIndex(f, index, attr);
    }
}

/// Cuts unit `m` down around function `own`, whose code is `from`
/// (`functions[own]`, or an on-stack-replacement continuation of it).
/// With copied callees, the ones `inlining::chosen` picks stay as copies
/// (their calls are routed after optimizing, `inlining::route_calls_left`);
/// otherwise every call `from` makes to a program function goes through
/// its slot now. Every other function becomes a declaration. Returns what
/// the unit carries.
///
/// # Safety
/// `functions` must be the defined functions of the valid module `m`,
/// `from` a function of it; the values in `functions` are not used after.
pub(crate) unsafe fn cut_around(
    m: LLVMModuleRef,
    functions: &[LLVMValueRef],
    own: usize,
    from: LLVMValueRef,
    callees: Callees<'_>,
) -> Carried {
    // SAFETY: the caller's promise; each function is either kept or
    // replaced by a declaration once.
    unsafe {
        let mut carried = Carried::default();
        let copies = match callees {
            Callees::Copied(calls) => {
                let (copies, cold) = crate::inlining::chosen(functions, own, from, calls);
                carried.cold = cold;
                carried.by_calls = calls.is_some();
                copies
            }
            Callees::ThroughSlots => {
                route_calls_through_slots(LLVMGetModuleContext(m), from, functions);
                Vec::new()
            }
        };
        let blanket = crate::inlining::blanket_noinline(functions);
        for (i, &f) in functions.iter().enumerate() {
            if i == own || LLVMIsDeclaration(f) != 0 {
                continue;
            }
            if copies.contains(&i) && crate::inlining::keep_as_copy(f, blanket) {
                carried.copies += 1;
            } else {
                make_declaration(m, f);
            }
        }
        carried
    }
}

/// Replaces the definition `f` by a declaration of the same name and type.
///
/// # Safety
/// `f` must be a function defined in the valid module `m`.
pub(crate) unsafe fn make_declaration(m: LLVMModuleRef, f: LLVMValueRef) {
    // SAFETY: every use of `f` moves to the declaration before `f` (and its
    // body, whose references are dropped with it) is deleted.
    unsafe {
        let name = CString::new(name_of(f)).unwrap();
        LLVMSetValueName2(f, c"".as_ptr(), 0);
        let decl = LLVMAddFunction(m, name.as_ptr(), LLVMGlobalGetValueType(f));
        LLVMSetFunctionCallConv(decl, LLVMGetFunctionCallConv(f));
        LLVMReplaceAllUsesWith(f, decl);
        LLVMDeleteFunction(f);
    }
}

/// Rewrites every call in `func` to a program function into a load of the
/// callee's dispatch slot (a constant address the optimizer cannot fold)
/// and an indirect call with the same attributes, calling convention and
/// tail-call marker. Returns how many calls it routed.
///
/// # Safety
/// `func` must be a function of a valid module in `ctx`; `functions` its
/// module's defined functions in table order.
pub(crate) unsafe fn route_calls_through_slots(
    ctx: LLVMContextRef,
    func: LLVMValueRef,
    functions: &[LLVMValueRef],
) -> usize {
    // SAFETY: calls are collected before any is replaced, and each is
    // erased only after its uses moved to the new call.
    unsafe {
        let mut calls = Vec::new();
        let mut bb = LLVMGetFirstBasicBlock(func);
        while !bb.is_null() {
            let mut inst = LLVMGetFirstInstruction(bb);
            while !inst.is_null() {
                if !LLVMIsACallInst(inst).is_null() {
                    let callee = LLVMGetCalledValue(inst);
                    if let Some(index) = functions.iter().position(|&f| f == callee) {
                        calls.push((inst, index));
                    }
                }
                inst = LLVMGetNextInstruction(inst);
            }
            bb = LLVMGetNextBasicBlock(bb);
        }
        let ptr_ty = LLVMPointerTypeInContext(ctx, 0);
        let i64_ty = LLVMInt64TypeInContext(ctx);
        let builder = LLVMCreateBuilderInContext(ctx);
        let routed = calls.len();
        for (call, index) in calls {
            LLVMPositionBuilderBefore(builder, call);
            let slot_ptr = LLVMConstIntToPtr(LLVMConstInt(i64_ty, slot(index), 0), ptr_ty);
            let target = LLVMBuildLoad2(builder, ptr_ty, slot_ptr, c"".as_ptr());
            let n = LLVMGetNumArgOperands(call);
            let mut args: Vec<LLVMValueRef> = (0..n).map(|i| LLVMGetOperand(call, i)).collect();
            let new = LLVMBuildCall2(
                builder,
                LLVMGetCalledFunctionType(call),
                target,
                args.as_mut_ptr(),
                n,
                c"".as_ptr(),
            );
            LLVMSetInstructionCallConv(new, LLVMGetInstructionCallConv(call));
            LLVMSetTailCallKind(new, LLVMGetTailCallKind(call));
            // Return (0), function (!0) and argument (1..=n) attributes:
            // byval, sret and friends change how arguments are passed.
            for at in [0u32, !0].into_iter().chain(1..=n) {
                let count = LLVMGetCallSiteAttributeCount(call, at);
                let mut attrs = vec![ptr::null_mut(); count as usize];
                LLVMGetCallSiteAttributes(call, at, attrs.as_mut_ptr());
                for a in attrs {
                    LLVMAddCallSiteAttribute(new, at, a);
                }
            }
            LLVMReplaceAllUsesWith(call, new);
            LLVMInstructionEraseFromParent(call);
        }
        LLVMDisposeBuilder(builder);
        routed
    }
}

/// Every global of a function unit `m` is used from its one home (the
/// globals unit's): its initializer stays visible to the optimizer
/// (`available_externally`); LLVM's own globals (`llvm.used`...) go.
///
/// # Safety
/// `m` must be a valid module.
pub(crate) unsafe fn globals_from_their_homes(m: LLVMModuleRef) {
    // SAFETY: globals are collected before any is deleted.
    unsafe {
        let mut g = LLVMGetFirstGlobal(m);
        let mut globals = Vec::new();
        while !g.is_null() {
            globals.push(g);
            g = LLVMGetNextGlobal(g);
        }
        for g in globals {
            if LLVMIsDeclaration(g) != 0 {
                continue;
            }
            if name_of(g).starts_with("llvm.") {
                LLVMDeleteGlobal(g);
            } else {
                LLVMSetLinkage(g, LLVMLinkage::LLVMAvailableExternallyLinkage);
            }
        }
    }
}
