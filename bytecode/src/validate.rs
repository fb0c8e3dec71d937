//! Loading a bytecode file: every check that makes it safe to interpret
//! (as safe as the program itself), before anything runs. A file that
//! fails any of them is refused with what failed; it is never partly run.

use crate::format::*;
use alloc::format;
use alloc::string::{String, ToString};

/// The largest frame object one `alloca` may ask for (a larger one is a
/// damaged file, not a program: the interpreter's stack is not that big).
pub const MAX_ALLOCA: u32 = 1 << 24;

/// Why a bytecode file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Truncated {
        len: usize,
        needed: usize,
    },
    BadMagic,
    Version {
        found: u16,
    },
    Checksum,
    /// Lowered from other IR than the program's.
    OtherIr,
    Decode(String),
    /// The functions differ from the program's function table.
    FunctionTable(String),
    /// Function `function` is malformed at instruction `at`.
    Malformed {
        function: String,
        at: usize,
        what: String,
    },
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Refusal::Truncated { len, needed } => {
                write!(f, "truncated: {len} bytes, the header says {needed}")
            }
            Refusal::BadMagic => write!(f, "not a bytecode file (bad magic)"),
            Refusal::Version { found } => write!(
                f,
                "format version {found}, this interpreter reads version {VERSION}"
            ),
            Refusal::Checksum => write!(f, "damaged: the payload checksum does not match"),
            Refusal::OtherIr => write!(
                f,
                "lowered from other IR than this program's (stale bytecode)"
            ),
            Refusal::Decode(e) => write!(f, "damaged: the module does not decode ({e})"),
            Refusal::FunctionTable(e) => write!(f, "does not match the program: {e}"),
            Refusal::Malformed { function, at, what } => {
                write!(
                    f,
                    "malformed function {function} at instruction {at}: {what}"
                )
            }
        }
    }
}

/// Checks and decodes `file`, which must have been lowered from `ir` and
/// hold exactly the functions of `table` (the program's function table),
/// in that order.
pub fn load(file: &[u8], ir: &[u8], table: &[String]) -> Result<Module, Refusal> {
    if file.len() < HEADER_BYTES {
        return Err(Refusal::Truncated {
            len: file.len(),
            needed: HEADER_BYTES,
        });
    }
    if file[0..4] != MAGIC {
        return Err(Refusal::BadMagic);
    }
    let word = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
    let version = u16::from_le_bytes([file[4], file[5]]);
    if version != VERSION {
        return Err(Refusal::Version { found: version });
    }
    let needed = HEADER_BYTES + word(8) as usize;
    if file.len() != needed {
        return Err(Refusal::Truncated {
            len: file.len(),
            needed,
        });
    }
    let payload = &file[HEADER_BYTES..];
    if crc32fast::hash(payload) != word(12) {
        return Err(Refusal::Checksum);
    }
    if u64::from_le_bytes(file[16..24].try_into().unwrap()) != ir_digest(ir) {
        return Err(Refusal::OtherIr);
    }
    let module: Module =
        postcard::from_bytes(payload).map_err(|e| Refusal::Decode(e.to_string()))?;
    check(&module, table)?;
    Ok(module)
}

/// The structural checks, on a decoded module.
pub fn check(module: &Module, table: &[String]) -> Result<(), Refusal> {
    if module.functions.len() != table.len() {
        return Err(Refusal::FunctionTable(format!(
            "{} functions, the program has {}",
            module.functions.len(),
            table.len()
        )));
    }
    for g in &module.globals {
        check_global(module, g)?;
    }
    for (f, name) in module.functions.iter().zip(table) {
        if &f.name != name {
            return Err(Refusal::FunctionTable(format!(
                "function {} where the program has {name}",
                f.name
            )));
        }
        if let Body::Code { regs, code } = &f.body {
            check_code(module, f, *regs, code)?;
            if f.osr.iter().any(|&r| r != NO_REGISTER && r >= *regs) {
                return Err(Refusal::Malformed {
                    function: f.name.clone(),
                    at: 0,
                    what: "its on-stack replacement map names a register it does not have".into(),
                });
            }
        }
    }
    Ok(())
}

