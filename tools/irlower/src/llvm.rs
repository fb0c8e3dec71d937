//! The few LLVM C API calls the lowering needs, behind safe wrappers.
//! A [`Value`] or [`Type`] is a handle into the [`Ir`] that made it, which
//! lives (with its context) until the lowering ends.
#![allow(unsafe_code, reason = "LLVM's C API")]

use llvm_sys::core::*;
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::prelude::*;
use llvm_sys::target::*;
use llvm_sys::{LLVMOpcode, LLVMTypeKind};
use std::ffi::{CStr, CString, c_char};

pub use llvm_sys::LLVMIntPredicate as IntPredicate;
pub use llvm_sys::LLVMOpcode as Opcode;
pub use llvm_sys::LLVMRealPredicate as RealPredicate;

/// A parsed module, its context and its data layout.
pub struct Ir {
    ctx: LLVMContextRef,
    module: LLVMModuleRef,
    layout: LLVMTargetDataRef,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Value(LLVMValueRef);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Type(LLVMTypeRef);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Block(LLVMBasicBlockRef);

fn string(p: *const c_char, len: usize) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: LLVM returned `len` bytes at `p`, valid while the IR lives.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, len) };
    String::from_utf8_lossy(bytes).into_owned()
}

impl Ir {
    /// Parses IR text (or bitcode).
    pub fn parse(ir: &[u8]) -> Result<Ir, String> {
        // SAFETY: standard LLVM C API use: the buffer is copied, and its
        // ownership passes to the parser; errors are freed after reading.
        unsafe {
            let ctx = LLVMContextCreate();
            let name = CString::new("program").unwrap();
            let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(
                ir.as_ptr() as *const c_char,
                ir.len(),
                name.as_ptr(),
            );
            let mut module = std::ptr::null_mut();
            let mut err = std::ptr::null_mut();
            if LLVMParseIRInContext(ctx, buf, &mut module, &mut err) != 0 {
                let msg = CStr::from_ptr(err).to_string_lossy().into_owned();
                LLVMDisposeMessage(err);
                LLVMContextDispose(ctx);
                return Err(msg);
            }
            let layout = LLVMCreateTargetData(LLVMGetDataLayoutStr(module));
            Ok(Ir {
                ctx,
                module,
                layout,
            })
        }
    }

    /// Runs LLVM's new-pass-manager pipeline `passes` (`PIPELINE`) over
    /// the module.
    pub fn run_passes(&self, passes: &str) -> Result<(), String> {
        let text = CString::new(passes).map_err(|e| e.to_string())?;
        // SAFETY: standard LLVM C API use on the module this `Ir` owns; a
        // null target machine is allowed for target-independent passes; the
        // options and any error are disposed of here.
        unsafe {
            let options = llvm_sys::transforms::pass_builder::LLVMCreatePassBuilderOptions();
            let err = llvm_sys::transforms::pass_builder::LLVMRunPasses(
                self.module,
                text.as_ptr(),
                std::ptr::null_mut(),
                options,
            );
            llvm_sys::transforms::pass_builder::LLVMDisposePassBuilderOptions(options);
            if err.is_null() {
                Ok(())
            } else {
                let msg = llvm_sys::error::LLVMGetErrorMessage(err);
                let out = CStr::from_ptr(msg).to_string_lossy().into_owned();
                llvm_sys::error::LLVMDisposeErrorMessage(msg);
                Err(out)
            }
        }
    }

    /// Marks every defined function `no-builtins`: the optimizer then
    /// treats C library calls as plain calls. Without it `instcombine`
    /// turns `printf("...\n")` into `puts` with a new string global, and
    /// the bytecode's globals would no longer be the program's (the JIT
    /// lays out the program's own, and the two must agree).
    pub fn forbid_builtins(&self) {
        const NAME: &str = "no-builtins";
        for f in self.functions().into_iter().filter(|f| !f.is_declaration()) {
            // SAFETY: a string attribute made in this module's context,
            // added to one of its functions (the index is the function's
            // own attribute list).
            unsafe {
                let attr = LLVMCreateStringAttribute(
                    self.ctx,
                    NAME.as_ptr() as *const c_char,
                    NAME.len() as u32,
                    c"".as_ptr(),
                    0,
                );
                LLVMAddAttributeAtIndex(f.0, llvm_sys::LLVMAttributeFunctionIndex, attr);
            }
        }
    }

