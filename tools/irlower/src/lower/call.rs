//! Calls: to program functions, the C library and function pointers,
//! `setjmp` (returns twice), and the LLVM intrinsics clang emits.

use super::*;

impl FnLower<'_> {
    pub(super) fn call(&mut self, i: Value, dst: Reg) -> Result<(), Unsupported> {
        let callee = i.called_value();
        if callee.is_inline_asm() {
            return Err("inline assembly".into());
        }
        let name = if callee.is_function() {
            callee.name()
        } else {
            String::new()
        };
        if let Some(intrinsic) = name.strip_prefix("llvm.") {
            return self.intrinsic(intrinsic, i, dst);
        }
        let fty = i.called_function_type();
        let fixed = fty.param_types().len();
        let mut args = Vec::new();
        for k in 0..i.arg_count() {
            let v = i.operand(k);
            let c = match i.byval_type(k) {
                Some(t) => memory_class(t, self.ir)?,
                None => class(v.ty(), i.has_param_attribute(k, "signext"))?,
            };
            args.push((self.operand(v)?, c));
        }
        let w64 = Class::Int {
            width: Width::W64,
            signed: false,
        };
        let (ret, ret2) = match (fty.return_type().kind(), pair(fty.return_type())) {
            (Kind::Void, _) => (None, None),
            (Kind::Int(128), _) => (Some((dst, w64)), Some((dst + 1, w64))),
            (_, Some((t0, t1))) => (
                Some((dst, class(t0, false)?)),
                Some((dst + 1, class(t1, false)?)),
            ),
            _ => (Some((dst, class(fty.return_type(), false)?)), None),
        };
        let twice = ret2.is_none() && i.has_function_attribute("returns_twice")
            || (callee.is_function() && callee.has_function_attribute("returns_twice"));
        if twice {
            if args.len() > 2 || args.iter().any(|(_, c)| !matches!(c, Class::Int { .. })) {
                return Err("a returns-twice call with more than two integer arguments".into());
            }
            let callee = if callee.is_function() && self.names.function(&name).is_none() {
                Callee::Symbol(self.names.external(&name))
            } else if callee.is_function() {
                return Err("a program function that returns twice".into());
            } else {
                Callee::Indirect(self.operand(callee)?, self.call_site[&i])
            };
            self.emit(Inst::CallReturnsTwice {
                callee,
                args: args.into_iter().map(|(r, _)| r).collect(),
                ret,
            });
            return Ok(());
        }
        let callee = if callee.is_function() {
            match self.names.function(&name) {
                Some(f) => Callee::Function(f),
                None => Callee::Symbol(self.names.external(&name)),
            }
        } else {
            Callee::Indirect(self.operand(callee)?, self.call_site[&i])
        };
        self.emit(Inst::Call {
            callee,
            args,
            fixed: fixed as u16,
            ret,
            ret2,
        });
        Ok(())
    }

    pub(super) fn intrinsic(&mut self, name: &str, i: Value, dst: Reg) -> Result<(), Unsupported> {
        let family = name.split('.').next().unwrap_or("");
        let a = |s: &mut Self, k: u32| s.operand(i.operand(k));
        let fun = |op| -> Option<bc::FUnOp> { Some(op) };
        let unary = match family {
            "fabs" => fun(bc::FUnOp::Abs),
            "sqrt" => fun(bc::FUnOp::Sqrt),
            "floor" => fun(bc::FUnOp::Floor),
            "ceil" => fun(bc::FUnOp::Ceil),
            "trunc" => fun(bc::FUnOp::Trunc),
            "round" => fun(bc::FUnOp::Round),
            "roundeven" | "rint" | "nearbyint" => fun(bc::FUnOp::RoundEven),
            _ => None,
        };
        if let Some(op) = unary {
            let f = float(i.ty())?;
            let x = a(self, 0)?;
            self.emit(Inst::FUn { op, f, dst, a: x });
            return Ok(());
        }
        match family {
            "memcpy" | "memmove" => {
                let (d, s, n) = (a(self, 0)?, a(self, 1)?, a(self, 2)?);
                self.emit(Inst::MemCopy {
                    dst: d,
                    src: s,
                    len: n,
                });
            }
            "memset" => {
                let (d, b, n) = (a(self, 0)?, a(self, 1)?, a(self, 2)?);
                self.emit(Inst::MemSet {
                    dst: d,
                    byte: b,
                    len: n,
                });
            }
            "fmuladd" => {
                let f = float(i.ty())?;
                let (x, y, z) = (a(self, 0)?, a(self, 1)?, a(self, 2)?);
                self.emit(Inst::FMulAdd {
                    f,
                    dst,
                    a: x,
                    b: y,
                    c: z,
                });
            }
            "copysign" | "minnum" | "maxnum" => {
                let f = float(i.ty())?;
                let (x, y) = (a(self, 0)?, a(self, 1)?);
                let op = match family {
                    "copysign" => bc::FBinOp::CopySign,
                    "minnum" => bc::FBinOp::MinNum,
                    _ => bc::FBinOp::MaxNum,
                };
                self.emit(Inst::FBin {
                    op,
                    f,
                    dst,
                    a: x,
                    b: y,
                });
            }
            "smin" | "smax" | "umin" | "umax" => {
                let w = width(i.ty())?;
                let (x, y) = (a(self, 0)?, a(self, 1)?);
                let op = match family {
                    "smin" => bc::BinOp::SMin,
                    "smax" => bc::BinOp::SMax,
                    "umin" => bc::BinOp::UMin,
                    _ => bc::BinOp::UMax,
                };
                self.emit(Inst::Bin {
                    op,
                    w,
                    dst,
                    a: x,
                    b: y,
                });
            }
            "sadd" | "uadd" | "ssub" | "usub" | "smul" | "umul"
                if name.contains(".with.overflow.") =>
            {
                let w = width(i.operand(0).ty())?;
                let (x, y) = (a(self, 0)?, a(self, 1)?);
                let op = match &family[1..] {
                    "add" => bc::BinOp::Add,
                    "sub" => bc::BinOp::Sub,
                    _ => bc::BinOp::Mul,
                };
                self.emit(Inst::Overflow {
                    op,
                    signed: family.starts_with('s'),
                    w,
                    dst,
                    a: x,
                    b: y,
                });
            }
            "ptrmask" => {
                let (p, m) = (a(self, 0)?, a(self, 1)?);
                let w = width(i.operand(1).ty())?;
                self.emit(Inst::Bin {
                    op: bc::BinOp::And,
                    w,
                    dst,
                    a: p,
                    b: m,
                });
            }
            "fshl" | "fshr" => {
                let w = width(i.ty())?;
                let (x, y, s) = (a(self, 0)?, a(self, 1)?, a(self, 2)?);
                self.funnel_shift(family == "fshl", w, dst, [x, y, s])?;
            }
            "abs" => {
                let w = width(i.ty())?;
                let x = a(self, 0)?;
                self.emit(Inst::Abs { w, dst, a: x });
            }
            "stacksave" => self.emit(Inst::StackSave { dst }),
            "stackrestore" => {
                let x = a(self, 0)?;
                self.emit(Inst::StackRestore { src: x });
            }
            "va_start" => {
                let x = a(self, 0)?;
                self.emit(Inst::VaStart { list: x });
            }
            "va_copy" => {
                let (d, s) = (a(self, 0)?, a(self, 1)?);
                self.emit(Inst::VaCopy { dst: d, src: s });
            }
            "va_end" | "lifetime" | "dbg" | "assume" | "experimental" | "donothing" => {}
            "expect" => {
                let x = a(self, 0)?;
                self.emit(Inst::Move { dst, src: x });
            }
            "trap" | "debugtrap" | "ubsantrap" => self.emit(Inst::Unreachable),
            _ => return Err(format!("the intrinsic llvm.{name}")),
        }
        Ok(())
    }
    /// `llvm.fshl`/`fshr` (rotates are the common case) from shifts: the
    /// shift taken modulo the width `w`, and the other half shifted in
    /// two steps (`(y >> 1) >> (w - 1 - s)`), so that a shift by 0 gives
    /// the unshifted operand instead of a shift by the full width.
    fn funnel_shift(
        &mut self,
        left: bool,
        w: Width,
        dst: Reg,
        [x, y, s]: [Reg; 3],
    ) -> Result<(), Unsupported> {
        use bc::BinOp::*;
        let top = self.constant(u64::from(w.bits() - 1))?;
        let one = self.constant(1)?;
        let [amount, near, half, rest, far] = [(); 5].map(|()| self.fresh());
        let (amount, near, half, rest, far) = (amount?, near?, half?, rest?, far?);
        // fshl: x << s | y >> (w - s); fshr: x << (w - s) | y >> s.
        let (near_op, far_op, near_src, far_src) = if left {
            (Shl, LShr, x, y)
        } else {
            (LShr, Shl, y, x)
        };
        for (op, d, a, b) in [
            (And, amount, s, top),
            (near_op, near, near_src, amount),
            (far_op, half, far_src, one),
            (Sub, rest, top, amount),
            (far_op, far, half, rest),
            (Or, dst, near, far),
        ] {
            self.emit(Inst::Bin {
                op,
                w,
                dst: d,
                a,
                b,
            });
        }
        Ok(())
    }
}
