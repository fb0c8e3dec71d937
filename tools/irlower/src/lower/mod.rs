//! One function's IR to bytecode. Every SSA value gets a register;
//! constants and constant expressions are computed once, in a prologue;
//! a phi becomes moves on each edge into its block (through a small stub
//! when the edge leaves a conditional branch or switch). Anything the
//! interpreter does not run makes the function `Unsupported`, naming the
//! construct; the function is then compiled instead.

mod call;
mod loops;
mod pairs;

use crate::Names;
use crate::llvm::{Block, IntPredicate, Ir, Kind, Opcode, RealPredicate, Type, Value};
use bytecode::format::{self as bc, Callee, Class, Float, Inst, Reg, Size, Width};
use std::collections::{HashMap, HashSet};

pub type Unsupported = String;

/// Where a jump target is patched once block positions are known.
enum Fix {
    /// `code[at]`'s `n`th target goes to the start of `block`.
    Block { at: usize, n: usize, block: Block },
    /// ... to the `stub`th edge stub.
    Stub { at: usize, n: usize, stub: usize },
    /// ... to body position `to`.
    Here { at: usize, n: usize, to: usize },
    /// ... to the `tail`th return (`returns`).
    Tail { at: usize, n: usize, tail: usize },
}

pub struct FnLower<'a> {
    ir: &'a Ir,
    names: &'a mut Names,
    regs: HashMap<Value, Reg>,
    next: u32,
    consts: HashMap<u64, Reg>,
    prologue: Vec<Inst>,
    body: Vec<Inst>,
    /// Emitting into the prologue (constant expressions) or the body.
    in_prologue: bool,
    starts: HashMap<Block, usize>,
    fixes: Vec<Fix>,
    /// Edge stubs: moves, then a jump to the block (a `BackJump` along a
    /// loop's back-edge).
    stubs: Vec<(Vec<Inst>, Block, bool)>,
    /// Returns made on an edge into a block that only returns
    /// (`return_on_edge`), laid out after the stubs.
    returns: Vec<Inst>,
    /// The function's loop back-edges (`loops`).
    back: HashSet<(Block, Block)>,
    /// Each block's index in the function (a loop header's, in `BackJump`).
    block_index: HashMap<Block, u32>,
    /// The edge number of the conditional branch ending a block: the
    /// conditional branches numbered in block order (`bc::Inst::Branch`),
    /// as the JIT numbers them to weigh them (profile-guided O3).
    branch_edge: HashMap<Block, u32>,
    /// The site number of each call through a pointer: such calls
    /// numbered in block order (`bc::Callee::Indirect`), as the JIT
    /// numbers them to find the call a profile's targets are for.
    call_site: HashMap<Value, u32>,
    /// The block laid out after the one being lowered.
    next_block: Option<Block>,
}

/// A call through a pointer: its callee is neither a function nor
/// inline assembly (the JIT's `pgo` module tells them apart the same way).
pub fn is_indirect_call(call: Value) -> bool {
    let callee = call.called_value();
    !callee.is_function() && !callee.is_inline_asm()
}

pub fn width(t: Type) -> Result<Width, Unsupported> {
    match t.kind() {
        Kind::Int(1) => Ok(Width::W1),
        Kind::Int(8) => Ok(Width::W8),
        Kind::Int(16) => Ok(Width::W16),
        Kind::Int(32) => Ok(Width::W32),
        Kind::Int(64) | Kind::Pointer => Ok(Width::W64),
        _ => Err(format!("values of type {}", t.print())),
    }
}

fn float(t: Type) -> Result<Float, Unsupported> {
    match t.kind() {
        Kind::Float => Ok(Float::F32),
        Kind::Double => Ok(Float::F64),
        _ => Err(format!("floating-point type {}", t.print())),
    }
}

/// How a value of type `t` travels in a call.
pub fn class(t: Type, signed: bool) -> Result<Class, Unsupported> {
    match t.kind() {
        Kind::Float => Ok(Class::F32),
        Kind::Double => Ok(Class::F64),
        Kind::Int(_) | Kind::Pointer => Ok(Class::Int {
            width: width(t)?,
            signed,
        }),
        _ => Err(format!("passing or returning {}", t.print())),
    }
}

/// How a struct passed by value (`byval(t)`) travels: in stack slots.
pub fn memory_class(t: Type, ir: &Ir) -> Result<Class, Unsupported> {
    if ir.align_of(t) > 8 {
        return Err(format!(
            "a struct passed by value aligned to {} bytes",
            ir.align_of(t)
        ));
    }
    u32::try_from(ir.size_of(t))
        .ok()
        .filter(|&s| s > 0 && s <= bytecode::validate::MAX_BYVAL)
        .map(|size| Class::Memory { size })
        .ok_or_else(|| format!("a struct of {} bytes passed by value", ir.size_of(t)))
}