    /// Every function, defined or declared, in module order.
    pub fn functions(&self) -> Vec<Value> {
        let mut out = Vec::new();
        // SAFETY: iterating the module's own function list.
        unsafe {
            let mut f = LLVMGetFirstFunction(self.module);
            while !f.is_null() {
                out.push(Value(f));
                f = LLVMGetNextFunction(f);
            }
        }
        out
    }

    /// Every global variable, in module order.
    pub fn globals(&self) -> Vec<Value> {
        let mut out = Vec::new();
        // SAFETY: iterating the module's own global list.
        unsafe {
            let mut g = LLVMGetFirstGlobal(self.module);
            while !g.is_null() {
                out.push(Value(g));
                g = LLVMGetNextGlobal(g);
            }
        }
        out
    }

    /// ABI size of `t` in bytes.
    pub fn size_of(&self, t: Type) -> u64 {
        // SAFETY: `t` is a sized type of this module's context.
        unsafe { LLVMABISizeOfType(self.layout, t.0) }
    }

    /// ABI alignment of `t`.
    pub fn align_of(&self, t: Type) -> u32 {
        // SAFETY: as `size_of`.
        unsafe { LLVMABIAlignmentOfType(self.layout, t.0) }
    }

    /// Byte offset of field `i` of struct type `t`.
    pub fn field_offset(&self, t: Type, i: u32) -> u64 {
        // SAFETY: `t` is a struct type with more than `i` fields.
        unsafe { LLVMOffsetOfElement(self.layout, t.0, i) }
    }
}

impl Drop for Ir {
    fn drop(&mut self) {
        // SAFETY: made in `parse`, disposed once here; nothing borrowed
        // from them outlives the `Ir`.
        unsafe {
            LLVMDisposeTargetData(self.layout);
            LLVMDisposeModule(self.module);
            LLVMContextDispose(self.ctx);
        }
    }
}

// Every method below reads a handle the module owns.
impl Value {
    pub fn name(self) -> String {
        let mut len = 0;
        // SAFETY: see the note above.
        let p = unsafe { LLVMGetValueName2(self.0, &mut len) };
        string(p, len)
    }

    pub fn ty(self) -> Type {
        // SAFETY: see the note above.
        Type(unsafe { LLVMTypeOf(self.0) })
    }

    pub fn is_declaration(self) -> bool {
        // SAFETY: a global value.
        unsafe { LLVMIsDeclaration(self.0) != 0 }
    }

    /// The function's own type (not its pointer type).
    pub fn function_type(self) -> Type {
        // SAFETY: a function.
        Type(unsafe { LLVMGlobalGetValueType(self.0) })
    }

    pub fn global_value_type(self) -> Type {
        // SAFETY: a global value.
        Type(unsafe { LLVMGlobalGetValueType(self.0) })
    }

    pub fn params(self) -> Vec<Value> {
        // SAFETY: a function; `LLVMGetParams` fills exactly `n` entries.
        unsafe {
            let n = LLVMCountParams(self.0) as usize;
            let mut v = vec![std::ptr::null_mut(); n];
            LLVMGetParams(self.0, v.as_mut_ptr());
            v.into_iter().map(Value).collect()
        }
    }

    pub fn blocks(self) -> Vec<Block> {
        let mut out = Vec::new();
        // SAFETY: a function's block list.
        unsafe {
            let mut b = LLVMGetFirstBasicBlock(self.0);
            while !b.is_null() {
                out.push(Block(b));
                b = LLVMGetNextBasicBlock(b);
            }
        }
        out
    }

    pub fn initializer(self) -> Option<Value> {
        // SAFETY: a global variable.
        let v = unsafe { LLVMGetInitializer(self.0) };
        (!v.is_null()).then_some(Value(v))
    }

    pub fn alignment(self) -> u32 {
        // SAFETY: a global, alloca, load or store.
        unsafe { LLVMGetAlignment(self.0) }
    }

    pub fn opcode(self) -> Option<Opcode> {
        // SAFETY: reading the kind of a value.
        unsafe {
            if !LLVMIsAInstruction(self.0).is_null() {
                Some(LLVMGetInstructionOpcode(self.0))
            } else if !LLVMIsAConstantExpr(self.0).is_null() {
                Some(LLVMGetConstOpcode(self.0))
            } else {
                None
            }
        }
    }

