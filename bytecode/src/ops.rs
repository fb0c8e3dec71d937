//! The operations themselves: integer arithmetic at every width (and 128
//! bits), floating point, comparisons and conversions, as LLVM defines
//! them, on register values (narrow integers zero-extended, `float` in the
//! low 32 bits). The interpreter's loop (`interp`) dispatches here.

use crate::format::*;
use crate::interp::{Trap, f32_of, f64_of, from_f32, mask, sext};

#[inline(always)]
pub(crate) fn bin(op: BinOp, w: Width, a: u64, b: u64) -> Result<u64, Trap> {
    // Only what each operation needs: most are width-blind until the mask.
    let shift = || (mask(w, b) as u32) & (w.bits().max(8) - 1);
    let v = match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a << shift(),
        BinOp::LShr => mask(w, a) >> shift(),
        BinOp::AShr => (sext(w, a) >> shift()) as u64,
        BinOp::UDiv | BinOp::URem => {
            let (ua, ub) = (mask(w, a), mask(w, b));
            if ub == 0 {
                return Err(Trap::Divide);
            }
            if op == BinOp::UDiv { ua / ub } else { ua % ub }
        }
        BinOp::SDiv | BinOp::SRem => {
            let (sa, sb) = (sext(w, a), sext(w, b));
            if sb == 0 || (sb == -1 && sa == sext(w, 1u64 << (w.bits() - 1))) {
                return Err(Trap::Divide);
            }
            (if op == BinOp::SDiv { sa / sb } else { sa % sb }) as u64
        }
        BinOp::SMin => sext(w, a).min(sext(w, b)) as u64,
        BinOp::SMax => sext(w, a).max(sext(w, b)) as u64,
        BinOp::UMin => mask(w, a).min(mask(w, b)),
        BinOp::UMax => mask(w, a).max(mask(w, b)),
    };
    Ok(mask(w, v))
}

/// `a op b` at width `w` wrapped, and whether the exact result does not
/// fit (`llvm.*.with.overflow`). Exact in 128 bits: operands of at most
/// 64 bits cannot overflow that (an unsigned product is done unsigned).
pub(crate) fn overflow(op: BinOp, signed: bool, w: Width, a: u64, b: u64) -> (u64, bool) {
    let bits = w.bits();
    if signed {
        let (x, y) = (sext(w, a) as i128, sext(w, b) as i128);
        let exact = match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            _ => x * y,
        };
        let fits = exact >= -(1i128 << (bits - 1)) && exact < (1i128 << (bits - 1));
        (mask(w, exact as u64), !fits)
    } else {
        let (x, y) = (mask(w, a) as u128, mask(w, b) as u128);
        let (exact, borrow) = match op {
            BinOp::Add => (x + y, false),
            BinOp::Sub => (x.wrapping_sub(y), x < y),
            _ => (x * y, false),
        };
        (mask(w, exact as u64), borrow || exact >> bits != 0)
    }
}

#[cfg(test)]
pub fn overflow_for_tests(op: BinOp, signed: bool, w: Width, a: u64, b: u64) -> (u64, bool) {
    overflow(op, signed, w, a, b)
}

pub(crate) fn wide(lo: u64, hi: u64) -> u128 {
    (hi as u128) << 64 | lo as u128
}

pub(crate) fn bin128(op: BinOp, a: u128, b: u128) -> Result<u128, Trap> {
    let (sa, sb) = (a as i128, b as i128);
    let shift = (b as u32) & 127;
    Ok(match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a << shift,
        BinOp::LShr => a >> shift,
        BinOp::AShr => (sa >> shift) as u128,
        BinOp::UDiv | BinOp::URem if b == 0 => return Err(Trap::Divide),
        BinOp::UDiv => a / b,
        BinOp::URem => a % b,
        BinOp::SDiv | BinOp::SRem if sb == 0 || (sb == -1 && sa == i128::MIN) => {
            return Err(Trap::Divide);
        }
        BinOp::SDiv => (sa / sb) as u128,
        BinOp::SRem => (sa % sb) as u128,
        BinOp::SMin => sa.min(sb) as u128,
        BinOp::SMax => sa.max(sb) as u128,
        BinOp::UMin => a.min(b),
        BinOp::UMax => a.max(b),
    })
}

pub(crate) fn icmp128(p: IntPred, a: u128, b: u128) -> bool {
    compare(p, (a, b), (a as i128, b as i128))
}

/// `p` on the same two values read unsigned (`u`) and signed (`s`).
#[inline(always)]
fn compare<U: Ord, S: Ord>(p: IntPred, u: (U, U), s: (S, S)) -> bool {
    match p {
        IntPred::Eq => u.0 == u.1,
        IntPred::Ne => u.0 != u.1,
        IntPred::Ugt => u.0 > u.1,
        IntPred::Uge => u.0 >= u.1,
        IntPred::Ult => u.0 < u.1,
        IntPred::Ule => u.0 <= u.1,
        IntPred::Sgt => s.0 > s.1,
        IntPred::Sge => s.0 >= s.1,
        IntPred::Slt => s.0 < s.1,
        IntPred::Sle => s.0 <= s.1,
    }
}