/// A struct of two scalars (what clang returns in two registers, and
/// builds with `insertvalue`/`extractvalue`): its field types. Such a
/// value takes two consecutive registers.
pub fn pair(t: Type) -> Option<(Type, Type)> {
    let scalar = |t: Type| {
        matches!(
            t.kind(),
            Kind::Int(1 | 8 | 16 | 32 | 64) | Kind::Pointer | Kind::Float | Kind::Double
        )
    };
    (t.kind() == Kind::Struct && t.field_count() == 2 && scalar(t.field(0)) && scalar(t.field(1)))
        .then(|| (t.field(0), t.field(1)))
}

/// Whether integer compare `i` is used only by the conditional branch right
/// after it (then the two become one `CmpBranch`).
fn fused(i: Value) -> bool {
    !is_wide(i.operand(0).ty())
        && width(i.operand(0).ty()).is_ok()
        && i.use_count(2) == 1
        && i.next_instruction().is_some_and(|n| {
            n.opcode() == Some(Opcode::LLVMBr) && n.is_conditional() && n.condition() == i
        })
}

/// A 128-bit integer (`__int128`): two registers, low half first.
pub fn is_wide(t: Type) -> bool {
    t.kind() == Kind::Int(128)
}

fn size(t: Type, ir: &Ir) -> Result<Size, Unsupported> {
    match (t.kind(), ir.size_of(t)) {
        (Kind::Int(_) | Kind::Pointer | Kind::Float | Kind::Double, 1) => Ok(Size::B1),
        (Kind::Int(_) | Kind::Pointer | Kind::Float | Kind::Double, 2) => Ok(Size::B2),
        (Kind::Int(_) | Kind::Pointer | Kind::Float | Kind::Double, 4) => Ok(Size::B4),
        (Kind::Int(_) | Kind::Pointer | Kind::Float | Kind::Double, 8) => Ok(Size::B8),
        _ => Err(format!("loads and stores of {}", t.print())),
    }
}

fn int_pred(p: IntPredicate) -> bc::IntPred {
    use IntPredicate::*;
    use bc::IntPred as P;
    match p {
        LLVMIntEQ => P::Eq,
        LLVMIntNE => P::Ne,
        LLVMIntUGT => P::Ugt,
        LLVMIntUGE => P::Uge,
        LLVMIntULT => P::Ult,
        LLVMIntULE => P::Ule,
        LLVMIntSGT => P::Sgt,
        LLVMIntSGE => P::Sge,
        LLVMIntSLT => P::Slt,
        LLVMIntSLE => P::Sle,
    }
}

fn real_pred(p: RealPredicate) -> bc::FloatPred {
    use RealPredicate::*;
    use bc::FloatPred as P;
    match p {
        LLVMRealPredicateFalse => P::False,
        LLVMRealOEQ => P::Oeq,
        LLVMRealOGT => P::Ogt,
        LLVMRealOGE => P::Oge,
        LLVMRealOLT => P::Olt,
        LLVMRealOLE => P::Ole,
        LLVMRealONE => P::One,
        LLVMRealORD => P::Ord,
        LLVMRealUNO => P::Uno,
        LLVMRealUEQ => P::Ueq,
        LLVMRealUGT => P::Ugt,
        LLVMRealUGE => P::Uge,
        LLVMRealULT => P::Ult,
        LLVMRealULE => P::Ule,
        LLVMRealUNE => P::Une,
        LLVMRealPredicateTrue => P::True,
    }
}

impl<'a> FnLower<'a> {
    pub fn new(ir: &'a Ir, names: &'a mut Names) -> Self {
        FnLower {
            ir,
            names,
            regs: HashMap::new(),
            next: 0,
            consts: HashMap::new(),
            prologue: Vec::new(),
            body: Vec::new(),
            in_prologue: false,
            starts: HashMap::new(),
            fixes: Vec::new(),
            stubs: Vec::new(),
            returns: Vec::new(),
            back: HashSet::new(),
            block_index: HashMap::new(),
            branch_edge: HashMap::new(),
            call_site: HashMap::new(),
            next_block: None,
        }
    }

    fn fresh(&mut self) -> Result<Reg, Unsupported> {
        let r = self.next;
        self.next += 1;
        Reg::try_from(r).map_err(|_| "more than 65,535 values in one function".to_string())
    }

    fn emit(&mut self, i: Inst) {
        if self.in_prologue {
            self.prologue.push(i)
        } else {
            self.body.push(i)
        }
    }

    fn constant(&mut self, value: u64) -> Result<Reg, Unsupported> {
        if let Some(&r) = self.consts.get(&value) {
            return Ok(r);
        }
        let r = self.fresh()?;
        self.prologue.push(Inst::Const { dst: r, value });
        self.consts.insert(value, r);
        Ok(r)
    }