    pub fn operand_count(self) -> u32 {
        // SAFETY: a user value.
        (unsafe { LLVMGetNumOperands(self.0) }).max(0) as u32
    }

    pub fn operand(self, i: u32) -> Value {
        // SAFETY: `i` < operand_count.
        Value(unsafe { LLVMGetOperand(self.0, i) })
    }

    pub fn is_function(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAFunction(self.0).is_null() }
    }
    pub fn is_global_variable(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAGlobalVariable(self.0).is_null() }
    }
    pub fn is_argument(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAArgument(self.0).is_null() }
    }
    pub fn is_instruction(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAInstruction(self.0).is_null() }
    }
    pub fn is_constant_int(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAConstantInt(self.0).is_null() }
    }
    pub fn is_constant_fp(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAConstantFP(self.0).is_null() }
    }
    pub fn is_constant_expr(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAConstantExpr(self.0).is_null() }
    }
    pub fn is_inline_asm(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAInlineAsm(self.0).is_null() }
    }
    /// `null`, `zeroinitializer`, `undef` or `poison`: all zero bytes here.
    pub fn is_zero_like(self) -> bool {
        // SAFETY: kind tests.
        unsafe {
            !LLVMIsAConstantPointerNull(self.0).is_null()
                || !LLVMIsAConstantAggregateZero(self.0).is_null()
                || !LLVMIsAUndefValue(self.0).is_null()
                || !LLVMIsAPoisonValue(self.0).is_null()
        }
    }
    pub fn is_constant_data_sequential(self) -> bool {
        // SAFETY: a kind test.
        unsafe { !LLVMIsAConstantDataSequential(self.0).is_null() }
    }
    pub fn is_constant_aggregate(self) -> bool {
        // SAFETY: kind tests.
        unsafe {
            !LLVMIsAConstantArray(self.0).is_null()
                || !LLVMIsAConstantStruct(self.0).is_null()
                || !LLVMIsAConstantVector(self.0).is_null()
        }
    }

    /// An integer constant's value, zero-extended (`None` past 64 bits).
    pub fn const_int(self, bits: u32) -> Option<u64> {
        // SAFETY: a ConstantInt.
        (bits <= 64).then(|| unsafe { LLVMConstIntGetZExtValue(self.0) })
    }

    pub fn const_real(self) -> f64 {
        let mut lost = 0;
        // SAFETY: a ConstantFP.
        unsafe { LLVMConstRealGetDouble(self.0, &mut lost) }
    }

    /// Element `i` of a constant array, struct, vector or data sequence.
    pub fn element(self, i: u32) -> Option<Value> {
        // SAFETY: a constant aggregate; null past its end.
        let v = unsafe { LLVMGetAggregateElement(self.0, i) };
        (!v.is_null()).then_some(Value(v))
    }

    /// The callee operand of a call.
    pub fn called_value(self) -> Value {
        // SAFETY: a call instruction.
        Value(unsafe { LLVMGetCalledValue(self.0) })
    }

    pub fn called_function_type(self) -> Type {
        // SAFETY: a call instruction.
        Type(unsafe { LLVMGetCalledFunctionType(self.0) })
    }

    pub fn arg_count(self) -> u32 {
        // SAFETY: a call instruction.
        unsafe { LLVMGetNumArgOperands(self.0) }
    }

    /// Whether argument `i` (0-based) of a call, or parameter `i` of a
    /// function, has the enum attribute `name` (`signext`, `byval`, ...).
    pub fn has_param_attribute(self, i: u32, name: &str) -> bool {
        // SAFETY: attribute queries on a call or function; index i + 1 is
        // the parameter's attribute index.
        unsafe {
            let kind = LLVMGetEnumAttributeKindForName(name.as_ptr() as *const c_char, name.len());
            if !LLVMIsACallInst(self.0).is_null() {
                !LLVMGetCallSiteEnumAttribute(self.0, i + 1, kind).is_null()
            } else {
                !LLVMGetEnumAttributeAtIndex(self.0, i + 1, kind).is_null()
            }
        }
    }

    /// The type of the struct argument `i` (0-based) of a call, or
    /// parameter `i` of a function, passes by value (`byval(T)`).
    pub fn byval_type(self, i: u32) -> Option<Type> {
        let name = "byval";
        // SAFETY: attribute queries on a call or function; a type
        // attribute's value is its type.
        unsafe {
            let kind = LLVMGetEnumAttributeKindForName(name.as_ptr() as *const c_char, name.len());
            let attr = if !LLVMIsACallInst(self.0).is_null() {
                LLVMGetCallSiteEnumAttribute(self.0, i + 1, kind)
            } else {
                LLVMGetEnumAttributeAtIndex(self.0, i + 1, kind)
            };
            (!attr.is_null()).then(|| Type(LLVMGetTypeAttributeValue(attr)))
        }
    }

    /// Whether a call, or its callee, is marked with function attribute
    /// `name` (`returns_twice`).
    pub fn has_function_attribute(self, name: &str) -> bool {
        // SAFETY: attribute queries at the function index (-1).
        unsafe {
            let kind = LLVMGetEnumAttributeKindForName(name.as_ptr() as *const c_char, name.len());
            let index = llvm_sys::LLVMAttributeFunctionIndex;
            if !LLVMIsACallInst(self.0).is_null() {
                !LLVMGetCallSiteEnumAttribute(self.0, index, kind).is_null()
            } else {
                !LLVMGetEnumAttributeAtIndex(self.0, index, kind).is_null()
            }
        }
    }

    pub fn int_predicate(self) -> IntPredicate {
        // SAFETY: an icmp.
        unsafe { LLVMGetICmpPredicate(self.0) }
    }

    pub fn real_predicate(self) -> RealPredicate {
        // SAFETY: an fcmp.
        unsafe { LLVMGetFCmpPredicate(self.0) }
    }

    pub fn successors(self) -> Vec<Block> {
        // SAFETY: a terminator.
        unsafe {
            let n = LLVMGetNumSuccessors(self.0);
            (0..n).map(|i| Block(LLVMGetSuccessor(self.0, i))).collect()
        }
    }

    pub fn is_conditional(self) -> bool {
        // SAFETY: a branch.
        unsafe { LLVMIsConditional(self.0) != 0 }
    }

    pub fn condition(self) -> Value {
        // SAFETY: a conditional branch.
        Value(unsafe { LLVMGetCondition(self.0) })
    }

    /// A phi's incoming (value, block) pairs.
    pub fn incoming(self) -> Vec<(Value, Block)> {
        // SAFETY: a phi.
        unsafe {
            (0..LLVMCountIncoming(self.0))
                .map(|i| {
                    (
                        Value(LLVMGetIncomingValue(self.0, i)),
                        Block(LLVMGetIncomingBlock(self.0, i)),
                    )
                })
                .collect()
        }
    }

    pub fn allocated_type(self) -> Type {
        // SAFETY: an alloca.
        Type(unsafe { LLVMGetAllocatedType(self.0) })
    }

    pub fn gep_source_type(self) -> Type {
        // SAFETY: a GEP instruction or constant expression.
        Type(unsafe { LLVMGetGEPSourceElementType(self.0) })
    }

    /// The constant indices of an `extractvalue` or `insertvalue`.
    pub fn indices(self) -> Vec<u32> {
        // SAFETY: an extractvalue or insertvalue: LLVMGetIndices points at
        // LLVMGetNumIndices entries owned by the instruction.
        unsafe {
            let n = LLVMGetNumIndices(self.0) as usize;
            std::slice::from_raw_parts(LLVMGetIndices(self.0), n).to_vec()
        }
    }

    /// How many times the value is used (up to `limit`).
    pub fn use_count(self, limit: usize) -> usize {
        let mut n = 0;
        // SAFETY: walking the value's own use list.
        unsafe {
            let mut u = LLVMGetFirstUse(self.0);
            while !u.is_null() && n < limit {
                n += 1;
                u = LLVMGetNextUse(u);
            }
        }
        n
    }

    /// The instruction after this one in its block.
    pub fn next_instruction(self) -> Option<Value> {
        // SAFETY: an instruction; null at the block's end.
        let v = unsafe { LLVMGetNextInstruction(self.0) };
        (!v.is_null()).then_some(Value(v))
    }

    /// The block an instruction is in.
    pub fn parent_block(self) -> Block {
        // SAFETY: an instruction.
        Block(unsafe { LLVMGetInstructionParent(self.0) })
    }

    /// The opcode's name as the IR spells it (`extractvalue`), for messages.
    pub fn opcode_name(self) -> String {
        self.opcode().map_or("(not an instruction)".into(), |op| {
            format!("{op:?}").trim_start_matches("LLVM").to_lowercase()
        })
    }

    /// The printed form, for messages.
    pub fn print(self) -> String {
        // SAFETY: LLVM allocates the string; it is freed after copying.
        unsafe {
            let p = LLVMPrintValueToString(self.0);
            let s = CStr::from_ptr(p).to_string_lossy().into_owned();
            LLVMDisposeMessage(p);
            s
        }
    }
}