/// The largest global the loader will place (larger is a damaged file).
pub const MAX_GLOBAL: u64 = 1 << 30;

fn check_global(module: &Module, g: &Global) -> Result<(), Refusal> {
    let bad = |what: String| Refusal::Malformed {
        function: format!("(global {})", g.name),
        at: 0,
        what,
    };
    if g.size > MAX_GLOBAL || g.init.len() as u64 > g.size {
        return Err(bad(format!(
            "{} bytes, {} initialized",
            g.size,
            g.init.len()
        )));
    }
    if !g.align.is_power_of_two() || g.align > 4096 {
        return Err(bad(format!("alignment {}", g.align)));
    }
    for r in &g.relocs {
        if r.offset.checked_add(8).is_none_or(|end| end > g.size) {
            return Err(bad(format!("address at {} outside it", r.offset)));
        }
        let in_range = match r.target {
            RelocTarget::Global(i) => (i as usize) < module.globals.len(),
            RelocTarget::Function(i) => (i as usize) < module.functions.len(),
            RelocTarget::Symbol(i) => (i as usize) < module.symbols.len(),
        };
        if !in_range {
            return Err(bad(format!("address of a missing {:?}", r.target)));
        }
    }
    Ok(())
}

/// The largest struct passed by value the interpreter copies.
pub const MAX_BYVAL: u32 = 1 << 20;

fn memory_class(c: Class) -> Result<(), String> {
    match c {
        Class::Memory { size } if size == 0 || size > MAX_BYVAL => {
            Err(format!("a struct of {size} bytes passed by value"))
        }
        _ => Ok(()),
    }
}

/// Checks that numbers `0..n` of `what` each come once (by pigeonhole,
/// with `n` of them each below `n`, every one does).
fn numbering<'b>(
    n: usize,
    what: &'static str,
    bad: &'b impl Fn(usize, String) -> Refusal,
) -> impl FnMut(usize, u32) -> Result<(), Refusal> + 'b {
    let mut seen = alloc::vec![false; n];
    move |at: usize, k: u32| match seen.get_mut(k as usize) {
        Some(s) if !*s => {
            *s = true;
            Ok(())
        }
        Some(_) => Err(bad(at, format!("{what} {k} twice"))),
        None => Err(bad(at, format!("{what} {k} of {n}"))),
    }
}