    /// The register holding `v` (constants are materialized once).
    fn operand(&mut self, v: Value) -> Result<Reg, Unsupported> {
        if let Some(&r) = self.regs.get(&v) {
            return Ok(r);
        }
        let r = if is_wide(v.ty()) && (v.is_constant_int() || v.is_zero_like()) {
            let x = if v.is_zero_like() {
                0
            } else {
                crate::data::printed_int(&v.print())
                    .ok_or_else(|| format!("constant {}", v.print()))? as u128
            };
            let r = self.fresh()?;
            self.fresh()?;
            self.prologue.push(Inst::Const {
                dst: r,
                value: x as u64,
            });
            self.prologue.push(Inst::Const {
                dst: r + 1,
                value: (x >> 64) as u64,
            });
            r
        } else if v.is_constant_int() {
            let w = width(v.ty())?;
            let value = v
                .const_int(w.bits())
                .ok_or_else(|| format!("constant {}", v.print()))?;
            return self.constant(value);
        } else if v.is_constant_fp() {
            let bits = match float(v.ty())? {
                Float::F32 => (v.const_real() as f32).to_bits() as u64,
                Float::F64 => v.const_real().to_bits(),
            };
            return self.constant(bits);
        } else if v.is_zero_like() || (pair(v.ty()).is_some() && v.is_constant_aggregate()) {
            match v.ty().kind() {
                Kind::Int(_) | Kind::Pointer | Kind::Float | Kind::Double => {
                    return self.constant(0);
                }
                _ if pair(v.ty()).is_some() => {
                    // Two fresh registers filled in the prologue.
                    let fields = if v.is_zero_like() {
                        [None, None]
                    } else {
                        [v.element(0), v.element(1)]
                    };
                    let mut srcs = [0; 2];
                    for (k, f) in fields.into_iter().enumerate() {
                        srcs[k] = match f {
                            Some(f) => self.operand(f)?,
                            None => self.constant(0)?,
                        };
                    }
                    let r = self.fresh()?;
                    self.fresh()?;
                    self.prologue.push(Inst::Move {
                        dst: r,
                        src: srcs[0],
                    });
                    self.prologue.push(Inst::Move {
                        dst: r + 1,
                        src: srcs[1],
                    });
                    r
                }
                _ => return Err(format!("aggregate value {}", v.print())),
            }
        } else if v.is_function() {
            let r = self.fresh()?;
            let inst = match self.names.function(&v.name()) {
                Some(func) => Inst::FuncAddr { dst: r, func },
                None => Inst::Addr {
                    dst: r,
                    sym: self.names.external(&v.name()),
                },
            };
            self.prologue.push(inst);
            r
        } else if v.is_global_variable() {
            let r = self.fresh()?;
            let sym = self.names.global_symbol(&v);
            self.prologue.push(Inst::Addr { dst: r, sym });
            r
        } else if v.is_constant_expr() {
            let r = self.fresh()?;
            self.regs.insert(v, r);
            let was = self.in_prologue;
            self.in_prologue = true;
            let done = self.instruction(v, r);
            self.in_prologue = was;
            done?;
            return Ok(r);
        } else {
            return Err(format!("operand {}", v.print()));
        };
        self.regs.insert(v, r);
        Ok(r)
    }

    /// Lowers function `f`: its body (and its on-stack-replacement map,
    /// see `bc::Function::osr`), or why it cannot be interpreted.
    pub fn function(mut self, f: Value) -> Result<(bc::Body, (Vec<Reg>, u64)), Unsupported> {
        for p in f.params() {
            let r = self.fresh()?;
            self.regs.insert(p, r);
        }
        let blocks = f.blocks();
        self.back = loops::back_edges(&blocks);
        self.block_index = blocks
            .iter()
            .enumerate()
            .map(|(i, b)| (*b, i as u32))
            .collect();
        let conditional = |b: &Block| {
            b.instructions().last().is_some_and(|t| {
                t.opcode() == Some(llvm_sys::LLVMOpcode::LLVMBr) && t.is_conditional()
            })
        };
        self.branch_edge = blocks
            .iter()
            .filter(|b| conditional(b))
            .enumerate()
            .map(|(k, b)| (*b, k as u32))
            .collect();
        self.call_site = blocks
            .iter()
            .flat_map(|b| b.instructions())
            .filter(|i| i.opcode() == Some(llvm_sys::LLVMOpcode::LLVMCall) && is_indirect_call(*i))
            .enumerate()
            .map(|(k, i)| (i, k as u32))
            .collect();
        for b in &blocks {
            for i in b.instructions() {
                if let Some(r) = self.same_register(i) {
                    self.regs.insert(i, r);
                } else if i.ty().kind() != Kind::Void {
                    let r = self.fresh()?;
                    if pair(i.ty()).is_some() || is_wide(i.ty()) {
                        self.fresh()?;
                    }
                    self.regs.insert(i, r);
                }
            }
        }
        for (k, b) in blocks.iter().enumerate() {
            self.next_block = blocks.get(k + 1).copied();
            self.starts.insert(*b, self.body.len());
            for i in b.instructions() {
                let dst = self.regs.get(&i).copied().unwrap_or(0);
                self.instruction(i, dst)?;
            }
        }
        // Stubs after the body, then every target patched: the prologue
        // comes first, so body positions move by its length.
        let shift = self.prologue.len();
        let mut stub_at = Vec::new();
        let stubs = std::mem::take(&mut self.stubs);
        for (moves, block, back) in stubs {
            stub_at.push(self.body.len());
            self.body.extend(moves);
            let at = self.body.len();
            self.body.push(if back {
                Inst::BackJump {
                    to: 0,
                    block: self.block_index[&block],
                }
            } else {
                Inst::Jump { to: 0 }
            });
            self.fixes.push(Fix::Block { at, n: 0, block });
        }
        let mut return_at = Vec::new();
        for ret in std::mem::take(&mut self.returns) {
            return_at.push(self.body.len());
            self.body.push(ret);
        }
        for fix in std::mem::take(&mut self.fixes) {
            let (at, n, to) = match fix {
                Fix::Block { at, n, block } => (at, n, self.starts[&block]),
                Fix::Stub { at, n, stub } => (at, n, stub_at[stub]),
                Fix::Here { at, n, to } => (at, n, to),
                Fix::Tail { at, n, tail } => (at, n, return_at[tail]),
            };
            let to = (to + shift) as u32;
            match &mut self.body[at] {
                Inst::Jump { to: t } | Inst::BackJump { to: t, .. } => *t = to,
                Inst::Branch { then, els, .. } | Inst::CmpBranch { then, els, .. } => {
                    *(if n == 0 { then } else { els }) = to
                }
                Inst::Switch { default, cases, .. } => {
                    if n == 0 {
                        *default = to
                    } else {
                        cases[n - 1].1 = to
                    }
                }
                _ => unreachable!("only jumps are patched"),
            }
        }
        let osr = self.osr_map(f, &blocks);
        let mut code = std::mem::take(&mut self.prologue);
        code.extend(self.body);
        let body = bc::Body::Code {
            regs: u16::try_from(self.next).map_err(|_| "too many values".to_string())?,
            code,
        };
        Ok((body, osr))
    }

