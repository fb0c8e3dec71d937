//! What a bytecode file holds, and its encoding.
//!
//! A file is a fixed header and a postcard-encoded [`Module`]:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..4 | magic `JTBC` |
//! | 4..6 | format version, little-endian ([`VERSION`]) |
//! | 6..8 | zero |
//! | 8..12 | payload length |
//! | 12..16 | CRC-32 of the payload |
//! | 16..24 | [`ir_digest`] of the IR it was lowered from |
//! | 24.. | payload: the module |
//!
//! Registers are 64-bit; integers narrower than 64 bits are kept
//! zero-extended, `float` in the low 32 bits, `double` as its bits.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub const MAGIC: [u8; 4] = *b"JTBC";
/// Bumped whenever [`Module`] or an instruction changes meaning.
pub const VERSION: u16 = 5;
pub const HEADER_BYTES: usize = 24;

/// A register of the current frame.
pub type Reg = u16;
/// An instruction index in the current function.
pub type Target = u32;

/// Integer width of an operation, in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Width {
    W1,
    W8,
    W16,
    W32,
    W64,
}

impl Width {
    pub fn bits(self) -> u32 {
        match self {
            Width::W1 => 1,
            Width::W8 => 8,
            Width::W16 => 16,
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
}

/// Size of a memory access in bytes (floats are loaded as their bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Size {
    B1,
    B2,
    B4,
    B8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Float {
    F32,
    F64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    UDiv,
    SDiv,
    URem,
    SRem,
    And,
    Or,
    Xor,
    Shl,
    LShr,
    AShr,
    SMin,
    SMax,
    UMin,
    UMax,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FBinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    /// `llvm.minnum` / `llvm.maxnum`: the other operand when one is NaN.
    MinNum,
    MaxNum,
    CopySign,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FUnOp {
    Neg,
    Abs,
    Sqrt,
    Floor,
    Ceil,
    Trunc,
    Round,
    RoundEven,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntPred {
    Eq,
    Ne,
    Ugt,
    Uge,
    Ult,
    Ule,
    Sgt,
    Sge,
    Slt,
    Sle,
}

/// LLVM's `fcmp` predicates: ordered (`O*`: false if either is NaN),
/// unordered (`U*`: true if either is NaN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FloatPred {
    False,
    Oeq,
    Ogt,
    Oge,
    Olt,
    Ole,
    One,
    Ord,
    Ueq,
    Ugt,
    Uge,
    Ult,
    Ule,
    Une,
    Uno,
    True,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cast {
    /// Keep the low bits (truncation, and `ptrtoint`/`inttoptr`).
    Trunc(Width),
    SExt {
        from: Width,
        to: Width,
    },
    FpToSi {
        from: Float,
        to: Width,
    },
    FpToUi {
        from: Float,
        to: Width,
    },
    SiToFp {
        from: Width,
        to: Float,
    },
    UiToFp {
        from: Width,
        to: Float,
    },
    FpTrunc,
    FpExt,
}

/// How a value travels in a call under the System V ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Class {
    /// In a general register; `signed` values narrower than 32 bits are
    /// sign-extended on the way (`signext`), others zero-extended.
    Int {
        width: Width,
        signed: bool,
    },
    F32,
    F64,
    /// A struct passed by value in memory (`byval`, what System V does
    /// with structs over 16 bytes): the value is its address; the bytes
    /// travel in stack slots, and the callee gets the address of its copy.
    Memory {
        size: u32,
    },
}

impl Class {
    /// Stack slots a `Memory` argument takes.
    pub fn slots(self) -> usize {
        match self {
            Class::Memory { size } => (size as usize).div_ceil(8),
            _ => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Callee {
    /// A function of the program, by its index in the function table.
    Function(u32),
    /// A symbol (the C library), by its index in [`Module::symbols`].
    Symbol(u32),
    /// A function pointer in a register, and the call's site number: its
    /// place among the function's calls through pointers in IR block
    /// order (after `irlower::PIPELINE`), where the interpreter counts
    /// its targets (`ipc_abi::counters::TARGETS`) and where the JIT finds
    /// the call the counts are for (profile-guided O3). Every indirect
    /// call has one, `0..n` each once.
    Indirect(Reg, u32),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Inst {
    Const {
        dst: Reg,
        value: u64,
    },
    /// The address of symbol `sym` ([`Module::symbols`]).
    Addr {
        dst: Reg,
        sym: u32,
    },
    /// The address of program function `func` (what compiled code uses
    /// as its function pointer).
    FuncAddr {
        dst: Reg,
        func: u32,
    },
    Move {
        dst: Reg,
        src: Reg,
    },
    Bin {
        op: BinOp,
        w: Width,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `|a|` as a signed integer of width `w` (`llvm.abs`).
    Abs {
        w: Width,
        dst: Reg,
        a: Reg,
    },
    FBin {
        op: FBinOp,
        f: Float,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `double` arithmetic, the commonest floating operations, with no
    /// second dispatch on the operation (what `FBin` does for the rest).
    F64Add {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    F64Sub {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    F64Mul {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    F64Div {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    FUn {
        op: FUnOp,
        f: Float,
        dst: Reg,
        a: Reg,
    },
    /// `a * b + c` (`llvm.fmuladd`: rounded once or twice, both allowed).
    FMulAdd {
        f: Float,
        dst: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    /// 128-bit integer operation: `a`, `b` and `dst` each name a register
    /// pair (low half first).
    Wide {
        op: BinOp,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `llvm.{s,u}{add,sub,mul}.with.overflow`: the wrapped result of
    /// width `w` in `dst`, whether it overflowed in `dst + 1`.
    Overflow {
        op: BinOp,
        signed: bool,
        w: Width,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// Compares two 128-bit pairs; `dst` is one register.
    WideCmp {
        p: IntPred,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// A 128-bit pair from a narrower integer `a`.
    WideExt {
        signed: bool,
        from: Width,
        dst: Reg,
        a: Reg,
    },
    /// The low `to` bits of the pair `a`.
    WideTrunc {
        to: Width,
        dst: Reg,
        a: Reg,
    },
    /// Between a 128-bit pair and a float (`to_float`: pair -> float).
    WideFloat {
        signed: bool,
        to_float: bool,
        f: Float,
        dst: Reg,
        a: Reg,
    },
    ICmp {
        p: IntPred,
        w: Width,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    FCmp {
        p: FloatPred,
        f: Float,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Cast {
        op: Cast,
        dst: Reg,
        a: Reg,
    },
    Select {
        dst: Reg,
        cond: Reg,
        a: Reg,
        b: Reg,
    },
    Load {
        size: Size,
        dst: Reg,
        addr: Reg,
    },
    Store {
        size: Size,
        addr: Reg,
        src: Reg,
    },
    /// `base + index * scale + offset` (GEP; `index` is a signed 64-bit
    /// value).
    Offset {
        dst: Reg,
        base: Reg,
        index: Reg,
        scale: i64,
    },
    AddImm {
        dst: Reg,
        a: Reg,
        imm: i64,
    },
    /// Frame memory of `size` bytes aligned to `align` (not cleared).
    Alloca {
        dst: Reg,
        size: u32,
        align: u32,
    },
    /// `count * elem` bytes (a VLA).
    AllocaDyn {
        dst: Reg,
        count: Reg,
        elem: u32,
        align: u32,
    },
    StackSave {
        dst: Reg,
    },
    StackRestore {
        src: Reg,
    },
    MemCopy {
        dst: Reg,
        src: Reg,
        len: Reg,
    },
    MemSet {
        dst: Reg,
        byte: Reg,
        len: Reg,
    },
    Jump {
        to: Target,
    },
    /// A jump along a loop's back-edge (to its header): a jump that also
    /// counts one loop iteration for the profiler, and where a running
    /// frame may leave for compiled code (on-stack replacement). The
    /// lowering sends every back-edge through one. `block`: the header's
    /// index among the function's IR blocks (after `irlower::PIPELINE`).
    BackJump {
        to: Target,
        block: u32,
    },
    /// A conditional branch. `edge`: its number among the function's
    /// conditional branches in IR block order (after `irlower::PIPELINE`),
    /// where the profiler counts it (`ipc_abi::counters::EDGES`) and
    /// where the JIT finds the branch its counts weigh (profile-guided
    /// O3). Every conditional branch has one, `0..n` each once.
    Branch {
        cond: Reg,
        then: Target,
        els: Target,
        edge: u32,
    },
    /// An integer compare whose only use is the branch that follows it,
    /// fused: one dispatch instead of two in every loop test. `edge` as
    /// in `Branch`.
    CmpBranch {
        p: IntPred,
        w: Width,
        a: Reg,
        b: Reg,
        then: Target,
        els: Target,
        edge: u32,
    },
    Switch {
        w: Width,
        value: Reg,
        default: Target,
        cases: Vec<(u64, Target)>,
    },
    /// `ret2` receives the second register of a two-register result (a
    /// small struct returned in `rax:rdx`, `xmm0:xmm1` or a mix).
    Call {
        callee: Callee,
        args: Vec<(Reg, Class)>,
        fixed: u16,
        ret: Option<(Reg, Class)>,
        ret2: Option<(Reg, Class)>,
    },
    /// A call to a function that may return twice (`setjmp`, marked
    /// `returns_twice`): native code at the callee's address, with at most
    /// two integer arguments. The interpreter keeps running inside the
    /// call's native frame, so a `longjmp` from anywhere (interpreted,
    /// compiled or C library code) comes back to it.
    CallReturnsTwice {
        callee: Callee,
        args: Vec<Reg>,
        ret: Option<(Reg, Class)>,
    },
    Ret {
        value: Option<Reg>,
    },
    /// Returns a two-register result (see [`Function::ret2`]).
    Ret2 {
        a: Reg,
        b: Reg,
    },
    /// Initializes the `va_list` at the address in `list` for this
    /// (variadic) function's extra arguments.
    VaStart {
        list: Reg,
    },
    VaCopy {
        dst: Reg,
        src: Reg,
    },
    VaArg {
        dst: Reg,
        list: Reg,
        class: Class,
    },
    Unreachable,
}

impl Inst {
    /// Whether control never goes on to the next instruction.
    pub fn is_terminator(&self) -> bool {
        matches!(
            self,
            Inst::Jump { .. }
                | Inst::BackJump { .. }
                | Inst::Branch { .. }
                | Inst::CmpBranch { .. }
                | Inst::Switch { .. }
                | Inst::Ret { .. }
                | Inst::Ret2 { .. }
                | Inst::Unreachable
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// Registers used, and the code (parameters arrive in registers
    /// `0..params.len()`).
    Code { regs: u16, code: Vec<Inst> },
    /// The lowering met something the interpreter does not run; the
    /// function starts compiled instead.
    Unsupported { construct: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    pub params: Vec<Class>,
    pub ret: Option<Class>,
    /// The second register of a small struct returned in two (`{ i64,
    /// i64 }` in `rax:rdx`, `{ double, double }` in `xmm0:xmm1`, ...).
    pub ret2: Option<Class>,
    pub variadic: bool,
    pub body: Body,
    /// For on-stack replacement: the register holding each value of the
    /// function's IR (after `irlower::PIPELINE`), by its canonical number
    /// (the arguments, then every instruction in block order), or
    /// [`NO_REGISTER`]. Empty when a frame of it cannot move to compiled
    /// code (a value in two registers, a variadic function).
    pub osr: Vec<Reg>,
    /// `ipc_abi::proto::jit::osr_shape_digest` of those values: a
    /// continuation the JIT built from a function of another shape is
    /// not used.
    pub osr_digest: u64,
}

impl Function {
    /// How many conditional branches its code has (each with its `edge`
    /// number below that): 0 for a function the interpreter does not run.
    pub fn branches(&self) -> usize {
        self.count(|i| matches!(i, Inst::Branch { .. } | Inst::CmpBranch { .. }))
    }

    /// How many calls through pointers its code has (each with its site
    /// number below that).
    pub fn indirect_calls(&self) -> usize {
        self.count(|i| {
            matches!(
                i,
                Inst::Call {
                    callee: Callee::Indirect(..),
                    ..
                } | Inst::CallReturnsTwice {
                    callee: Callee::Indirect(..),
                    ..
                }
            )
        })
    }

    fn count(&self, what: impl Fn(&Inst) -> bool) -> usize {
        match &self.body {
            Body::Code { code, .. } => code.iter().filter(|i| what(i)).count(),
            Body::Unsupported { .. } => 0,
        }
    }
}

/// An IR value without a register of its own (no result, or a constant).
pub const NO_REGISTER: Reg = Reg::MAX;

/// Whether a symbol is code or data (for the loader's messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SymbolKind {
    /// A global variable of the program (its home in the data region).
    Global,
    /// A function or object outside the program (the C library).
    External,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
}

/// What an address stored in a global's initial image points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelocTarget {
    /// A global of [`Module::globals`].
    Global(u32),
    /// A program function (its function pointer).
    Function(u32),
    /// A symbol of [`Module::symbols`].
    Symbol(u32),
}

/// An 8-byte address at `offset` in a global's image: the target's
/// address plus `addend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloc {
    pub offset: u64,
    pub target: RelocTarget,
    pub addend: i64,
}

/// A global variable the program defines: its size, alignment and
/// initial image (zeros past `init`), for a host that lays out globals
/// itself (with no JIT to do it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Global {
    pub name: String,
    pub size: u64,
    pub align: u32,
    pub init: Vec<u8>,
    pub relocs: Vec<Reloc>,
}

/// One program: its functions in function-table order, the symbols their
/// code refers to, and the globals it defines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub functions: Vec<Function>,
    pub symbols: Vec<Symbol>,
    pub globals: Vec<Global>,
}

/// What ties a bytecode file to its IR: the IR's CRC-32 and length.
pub fn ir_digest(ir: &[u8]) -> u64 {
    ((crc32fast::hash(ir) as u64) << 32) | (ir.len() as u64 & 0xffff_ffff)
}

/// Encodes `module`, lowered from `ir`, as a bytecode file.
pub fn encode(module: &Module, ir: &[u8]) -> Vec<u8> {
    let payload = postcard::to_allocvec(module).expect("a module always encodes");
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&ir_digest(ir).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}