/// `llvm.fmuladd` (C's `a * b + c` at -O0 with contraction allowed):
/// the product rounded, then the sum (LLVM lets it be either that or one
/// fused operation); every form of the interpreter computes it here.
#[inline(always)]
pub(crate) fn fmuladd(f: Float, a: u64, b: u64, c: u64) -> u64 {
    match f {
        Float::F32 => from_f32(f32_of(a) * f32_of(b) + f32_of(c)),
        Float::F64 => (f64_of(a) * f64_of(b) + f64_of(c)).to_bits(),
    }
}

#[inline(always)]
pub(crate) fn fbin(op: FBinOp, f: Float, a: u64, b: u64) -> u64 {
    macro_rules! apply {
        ($x:expr, $y:expr) => {
            match op {
                FBinOp::Add => $x + $y,
                FBinOp::Sub => $x - $y,
                FBinOp::Mul => $x * $y,
                FBinOp::Div => $x / $y,
                FBinOp::Rem => $x % $y,
                FBinOp::MinNum => $x.min($y),
                FBinOp::MaxNum => $x.max($y),
                FBinOp::CopySign => $x.copysign($y),
            }
        };
    }
    match f {
        Float::F32 => from_f32(apply!(f32_of(a), f32_of(b))),
        Float::F64 => apply!(f64_of(a), f64_of(b)).to_bits(),
    }
}

pub(crate) fn fun(op: FUnOp, f: Float, a: u64) -> u64 {
    macro_rules! apply {
        ($x:expr) => {
            match op {
                FUnOp::Neg => -$x,
                FUnOp::Abs => $x.abs(),
                FUnOp::Sqrt => $x.sqrt(),
                FUnOp::Floor => $x.floor(),
                FUnOp::Ceil => $x.ceil(),
                FUnOp::Trunc => $x.trunc(),
                FUnOp::Round => $x.round(),
                FUnOp::RoundEven => $x.round_ties_even(),
            }
        };
    }
    match f {
        Float::F32 => from_f32(apply!(f32_of(a))),
        Float::F64 => apply!(f64_of(a)).to_bits(),
    }
}

#[inline(always)]
pub(crate) fn icmp(p: IntPred, w: Width, a: u64, b: u64) -> bool {
    compare(p, (mask(w, a), mask(w, b)), (sext(w, a), sext(w, b)))
}

#[inline(always)]
pub(crate) fn fcmp(p: FloatPred, f: Float, a: u64, b: u64) -> bool {
    let (x, y) = match f {
        Float::F32 => (f32_of(a) as f64, f32_of(b) as f64),
        Float::F64 => (f64_of(a), f64_of(b)),
    };
    let uno = x.is_nan() || y.is_nan();
    match p {
        FloatPred::False => false,
        FloatPred::True => true,
        FloatPred::Ord => !uno,
        FloatPred::Uno => uno,
        FloatPred::Oeq => !uno && x == y,
        FloatPred::Ogt => !uno && x > y,
        FloatPred::Oge => !uno && x >= y,
        FloatPred::Olt => !uno && x < y,
        FloatPred::Ole => !uno && x <= y,
        FloatPred::One => !uno && x != y,
        FloatPred::Ueq => uno || x == y,
        FloatPred::Ugt => uno || x > y,
        FloatPred::Uge => uno || x >= y,
        FloatPred::Ult => uno || x < y,
        FloatPred::Ule => uno || x <= y,
        FloatPred::Une => uno || x != y,
    }
}

pub(crate) fn cast(op: Cast, a: u64) -> u64 {
    match op {
        Cast::Trunc(w) => mask(w, a),
        Cast::SExt { from, to } => mask(to, sext(from, a) as u64),
        Cast::FpToSi { from, to } => {
            let x = match from {
                Float::F32 => f32_of(a) as f64,
                Float::F64 => f64_of(a),
            };
            mask(to, x as i64 as u64)
        }
        Cast::FpToUi { from, to } => {
            let x = match from {
                Float::F32 => f32_of(a) as f64,
                Float::F64 => f64_of(a),
            };
            mask(to, if x < 0.0 { x as i64 as u64 } else { x as u64 })
        }
        Cast::SiToFp { from, to } => match to {
            Float::F32 => from_f32(sext(from, a) as f32),
            Float::F64 => (sext(from, a) as f64).to_bits(),
        },
        Cast::UiToFp { from, to } => match to {
            Float::F32 => from_f32(mask(from, a) as f32),
            Float::F64 => (mask(from, a) as f64).to_bits(),
        },
        Cast::FpTrunc => from_f32(f64_of(a) as f32),
        Cast::FpExt => (f32_of(a) as f64).to_bits(),
    }
}