    /// The register of each of `f`'s values by canonical number (its
    /// arguments, then every instruction of `blocks` in order; see
    /// `bc::Function::osr`), or nothing when a frame of `f` cannot move to
    /// compiled code: a variadic function, or a value in two registers.
    /// With the map, the values' `osr_shape_digest`.
    fn osr_map(&self, f: Value, blocks: &[Block]) -> (Vec<Reg>, u64) {
        if f.function_type().is_variadic() {
            return (Vec::new(), 0);
        }
        let values: Vec<Value> = f
            .params()
            .into_iter()
            .chain(blocks.iter().flat_map(|b| b.instructions()))
            .collect();
        let mut map = Vec::new();
        for v in &values {
            if pair(v.ty()).is_some() || is_wide(v.ty()) {
                return (Vec::new(), 0);
            }
            map.push(self.regs.get(v).copied().unwrap_or(bc::NO_REGISTER));
        }
        let digest = ipc_abi::proto::jit::osr_shape_digest(values.iter().map(|v| {
            let (kind, width) = v.ty().shape();
            (v.opcode().map_or(0, |o| o as u32), kind, width)
        }));
        (map, digest)
    }

    /// The register of a value that is its operand's bits unchanged (a
    /// zero-extension, pointer or bit cast, `freeze`), if it can share
    /// that operand's register instead of copying it: one written once,
    /// where it is defined (an argument or an instruction other than a
    /// phi, which edges write). Such a register holds the value of the
    /// operand's latest execution, which is the one the cast saw: the
    /// operand's definition dominates the cast's, the cast's every use,
    /// so no path reaches a use through the definition again without the
    /// cast again. The same holds for a phi in the cast's own block.
    fn same_register(&self, i: Value) -> Option<Reg> {
        use Opcode::*;
        let op = i.opcode()?;
        if !matches!(op, LLVMZExt | LLVMIntToPtr | LLVMBitCast | LLVMFreeze) {
            return None;
        }
        let x = i.operand(0);
        let kinds_ok = [x.ty(), i.ty()].iter().all(|t| {
            matches!(
                t.kind(),
                Kind::Int(1..=64) | Kind::Pointer | Kind::Float | Kind::Double
            )
        });
        let written_once = x.is_argument() || (x.is_instruction() && x.opcode() != Some(LLVMPHI));
        // A phi's register changes only on edges into its block, and every
        // entry into the block runs the cast again.
        let same_block_phi = x.is_instruction()
            && x.opcode() == Some(LLVMPHI)
            && x.parent_block() == i.parent_block();
        if kinds_ok && (written_once || same_block_phi) {
            self.regs.get(&x).copied()
        } else {
            None
        }
    }

    /// The parallel moves into `to`'s phis along the edge from `from`.
    fn edge_moves(&mut self, from: Block, to: Block) -> Result<Vec<Inst>, Unsupported> {
        let mut pairs = Vec::new();
        for i in to.instructions() {
            if i.opcode() != Some(Opcode::LLVMPHI) {
                break;
            }
            let value = i
                .incoming()
                .into_iter()
                .find(|(_, b)| *b == from)
                .map(|(v, _)| v)
                .ok_or("a phi without a value for an edge")?;
            let src = self.operand(value)?;
            pairs.push((self.regs[&i], src));
            if pair(i.ty()).is_some() || is_wide(i.ty()) {
                pairs.push((self.regs[&i] + 1, src + 1));
            }
        }
        self.sequential(pairs)
    }

