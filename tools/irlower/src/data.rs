//! A global's initial image: its initializer's bytes, and the addresses
//! in it (of other globals, functions, C library objects) as relocations
//! for whoever places the globals.

use crate::Names;
use crate::llvm::{Ir, Kind, Opcode, Value};
use bytecode::format::{Global, Reloc, RelocTarget};

pub fn image(ir: &Ir, names: &mut Names, g: Value) -> Result<Global, String> {
    let ty = g.global_value_type();
    let size = ir.size_of(ty);
    let mut init = vec![0u8; size as usize];
    let mut relocs = Vec::new();
    if let Some(c) = g.initializer() {
        write(ir, names, c, 0, &mut init, &mut relocs)?;
    }
    // Trailing zeros need not be stored.
    let used = init.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    init.truncate(used);
    Ok(Global {
        name: g.name(),
        size,
        align: g.alignment().max(ir.align_of(ty)).max(1),
        init,
        relocs,
    })
}

fn write(
    ir: &Ir,
    names: &mut Names,
    c: Value,
    at: u64,
    out: &mut [u8],
    relocs: &mut Vec<Reloc>,
) -> Result<(), String> {
    let ty = c.ty();
    let mut put = |bytes: &[u8]| {
        let at = at as usize;
        out[at..at + bytes.len()].copy_from_slice(bytes);
    };
    if c.is_zero_like() {
        return Ok(());
    }
    if c.is_constant_int() {
        let Kind::Int(bits) = ty.kind() else {
            unreachable!()
        };
        let bytes = match c.const_int(bits) {
            Some(v) => v.to_le_bytes().to_vec(),
            // Wider than the C API reads: from the printed form.
            None => printed_int(&c.print())
                .ok_or_else(|| format!("the initializer {}", c.print()))?
                .to_le_bytes()
                .to_vec(),
        };
        put(&bytes[..ir.size_of(ty).min(bytes.len() as u64) as usize]);
        return Ok(());
    }
    if c.is_constant_fp() {
        match ty.kind() {
            Kind::Float => put(&(c.const_real() as f32).to_le_bytes()),
            Kind::Double => put(&c.const_real().to_le_bytes()),
            // `x86_fp80 0xK...` (ten bytes): from the printed form.
            _ => {
                let bits = printed_fp80(&c.print())
                    .ok_or_else(|| format!("the initializer {}", c.print()))?;
                put(&bits.to_le_bytes()[..10]);
            }
        }
        return Ok(());
    }
    if c.is_constant_data_sequential() || c.is_constant_aggregate() {
        match ty.kind() {
            Kind::Array => {
                let step = ir.size_of(ty.element());
                for i in 0..ty.array_len() {
                    let e = c.element(i as u32).ok_or("an array element")?;
                    write(ir, names, e, at + i * step, out, relocs)?;
                }
            }
            Kind::Struct => {
                for i in 0..ty.field_count() {
                    let e = c.element(i).ok_or("a struct field")?;
                    write(ir, names, e, at + ir.field_offset(ty, i), out, relocs)?;
                }
            }
            _ => return Err(format!("an initializer of type {}", ty.print())),
        }
        return Ok(());
    }
    let (target, addend) = address(ir, names, c)?;
    relocs.push(Reloc {
        offset: at,
        target,
        addend,
    });
    Ok(())
}

/// What a constant address points at, and how far past it.
fn address(ir: &Ir, names: &mut Names, c: Value) -> Result<(RelocTarget, i64), String> {
    if c.is_global_variable() {
        return Ok((names.global_target(&c), 0));
    }
    if c.is_function() {
        return Ok((
            match names.function(&c.name()) {
                Some(f) => RelocTarget::Function(f),
                None => RelocTarget::Symbol(names.external(&c.name())),
            },
            0,
        ));
    }
    match c.opcode() {
        Some(
            Opcode::LLVMBitCast
            | Opcode::LLVMAddrSpaceCast
            | Opcode::LLVMPtrToInt
            | Opcode::LLVMIntToPtr,
        ) => address(ir, names, c.operand(0)),
        Some(Opcode::LLVMGetElementPtr) => {
            let (target, base) = address(ir, names, c.operand(0))?;
            let mut ty = c.gep_source_type();
            let mut off = 0i64;
            for k in 1..c.operand_count() {
                let idx = c.operand(k);
                let Kind::Int(bits) = idx.ty().kind() else {
                    return Err("a constant address with a vector index".into());
                };
                let raw = idx.const_int(bits).ok_or("a constant address index")?;
                let v = bytecode::interp::sext(crate::lower::width(idx.ty())?, raw);
                if k == 1 {
                    off += v * ir.size_of(ty) as i64;
                    continue;
                }
                match ty.kind() {
                    Kind::Struct => {
                        off += ir.field_offset(ty, v as u32) as i64;
                        ty = ty.field(v as u32);
                    }
                    Kind::Array => {
                        ty = ty.element();
                        off += v * ir.size_of(ty) as i64;
                    }
                    _ => return Err("a constant address into a vector".into()),
                }
            }
            Ok((target, base + off))
        }
        _ => Err(format!("the initializer {}", c.print())),
    }
}

/// `i128 -5` -> -5.
pub fn printed_int(text: &str) -> Option<i128> {
    text.split_whitespace().last()?.parse().ok()
}

/// `x86_fp80 0xK4000C000000000000000` -> its 80 bits.
fn printed_fp80(text: &str) -> Option<u128> {
    let hex = text.split("0xK").nth(1)?;
    let hex: String = hex.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    (hex.len() == 20).then(|| u128::from_str_radix(&hex, 16).ok())?
}

#[cfg(test)]
mod tests {
    #[test]
    fn wide_constants_are_read_from_their_printed_form() {
        assert_eq!(
            super::printed_int("i128 -170141183460469231731687303715884105728"),
            Some(i128::MIN)
        );
        // 2.5L: sign 0, exponent 0x4000, mantissa 0xA000000000000000.
        assert_eq!(
            super::printed_fp80("x86_fp80 0xK4000A000000000000000"),
            Some(0x4000_A000_0000_0000_0000)
        );
        assert_eq!(super::printed_fp80("double 1.0"), None);
    }
}
