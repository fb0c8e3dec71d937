//! Values that take two registers: `__int128` (low half first) and
//! structs of two scalars (what clang returns in two registers).

use super::*;

impl FnLower<'_> {
    /// A 128-bit integer instruction (result or first operand `i128`).
    pub(super) fn wide(&mut self, i: Value, op: Opcode, dst: Reg) -> Result<(), Unsupported> {
        use Opcode::*;
        let a = |s: &mut Self, k: u32| s.operand(i.operand(k));
        let binop = match op {
            LLVMAdd => Some(bc::BinOp::Add),
            LLVMSub => Some(bc::BinOp::Sub),
            LLVMMul => Some(bc::BinOp::Mul),
            LLVMUDiv => Some(bc::BinOp::UDiv),
            LLVMSDiv => Some(bc::BinOp::SDiv),
            LLVMURem => Some(bc::BinOp::URem),
            LLVMSRem => Some(bc::BinOp::SRem),
            LLVMShl => Some(bc::BinOp::Shl),
            LLVMLShr => Some(bc::BinOp::LShr),
            LLVMAShr => Some(bc::BinOp::AShr),
            LLVMAnd => Some(bc::BinOp::And),
            LLVMOr => Some(bc::BinOp::Or),
            LLVMXor => Some(bc::BinOp::Xor),
            _ => None,
        };
        if let Some(op) = binop {
            let (x, y) = (a(self, 0)?, a(self, 1)?);
            self.emit(Inst::Wide {
                op,
                dst,
                a: x,
                b: y,
            });
            return Ok(());
        }
        let w64 = |s: &mut Self| s.fresh();
        match op {
            LLVMICmp => {
                let (x, y) = (a(self, 0)?, a(self, 1)?);
                self.emit(Inst::WideCmp {
                    p: int_pred(i.int_predicate()),
                    dst,
                    a: x,
                    b: y,
                });
            }
            LLVMZExt | LLVMSExt => {
                let from = width(i.operand(0).ty())?;
                let x = a(self, 0)?;
                self.emit(Inst::WideExt {
                    signed: op == LLVMSExt,
                    from,
                    dst,
                    a: x,
                });
            }
            LLVMTrunc => {
                let to = width(i.ty())?;
                let x = a(self, 0)?;
                self.emit(Inst::WideTrunc { to, dst, a: x });
            }
            LLVMSIToFP | LLVMUIToFP | LLVMFPToSI | LLVMFPToUI => {
                let to_float = matches!(op, LLVMSIToFP | LLVMUIToFP);
                let f = float(if to_float { i.ty() } else { i.operand(0).ty() })?;
                let x = a(self, 0)?;
                self.emit(Inst::WideFloat {
                    signed: matches!(op, LLVMSIToFP | LLVMFPToSI),
                    to_float,
                    f,
                    dst,
                    a: x,
                });
            }
            LLVMLoad | LLVMStore => {
                let (addr, r) = if op == LLVMLoad {
                    (a(self, 0)?, dst)
                } else {
                    (a(self, 1)?, a(self, 0)?)
                };
                for half in 0..2u16 {
                    let at = w64(self)?;
                    self.emit(Inst::AddImm {
                        dst: at,
                        a: addr,
                        imm: 8 * half as i64,
                    });
                    self.emit(if op == LLVMLoad {
                        Inst::Load {
                            size: Size::B8,
                            dst: r + half,
                            addr: at,
                        }
                    } else {
                        Inst::Store {
                            size: Size::B8,
                            addr: at,
                            src: r + half,
                        }
                    });
                }
            }
            LLVMSelect => {
                let (c, x, y) = (a(self, 0)?, a(self, 1)?, a(self, 2)?);
                for half in 0..2u16 {
                    self.emit(Inst::Select {
                        dst: dst + half,
                        cond: c,
                        a: x + half,
                        b: y + half,
                    });
                }
            }
            LLVMBitCast | LLVMFreeze => {
                let x = a(self, 0)?;
                self.emit(Inst::Move { dst, src: x });
                self.emit(Inst::Move {
                    dst: dst + 1,
                    src: x + 1,
                });
            }
            _ => return Err(format!("the {} instruction on i128", i.opcode_name())),
        }
        Ok(())
    }

    /// Loads (or stores) the two fields of pair type `t` at `addr` into
    /// (from) registers `r` and `r + 1`.
    pub(super) fn pair_access(
        &mut self,
        t: Type,
        addr: Reg,
        r: Reg,
        load: bool,
    ) -> Result<(), Unsupported> {
        let (t0, t1) = pair(t).expect("a pair");
        for (k, ft) in [t0, t1].into_iter().enumerate() {
            let size = size(ft, self.ir)?;
            let at = self.fresh()?;
            let off = self.ir.field_offset(t, k as u32) as i64;
            self.emit(Inst::AddImm {
                dst: at,
                a: addr,
                imm: off,
            });
            let reg = r + k as Reg;
            self.emit(if load {
                Inst::Load {
                    size,
                    dst: reg,
                    addr: at,
                }
            } else {
                Inst::Store {
                    size,
                    addr: at,
                    src: reg,
                }
            });
        }
        Ok(())
    }
}