    /// Moves that do what the parallel copy `pairs` (destination, source)
    /// does: each destination written once no remaining move reads it; a
    /// cycle (`a, b = b, a`) broken by saving one destination first.
    fn sequential(&mut self, mut pairs: Vec<(Reg, Reg)>) -> Result<Vec<Inst>, Unsupported> {
        pairs.retain(|(d, s)| d != s);
        let mut moves = Vec::new();
        while !pairs.is_empty() {
            let free = pairs
                .iter()
                .position(|&(d, _)| pairs.iter().all(|&(_, s)| s != d));
            match free {
                Some(k) => {
                    let (dst, src) = pairs.remove(k);
                    moves.push(Inst::Move { dst, src });
                }
                None => {
                    let (d, _) = pairs[0];
                    let t = self.fresh()?;
                    moves.push(Inst::Move { dst: t, src: d });
                    for (_, s) in pairs.iter_mut().filter(|(_, s)| *s == d) {
                        *s = t;
                    }
                }
            }
        }
        Ok(moves)
    }

    /// Target `n` of the terminator at `at` goes to `to` (from `from`):
    /// straight to a return when `to` only returns (`return_on_edge`),
    /// else through a stub when `to` has phis or the edge is a loop's
    /// back-edge (its `BackJump` counts the iteration).
    fn edge(&mut self, at: usize, n: usize, from: Block, to: Block) -> Result<(), Unsupported> {
        if let Some(ret) = self.return_on_edge(from, to)? {
            self.returns.push(ret);
            let tail = self.returns.len() - 1;
            self.fixes.push(Fix::Tail { at, n, tail });
            return Ok(());
        }
        let moves = self.edge_moves(from, to)?;
        let back = self.back.contains(&(from, to));
        if moves.is_empty() && !back {
            self.fixes.push(Fix::Block { at, n, block: to });
        } else {
            self.stubs.push((moves, to, back));
            let stub = self.stubs.len() - 1;
            self.fixes.push(Fix::Stub { at, n, stub });
        }
        Ok(())
    }

    /// The targets of the conditional branch at `at` (from `from`), as
    /// `edge` makes them, except a loop back-edge's stub (the first, if
    /// both are), which goes right after the branch, not after the body:
    /// the loop goes round through it without a jump to reach it, and
    /// with an `Add` before the branch (a loop's step and test) the
    /// interpreter runs the pair as one op whichever way the branch goes
    /// (`bytecode::exec`).
    fn branch_edges(&mut self, at: usize, from: Block, to: [Block; 2]) -> Result<(), Unsupported> {
        let back = to.iter().position(|&t| self.back.contains(&(from, t)));
        for (n, &target) in to.iter().enumerate() {
            if Some(n) != back {
                self.edge(at, n, from, target)?;
            }
        }
        if let Some(n) = back {
            let to = to[n];
            let start = self.body.len();
            self.fixes.push(Fix::Here { at, n, to: start });
            let moves = self.edge_moves(from, to)?;
            self.body.extend(moves);
            let jump = self.body.len();
            self.emit(Inst::BackJump {
                to: 0,
                block: self.block_index[&to],
            });
            self.fixes.push(Fix::Block {
                at: jump,
                n: 0,
                block: to,
            });
        }
        Ok(())
    }

    /// The return an edge from `from` into `to` makes by itself when `to`
    /// only returns: a `ret` of nothing or of a value from elsewhere, or
    /// of its one phi (the value the phi takes from `from`). The edge then
    /// returns at once, instead of moving into the phi and jumping to the
    /// `ret` (one dispatch fewer on every such return). Values in
    /// registers pairs (`ret2`) keep the usual way.
    fn return_on_edge(&mut self, from: Block, to: Block) -> Result<Option<Inst>, Unsupported> {
        let insts = to.instructions();
        let Some((&ret, before)) = insts.split_last() else {
            return Ok(None);
        };
        if ret.opcode() != Some(Opcode::LLVMRet) {
            return Ok(None);
        }
        if ret.operand_count() == 0 {
            return Ok(before.is_empty().then_some(Inst::Ret { value: None }));
        }
        let v = ret.operand(0);
        if pair(v.ty()).is_some() || is_wide(v.ty()) {
            return Ok(None);
        }
        let value = match before {
            [] => v,
            [phi] if *phi == v && phi.opcode() == Some(Opcode::LLVMPHI) => {
                let Some((value, _)) = phi.incoming().into_iter().find(|(_, b)| *b == from) else {
                    return Ok(None);
                };
                value
            }
            _ => return Ok(None),
        };
        Ok(Some(Inst::Ret {
            value: Some(self.operand(value)?),
        }))
    }

