//! Where System V x86-64 puts a call's arguments: the first six integer
//! and pointer arguments in general registers, the first eight `float` and
//! `double` ones in XMM registers, the rest on the stack in order, one
//! eight-byte slot each; `al` tells a variadic callee how many XMM
//! registers carry arguments. The interpreter lays out calls to native
//! code this way, and reads calls into interpreted functions (from native
//! code, or variadic ones from itself) the same way.

use crate::format::{Class, Size, Width};

/// Argument registers and stack slots of one call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placed {
    pub gp: [u64; 6],
    pub xmm: [u64; 8],
    pub stack: alloc::vec::Vec<u64>,
    pub gp_used: usize,
    pub xmm_used: usize,
}

/// `value` as it travels in a register of class `class` (narrow signed
/// integers sign-extended to 32 bits, `signext`; others as they are).
pub fn widen(value: u64, class: Class) -> u64 {
    match class {
        Class::Int {
            width: w @ (Width::W1 | Width::W8 | Width::W16),
            signed: true,
        } => crate::interp::sext(w, value) as u32 as u64,
        _ => value,
    }
}

/// Places `args` as a caller does (a `Memory` argument's bytes are read
/// from its address into stack slots).
pub fn place(args: impl IntoIterator<Item = (u64, Class)>) -> Placed {
    let mut p = Placed::default();
    for (value, class) in args {
        let value = widen(value, class);
        match class {
            Class::Int { .. } if p.gp_used < 6 => {
                p.gp[p.gp_used] = value;
                p.gp_used += 1;
            }
            Class::F32 | Class::F64 if p.xmm_used < 8 => {
                p.xmm[p.xmm_used] = value;
                p.xmm_used += 1;
            }
            Class::Memory { size } => {
                let start = p.stack.len();
                p.stack.resize(start + class.slots(), 0);
                let bytes = size as u64;
                for (k, slot) in p.stack[start..].iter_mut().enumerate() {
                    let at = 8 * k as u64;
                    *slot = if at + 8 <= bytes {
                        crate::mem::load(value + at, Size::B8)
                    } else {
                        // The tail, a byte at a time: never past the struct.
                        (at..bytes).fold(0, |w, i| {
                            w | crate::mem::load(value + i, Size::B1) << (8 * (i - at))
                        })
                    };
                }
            }
            _ => p.stack.push(value),
        }
    }
    p
}

/// Reads a callee's parameters of `classes` from registers `gp`, `xmm` and
/// the stack slots from address `stack` on (a `Memory` parameter is the
/// address of its slots); returns them and how many of each kind of
/// register and stack slot they took (where a variadic callee's extra
/// arguments begin).
pub fn take(
    classes: &[Class],
    gp: &[u64; 6],
    xmm: &[u64; 8],
    stack: u64,
) -> (alloc::vec::Vec<u64>, usize, usize, usize) {
    let (mut g, mut x, mut s) = (0, 0, 0);
    let mut out = alloc::vec::Vec::with_capacity(classes.len());
    for &class in classes {
        let v = match class {
            Class::Int { .. } if g < 6 => {
                g += 1;
                gp[g - 1]
            }
            Class::F32 | Class::F64 if x < 8 => {
                x += 1;
                xmm[x - 1]
            }
            Class::Memory { .. } => {
                s += class.slots();
                stack + 8 * (s - class.slots()) as u64
            }
            _ => {
                s += 1;
                crate::mem::load(stack + 8 * (s - 1) as u64, Size::B8)
            }
        };
        out.push(crate::interp::canonical(v, class));
    }
    (out, g, x, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const I: Class = Class::Int {
        width: Width::W64,
        signed: false,
    };

    #[test]
    fn integers_fill_six_registers_floats_eight_then_the_stack() {
        let args = (0..8u64)
            .map(|i| (i, I))
            .chain((0..10u64).map(|i| (100 + i, Class::F64)));
        let p = place(args);
        assert_eq!(p.gp, [0, 1, 2, 3, 4, 5]);
        assert_eq!(p.xmm, [100, 101, 102, 103, 104, 105, 106, 107]);
        assert_eq!(
            p.stack,
            vec![6, 7, 108, 109],
            "stack slots keep argument order"
        );
        assert_eq!((p.gp_used, p.xmm_used), (6, 8));
    }

    #[test]
    fn narrow_signed_arguments_are_sign_extended() {
        let c = Class::Int {
            width: Width::W8,
            signed: true,
        };
        assert_eq!(place([(0xff, c)]).gp[0], 0xffff_ffff);
        let u = Class::Int {
            width: Width::W8,
            signed: false,
        };
        assert_eq!(place([(0xff, u)]).gp[0], 0xff);
    }

    #[test]
    fn a_callee_reads_what_a_caller_placed() {
        let classes = [I, Class::F64, I, I, I, I, I, I, Class::F32];
        let values = [
            1u64,
            2.5f64.to_bits(),
            3,
            4,
            5,
            6,
            7,
            8,
            1.5f32.to_bits() as u64,
        ];
        let p = place(values.iter().copied().zip(classes));
        let (got, g, x, s) = take(&classes, &p.gp, &p.xmm, p.stack.as_ptr() as u64);
        assert_eq!(got, values.to_vec());
        assert_eq!((g, x, s), (6, 2, 1), "seven integers: one on the stack");
    }
}