fn check_code(module: &Module, f: &Function, regs: u16, code: &[Inst]) -> Result<(), Refusal> {
    let bad = |at: usize, what: String| Refusal::Malformed {
        function: f.name.clone(),
        at,
        what,
    };
    if f.params.len() > regs as usize {
        return Err(bad(
            0,
            format!("{} parameters in {regs} registers", f.params.len()),
        ));
    }
    for c in &f.params {
        memory_class(*c).map_err(|e| bad(0, e))?;
    }
    if matches!(f.ret, Some(Class::Memory { .. })) || matches!(f.ret2, Some(Class::Memory { .. })) {
        return Err(bad(0, "a result of memory class".into()));
    }
    match code.last() {
        Some(last) if last.is_terminator() => {}
        _ => return Err(bad(code.len(), "the code can run off its end".into())),
    }
    let n = code.len();
    // Each conditional branch has its own edge number, 0..branches: the
    // profiler's counts and the JIT's weights are found by it.
    let mut seen_edge = numbering(f.branches(), "branch edge", &bad);
    let mut seen_site = numbering(f.indirect_calls(), "indirect call site", &bad);
    for (at, inst) in code.iter().enumerate() {
        let reg = |r: Reg| -> Result<(), Refusal> {
            if r < regs {
                Ok(())
            } else {
                Err(bad(at, format!("register {r} of {regs}")))
            }
        };
        let target = |t: Target| -> Result<(), Refusal> {
            if (t as usize) < n {
                Ok(())
            } else {
                Err(bad(at, format!("jump to {t} of {n} instructions")))
            }
        };
        match inst {
            Inst::VaArg {
                class: Class::Memory { .. },
                ..
            } => return Err(bad(at, "va_arg of a memory-class value".into())),
            Inst::Const { dst, .. } | Inst::StackSave { dst } => reg(*dst)?,
            Inst::Addr { dst, sym } => {
                reg(*dst)?;
                if *sym as usize >= module.symbols.len() {
                    return Err(bad(at, format!("symbol {sym} of {}", module.symbols.len())));
                }
            }
            Inst::FuncAddr { dst, func } => {
                reg(*dst)?;
                if *func as usize >= module.functions.len() {
                    return Err(bad(at, format!("function {func}")));
                }
            }
            Inst::Move { dst, src: a }
            | Inst::Abs { dst, a, .. }
            | Inst::FUn { dst, a, .. }
            | Inst::Cast { dst, a, .. }
            | Inst::AddImm { dst, a, .. }
            | Inst::Load { dst, addr: a, .. }
            | Inst::VaCopy { dst, src: a }
            | Inst::VaArg { dst, list: a, .. } => {
                reg(*dst)?;
                reg(*a)?;
            }
            Inst::Bin { dst, a, b, .. }
            | Inst::FBin { dst, a, b, .. }
            | Inst::F64Add { dst, a, b }
            | Inst::F64Sub { dst, a, b }
            | Inst::F64Mul { dst, a, b }
            | Inst::F64Div { dst, a, b }
            | Inst::ICmp { dst, a, b, .. }
            | Inst::FCmp { dst, a, b, .. }
            | Inst::Offset {
                dst,
                base: a,
                index: b,
                ..
            } => {
                reg(*dst)?;
                reg(*a)?;
                reg(*b)?;
            }
            Inst::FMulAdd { dst, a, b, c, .. }
            | Inst::Select {
                dst,
                cond: a,
                a: b,
                b: c,
            } => {
                for r in [dst, a, b, c] {
                    reg(*r)?;
                }
            }
            Inst::MemCopy {
                dst,
                src: a,
                len: b,
            }
            | Inst::MemSet {
                dst,
                byte: a,
                len: b,
            } => {
                for r in [dst, a, b] {
                    reg(*r)?;
                }
            }
            Inst::Wide { dst, a, b, .. } => {
                for r in [dst, a, b] {
                    reg(*r)?;
                    reg(r
                        .checked_add(1)
                        .ok_or_else(|| bad(at, "register pair past 65535".into()))?)?;
                }
            }
            Inst::Overflow { dst, a, b, .. } => {
                reg(*a)?;
                reg(*b)?;
                reg(*dst)?;
                reg(dst
                    .checked_add(1)
                    .ok_or_else(|| bad(at, "register pair past 65535".into()))?)?;
            }
            Inst::WideCmp { dst, a, b, .. } => {
                reg(*dst)?;
                for r in [a, b] {
                    reg(*r)?;
                    reg(r
                        .checked_add(1)
                        .ok_or_else(|| bad(at, "register pair past 65535".into()))?)?;
                }
            }
            Inst::WideExt {
                dst: pair, a: one, ..
            }
            | Inst::WideTrunc {
                dst: one, a: pair, ..
            } => {
                reg(*one)?;
                reg(*pair)?;
                reg(pair
                    .checked_add(1)
                    .ok_or_else(|| bad(at, "register pair past 65535".into()))?)?;
            }
            Inst::WideFloat {
                to_float, dst, a, ..
            } => {
                let (pair, one) = if *to_float { (a, dst) } else { (dst, a) };
                reg(*one)?;
                reg(*pair)?;
                reg(pair
                    .checked_add(1)
                    .ok_or_else(|| bad(at, "register pair past 65535".into()))?)?;
            }
            Inst::Store { addr, src, .. } => {
                reg(*addr)?;
                reg(*src)?;
            }
            Inst::Alloca { dst, size, align }
            | Inst::AllocaDyn {
                dst,
                elem: size,
                align,
                ..
            } => {
                reg(*dst)?;
                if *size > MAX_ALLOCA {
                    return Err(bad(at, format!("alloca of {size} bytes")));
                }
                if !align.is_power_of_two() || *align > 4096 {
                    return Err(bad(at, format!("alignment {align}")));
                }
                if let Inst::AllocaDyn { count, .. } = inst {
                    reg(*count)?;
                }
            }
            Inst::StackRestore { src } => reg(*src)?,
            Inst::Jump { to } | Inst::BackJump { to, .. } => target(*to)?,
            Inst::Branch {
                cond,
                then,
                els,
                edge,
            } => {
                reg(*cond)?;
                target(*then)?;
                target(*els)?;
                seen_edge(at, *edge)?;
            }
            Inst::CmpBranch {
                a,
                b,
                then,
                els,
                edge,
                ..
            } => {
                reg(*a)?;
                reg(*b)?;
                target(*then)?;
                target(*els)?;
                seen_edge(at, *edge)?;
            }
            Inst::Switch {
                value,
                default,
                cases,
                ..
            } => {
                reg(*value)?;
                target(*default)?;
                for (_, t) in cases {
                    target(*t)?;
                }
            }
            Inst::Call {
                callee,
                args,
                fixed,
                ret,
                ret2,
            } => {
                for (_, c) in args {
                    memory_class(*c).map_err(|e| bad(at, e))?;
                }
                if [ret, ret2]
                    .into_iter()
                    .flatten()
                    .any(|(_, c)| matches!(c, Class::Memory { .. }))
                {
                    return Err(bad(at, "a result of memory class".into()));
                }
                if ret2.is_some() && ret.is_none() {
                    return Err(bad(at, "a second result without a first".into()));
                }
                if let Some((r, _)) = ret2 {
                    reg(*r)?;
                }
                match callee {
                    Callee::Function(i) if *i as usize >= module.functions.len() => {
                        return Err(bad(at, format!("call of function {i}")));
                    }
                    Callee::Symbol(s) if *s as usize >= module.symbols.len() => {
                        return Err(bad(at, format!("call of symbol {s}")));
                    }
                    Callee::Indirect(r, site) => {
                        reg(*r)?;
                        seen_site(at, *site)?;
                    }
                    _ => {}
                }
                if *fixed as usize > args.len() {
                    return Err(bad(
                        at,
                        format!("{fixed} fixed of {} arguments", args.len()),
                    ));
                }
                for (r, _) in args {
                    reg(*r)?;
                }
                if let Some((r, _)) = ret {
                    reg(*r)?;
                }
            }
            Inst::CallReturnsTwice { callee, args, ret } => {
                match callee {
                    Callee::Function(_) => {
                        return Err(bad(at, "a program function that returns twice".into()));
                    }
                    Callee::Symbol(s) if *s as usize >= module.symbols.len() => {
                        return Err(bad(at, format!("call of symbol {s}")));
                    }
                    Callee::Indirect(r, site) => {
                        reg(*r)?;
                        seen_site(at, *site)?;
                    }
                    _ => {}
                }
                if args.len() > 2 {
                    return Err(bad(
                        at,
                        format!("{} arguments to a returns-twice call", args.len()),
                    ));
                }
                for r in args {
                    reg(*r)?;
                }
                if let Some((r, _)) = ret {
                    reg(*r)?;
                }
            }
            Inst::Ret2 { a, b } => {
                if f.ret.is_none() || f.ret2.is_none() {
                    return Err(bad(at, "return value does not match the signature".into()));
                }
                reg(*a)?;
                reg(*b)?;
            }
            Inst::Ret { value } => {
                if value.is_some() != f.ret.is_some() || f.ret2.is_some() {
                    return Err(bad(at, "return value does not match the signature".into()));
                }
                if let Some(r) = value {
                    reg(*r)?;
                }
            }
            Inst::VaStart { list } => {
                reg(*list)?;
                if !f.variadic {
                    return Err(bad(
                        at,
                        "va_start in a function that is not variadic".into(),
                    ));
                }
            }
            Inst::Unreachable => {}
        }
    }
    Ok(())
}