    fn block_of(i: Value) -> Block {
        i.parent_block()
    }

    fn instruction(&mut self, i: Value, dst: Reg) -> Result<(), Unsupported> {
        use Opcode::*;
        let op = i.opcode().ok_or_else(|| format!("value {}", i.print()))?;
        let a = |s: &mut Self, k: u32| s.operand(i.operand(k));
        let wide_operand = i.operand_count() > 0 && is_wide(i.operand(0).ty());
        if (is_wide(i.ty()) || wide_operand) && !matches!(op, LLVMPHI | LLVMRet | LLVMCall) {
            return self.wide(i, op, dst);
        }
        match op {
            LLVMRet => {
                if i.operand_count() > 0
                    && (pair(i.operand(0).ty()).is_some() || is_wide(i.operand(0).ty()))
                {
                    let v = a(self, 0)?;
                    self.emit(Inst::Ret2 { a: v, b: v + 1 });
                    return Ok(());
                }
                let value = if i.operand_count() > 0 {
                    Some(a(self, 0)?)
                } else {
                    None
                };
                self.emit(Inst::Ret { value });
            }
            LLVMExtractValue | LLVMInsertValue => {
                let agg = i.operand(0).ty();
                let indices = i.indices();
                let (Some(_), &[k]) = (pair(agg), &indices[..]) else {
                    return Err(format!(
                        "the {} instruction on {}",
                        i.opcode_name(),
                        agg.print()
                    ));
                };
                let src = a(self, 0)?;
                if op == LLVMExtractValue {
                    self.emit(Inst::Move {
                        dst,
                        src: src + k as Reg,
                    });
                } else {
                    let v = a(self, 1)?;
                    self.emit(Inst::Move { dst, src });
                    self.emit(Inst::Move {
                        dst: dst + 1,
                        src: src + 1,
                    });
                    self.emit(Inst::Move {
                        dst: dst + k as Reg,
                        src: v,
                    });
                }
            }
            LLVMBr => {
                let from = Self::block_of(i);
                let succ = i.successors();
                if i.is_conditional() {
                    let c = i.condition();
                    let at = self.body.len();
                    let edge = self.branch_edge[&from];
                    if c.is_instruction() && c.opcode() == Some(LLVMICmp) && fused(c) {
                        let w = width(c.operand(0).ty())?;
                        let (x, y) = (self.operand(c.operand(0))?, self.operand(c.operand(1))?);
                        self.emit(Inst::CmpBranch {
                            p: int_pred(c.int_predicate()),
                            w,
                            a: x,
                            b: y,
                            then: 0,
                            els: 0,
                            edge,
                        });
                    } else {
                        let cond = self.operand(c)?;
                        self.emit(Inst::Branch {
                            cond,
                            then: 0,
                            els: 0,
                            edge,
                        });
                    }
                    self.branch_edges(at, from, [succ[0], succ[1]])?;
                } else if let Some(ret) = self.return_on_edge(from, succ[0])? {
                    self.emit(ret);
                } else {
                    let moves = self.edge_moves(from, succ[0])?;
                    self.body.extend(moves);
                    // Into the block laid out next: no jump needed
                    // (unless it is a loop's back-edge, which counts).
                    let back = self.back.contains(&(from, succ[0]));
                    if back || self.next_block != Some(succ[0]) {
                        let at = self.body.len();
                        self.emit(if back {
                            Inst::BackJump {
                                to: 0,
                                block: self.block_index[&succ[0]],
                            }
                        } else {
                            Inst::Jump { to: 0 }
                        });
                        self.fixes.push(Fix::Block {
                            at,
                            n: 0,
                            block: succ[0],
                        });
                    }
                }
            }
            LLVMSwitch => {
                let from = Self::block_of(i);
                let value = a(self, 0)?;
                let w = width(i.operand(0).ty())?;
                let succ = i.successors();
                let mut cases = Vec::new();
                for k in 1..succ.len() {
                    let c = i.operand(2 * k as u32);
                    let v = c
                        .const_int(w.bits())
                        .ok_or_else(|| format!("switch on {}", c.print()))?;
                    cases.push((v, 0));
                }
                let at = self.body.len();
                self.emit(Inst::Switch {
                    w,
                    value,
                    default: 0,
                    cases,
                });
                for (n, s) in succ.iter().enumerate() {
                    self.edge(at, n, from, *s)?;
                }
            }
            LLVMUnreachable => self.emit(Inst::Unreachable),
            LLVMPHI => {} // moves on the edges
            LLVMAdd | LLVMSub | LLVMMul | LLVMUDiv | LLVMSDiv | LLVMURem | LLVMSRem | LLVMShl
            | LLVMLShr | LLVMAShr | LLVMAnd | LLVMOr | LLVMXor => {
                let w = width(i.ty())?;
                let (x, y) = (a(self, 0)?, a(self, 1)?);
                let op = match op {
                    LLVMAdd => bc::BinOp::Add,
                    LLVMSub => bc::BinOp::Sub,
                    LLVMMul => bc::BinOp::Mul,
                    LLVMUDiv => bc::BinOp::UDiv,
                    LLVMSDiv => bc::BinOp::SDiv,
                    LLVMURem => bc::BinOp::URem,
                    LLVMSRem => bc::BinOp::SRem,
                    LLVMShl => bc::BinOp::Shl,
                    LLVMLShr => bc::BinOp::LShr,
                    LLVMAShr => bc::BinOp::AShr,
                    LLVMAnd => bc::BinOp::And,
                    LLVMOr => bc::BinOp::Or,
                    _ => bc::BinOp::Xor,
                };
                self.emit(Inst::Bin {
                    op,
                    w,
                    dst,
                    a: x,
                    b: y,
                });
            }
            LLVMFAdd | LLVMFSub | LLVMFMul | LLVMFDiv | LLVMFRem => {
                let f = float(i.ty())?;
                let (x, y) = (a(self, 0)?, a(self, 1)?);
                let inst = match (f, op) {
                    (Float::F64, LLVMFAdd) => Inst::F64Add { dst, a: x, b: y },
                    (Float::F64, LLVMFSub) => Inst::F64Sub { dst, a: x, b: y },
                    (Float::F64, LLVMFMul) => Inst::F64Mul { dst, a: x, b: y },
                    (Float::F64, LLVMFDiv) => Inst::F64Div { dst, a: x, b: y },
                    _ => Inst::FBin {
                        op: match op {
                            LLVMFAdd => bc::FBinOp::Add,
                            LLVMFSub => bc::FBinOp::Sub,
                            LLVMFMul => bc::FBinOp::Mul,
                            LLVMFDiv => bc::FBinOp::Div,
                            _ => bc::FBinOp::Rem,
                        },
                        f,
                        dst,
                        a: x,
                        b: y,
                    },
                };
                self.emit(inst);
            }
            LLVMFNeg => {
                let f = float(i.ty())?;
                let x = a(self, 0)?;
                self.emit(Inst::FUn {
                    op: bc::FUnOp::Neg,
                    f,
                    dst,
                    a: x,
                });
            }
            LLVMICmp if fused(i) => {} // with the branch after it
            LLVMICmp => {
                let w = width(i.operand(0).ty())?;
                let (x, y) = (a(self, 0)?, a(self, 1)?);
                self.emit(Inst::ICmp {
                    p: int_pred(i.int_predicate()),
                    w,
                    dst,
                    a: x,
                    b: y,
                });
            }
            LLVMFCmp => {
                let f = float(i.operand(0).ty())?;
                let (x, y) = (a(self, 0)?, a(self, 1)?);
                self.emit(Inst::FCmp {
                    p: real_pred(i.real_predicate()),
                    f,
                    dst,
                    a: x,
                    b: y,
                });
            }
            LLVMTrunc | LLVMPtrToInt => {
                let x = a(self, 0)?;
                let to = width(i.ty())?;
                self.emit(Inst::Cast {
                    op: bc::Cast::Trunc(to),
                    dst,
                    a: x,
                });
            }
            LLVMZExt | LLVMIntToPtr | LLVMBitCast | LLVMAddrSpaceCast | LLVMFreeze => {
                // Registers hold narrow integers zero-extended and floats
                // as their bits: these change nothing.
                let from = i.operand(0).ty();
                let to = i.ty();
                for t in [from, to] {
                    if !matches!(
                        t.kind(),
                        Kind::Int(_) | Kind::Pointer | Kind::Float | Kind::Double
                    ) {
                        return Err(format!("{} of {}", i.opcode_name(), t.print()));
                    }
                }
                width(from).or_else(|_| float(from).map(|_| Width::W64))?;
                let x = a(self, 0)?;
                if x != dst {
                    self.emit(Inst::Move { dst, src: x });
                }
            }
            LLVMSExt => {
                let x = a(self, 0)?;
                let (from, to) = (width(i.operand(0).ty())?, width(i.ty())?);
                self.emit(Inst::Cast {
                    op: bc::Cast::SExt { from, to },
                    dst,
                    a: x,
                });
            }
            LLVMFPToSI | LLVMFPToUI => {
                let x = a(self, 0)?;
                let (from, to) = (float(i.operand(0).ty())?, width(i.ty())?);
                let op = if op == LLVMFPToSI {
                    bc::Cast::FpToSi { from, to }
                } else {
                    bc::Cast::FpToUi { from, to }
                };
                self.emit(Inst::Cast { op, dst, a: x });
            }
            LLVMSIToFP | LLVMUIToFP => {
                let x = a(self, 0)?;
                let (from, to) = (width(i.operand(0).ty())?, float(i.ty())?);
                let op = if op == LLVMSIToFP {
                    bc::Cast::SiToFp { from, to }
                } else {
                    bc::Cast::UiToFp { from, to }
                };
                self.emit(Inst::Cast { op, dst, a: x });
            }
            LLVMFPTrunc | LLVMFPExt => {
                let (from, to) = (float(i.operand(0).ty())?, float(i.ty())?);
                let x = a(self, 0)?;
                let op = match (from, to) {
                    (Float::F64, Float::F32) => bc::Cast::FpTrunc,
                    (Float::F32, Float::F64) => bc::Cast::FpExt,
                    _ => {
                        self.emit(Inst::Move { dst, src: x });
                        return Ok(());
                    }
                };
                self.emit(Inst::Cast { op, dst, a: x });
            }
            LLVMSelect => {
                let (c, x, y) = (a(self, 0)?, a(self, 1)?, a(self, 2)?);
                self.emit(Inst::Select {
                    dst,
                    cond: c,
                    a: x,
                    b: y,
                });
            }
            LLVMLoad if pair(i.ty()).is_some() => {
                let addr = a(self, 0)?;
                self.pair_access(i.ty(), addr, dst, true)?;
            }
            LLVMStore if pair(i.operand(0).ty()).is_some() => {
                let (src, addr) = (a(self, 0)?, a(self, 1)?);
                self.pair_access(i.operand(0).ty(), addr, src, false)?;
            }
            LLVMLoad => {
                let size = size(i.ty(), self.ir)?;
                let addr = a(self, 0)?;
                self.emit(Inst::Load { size, dst, addr });
            }
            LLVMStore => {
                let size = size(i.operand(0).ty(), self.ir)?;
                let (src, addr) = (a(self, 0)?, a(self, 1)?);
                self.emit(Inst::Store { size, addr, src });
            }
            LLVMAlloca => {
                let t = i.allocated_type();
                let elem = u32::try_from(self.ir.size_of(t))
                    .map_err(|_| "an alloca larger than 4 GiB".to_string())?;
                let align = i.alignment().max(1);
                let count = i.operand(0);
                if count.is_constant_int() {
                    let n = count.const_int(64).unwrap_or(u64::MAX);
                    let size = (elem as u64)
                        .checked_mul(n)
                        .and_then(|s| u32::try_from(s).ok())
                        .ok_or("an alloca larger than 4 GiB")?;
                    self.emit(Inst::Alloca { dst, size, align });
                } else {
                    let count = a(self, 0)?;
                    self.emit(Inst::AllocaDyn {
                        dst,
                        count,
                        elem,
                        align,
                    });
                }
            }
            LLVMGetElementPtr => self.gep(i, dst)?,
            LLVMCall => self.call(i, dst)?,
            LLVMVAArg => {
                let list = a(self, 0)?;
                let class = class(i.ty(), false)?;
                self.emit(Inst::VaArg { dst, list, class });
            }
            _ => return Err(format!("the {} instruction", i.opcode_name())),
        }
        Ok(())
    }