impl Block {
    pub fn instructions(self) -> Vec<Value> {
        let mut out = Vec::new();
        // SAFETY: a block's instruction list.
        unsafe {
            let mut i = LLVMGetFirstInstruction(self.0);
            while !i.is_null() {
                out.push(Value(i));
                i = LLVMGetNextInstruction(i);
            }
        }
        out
    }
}

/// The shape of a type, as far as the lowering cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Void,
    Int(u32),
    Float,
    Double,
    Pointer,
    Array,
    Struct,
    Other,
}

impl Type {
    /// LLVM's own number for the type's kind and, for an integer, its
    /// width (for `ipc_abi::proto::jit::osr_shape_digest`).
    pub fn shape(self) -> (u32, u32) {
        // SAFETY: reading a type's kind and width.
        unsafe {
            let kind = LLVMGetTypeKind(self.0);
            let width = if kind == LLVMTypeKind::LLVMIntegerTypeKind {
                LLVMGetIntTypeWidth(self.0)
            } else {
                0
            };
            (kind as u32, width)
        }
    }

    pub fn kind(self) -> Kind {
        // SAFETY: reading a type's kind and width.
        unsafe {
            match LLVMGetTypeKind(self.0) {
                LLVMTypeKind::LLVMVoidTypeKind => Kind::Void,
                LLVMTypeKind::LLVMIntegerTypeKind => Kind::Int(LLVMGetIntTypeWidth(self.0)),
                LLVMTypeKind::LLVMFloatTypeKind => Kind::Float,
                LLVMTypeKind::LLVMDoubleTypeKind => Kind::Double,
                LLVMTypeKind::LLVMPointerTypeKind => Kind::Pointer,
                LLVMTypeKind::LLVMArrayTypeKind => Kind::Array,
                LLVMTypeKind::LLVMStructTypeKind => Kind::Struct,
                _ => Kind::Other,
            }
        }
    }