    fn gep(&mut self, i: Value, dst: Reg) -> Result<(), Unsupported> {
        let mut cur = self.operand(i.operand(0))?;
        let mut ty = i.gep_source_type();
        let mut started = false;
        for k in 1..i.operand_count() {
            let idx = i.operand(k);
            let scale = if k == 1 {
                self.ir.size_of(ty)
            } else {
                match ty.kind() {
                    Kind::Struct => {
                        let field = idx.const_int(32).ok_or("a struct index")? as u32;
                        let off = self.ir.field_offset(ty, field);
                        ty = ty.field(field);
                        if off != 0 {
                            let out = self.fresh()?;
                            self.emit(Inst::AddImm {
                                dst: out,
                                a: cur,
                                imm: off as i64,
                            });
                            cur = out;
                            started = true;
                        }
                        continue;
                    }
                    Kind::Array => {
                        ty = ty.element();
                        self.ir.size_of(ty)
                    }
                    _ => return Err(format!("getelementptr into {}", ty.print())),
                }
            };
            let w = width(idx.ty())?;
            let out = self.fresh()?;
            if idx.is_constant_int() {
                let v = bytecode::interp::sext(w, idx.const_int(w.bits()).unwrap_or(0));
                if v == 0 {
                    continue;
                }
                self.emit(Inst::AddImm {
                    dst: out,
                    a: cur,
                    imm: v.wrapping_mul(scale as i64),
                });
            } else {
                let mut index = self.operand(idx)?;
                if w != Width::W64 {
                    let wide = self.fresh()?;
                    self.emit(Inst::Cast {
                        op: bc::Cast::SExt {
                            from: w,
                            to: Width::W64,
                        },
                        dst: wide,
                        a: index,
                    });
                    index = wide;
                }
                self.emit(Inst::Offset {
                    dst: out,
                    base: cur,
                    index,
                    scale: scale as i64,
                });
            }
            cur = out;
            started = true;
        }
        // The last step writes the result register itself.
        let last = if self.in_prologue {
            self.prologue.last_mut()
        } else {
            self.body.last_mut()
        };
        match last {
            Some(Inst::AddImm { dst: d, .. } | Inst::Offset { dst: d, .. })
                if started && *d == cur =>
            {
                *d = dst
            }
            _ => self.emit(Inst::Move { dst, src: cur }),
        }
        Ok(())
    }
}