    /// An array's element type.
    pub fn element(self) -> Type {
        // SAFETY: an array (or vector) type.
        Type(unsafe { LLVMGetElementType(self.0) })
    }

    pub fn array_len(self) -> u64 {
        // SAFETY: an array type.
        unsafe { LLVMGetArrayLength2(self.0) }
    }

    pub fn field(self, i: u32) -> Type {
        // SAFETY: a struct type with more than `i` fields.
        Type(unsafe { LLVMStructGetTypeAtIndex(self.0, i) })
    }

    pub fn field_count(self) -> u32 {
        // SAFETY: a struct type.
        unsafe { LLVMCountStructElementTypes(self.0) }
    }

    pub fn return_type(self) -> Type {
        // SAFETY: a function type.
        Type(unsafe { LLVMGetReturnType(self.0) })
    }

    pub fn param_types(self) -> Vec<Type> {
        // SAFETY: a function type; fills exactly `n` entries.
        unsafe {
            let n = LLVMCountParamTypes(self.0) as usize;
            let mut v = vec![std::ptr::null_mut(); n];
            LLVMGetParamTypes(self.0, v.as_mut_ptr());
            v.into_iter().map(Type).collect()
        }
    }

    pub fn is_variadic(self) -> bool {
        // SAFETY: a function type.
        unsafe { LLVMIsFunctionVarArg(self.0) != 0 }
    }

    pub fn print(self) -> String {
        // SAFETY: as `Value::print`.
        unsafe {
            let p = LLVMPrintTypeToString(self.0);
            let s = CStr::from_ptr(p).to_string_lossy().into_owned();
            LLVMDisposeMessage(p);
            s
        }
    }
}

/// Whether `op` is one of the opcodes named (for readable matches).
pub fn is(op: Option<Opcode>, want: LLVMOpcode) -> bool {
    op == Some(want)
}
