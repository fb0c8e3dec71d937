//! The format, the validator and the interpreter on small functions
//! written by hand, including calls out to native code and back in.
#![allow(unsafe_code, reason = "test stubs and C functions called by address")]

use crate::format::*;
use crate::interp::{Interp, Machine, Trap};
use crate::native;
use crate::validate::{self, Refusal};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

const I32: Class = Class::Int {
    width: Width::W32,
    signed: true,
};
const I64: Class = Class::Int {
    width: Width::W64,
    signed: false,
};
const PTR: Class = I64;

fn func(
    name: &str,
    params: Vec<Class>,
    ret: Option<Class>,
    regs: u16,
    code: Vec<Inst>,
) -> Function {
    Function {
        name: name.to_string(),
        params,
        ret,
        ret2: None,
        variadic: false,
        body: Body::Code { regs, code },
        osr: Vec::new(),
        osr_digest: 0,
    }
}

/// `call`'s first result register.
trait CallOne {
    fn call1(
        &self,
        m: &dyn Machine,
        f: u32,
        args: &[u64],
        va: Option<crate::interp::VarArgs>,
    ) -> Result<u64, Trap>;
}

impl CallOne for Interp<'_> {
    fn call1(
        &self,
        m: &dyn Machine,
        f: u32,
        args: &[u64],
        va: Option<crate::interp::VarArgs>,
    ) -> Result<u64, Trap> {
        self.call(m, f, args, va).map(|v| v[0])
    }
}

fn names(m: &Module) -> Vec<String> {
    m.functions.iter().map(|f| f.name.clone()).collect()
}

/// fib(n) = n < 2 ? n : fib(n-1) + fib(n-2), recursively, in i32.
fn fib_module() -> Module {
    use Inst::*;
    let w = Width::W32;
    Module {
        functions: vec![func(
            "fib",
            vec![I32],
            Some(I32),
            6,
            vec![
                Const { dst: 1, value: 2 },
                ICmp {
                    p: IntPred::Slt,
                    w,
                    dst: 2,
                    a: 0,
                    b: 1,
                },
                Branch {
                    cond: 2,
                    then: 3,
                    els: 4,
                    edge: 0,
                },
                Ret { value: Some(0) },
                Const { dst: 1, value: 1 },
                Bin {
                    op: BinOp::Sub,
                    w,
                    dst: 3,
                    a: 0,
                    b: 1,
                },
                Call {
                    callee: Callee::Function(0),
                    args: vec![(3, I32)],
                    fixed: 1,
                    ret: Some((4, I32)),
                    ret2: None,
                },
                Bin {
                    op: BinOp::Sub,
                    w,
                    dst: 3,
                    a: 3,
                    b: 1,
                },
                Call {
                    callee: Callee::Function(0),
                    args: vec![(3, I32)],
                    fixed: 1,
                    ret: Some((5, I32)),
                    ret2: None,
                },
                Bin {
                    op: BinOp::Add,
                    w,
                    dst: 4,
                    a: 4,
                    b: 5,
                },
                Ret { value: Some(4) },
            ],
        )],
        symbols: vec![],
        globals: vec![],
    }
}

/// Knows no native code: every call is interpreted.
struct Alone;

impl Machine for Alone {
    fn call_native(&self, _: u64, _: &[(u64, Class)], _: bool, _: &[Class]) -> [u64; 2] {
        panic!("no native calls here")
    }
    fn call_returns_twice(&self, _: u64, _: [u64; 2], _: &mut dyn FnMut(u64)) {
        panic!("no native calls here")
    }
    fn compiled(&self, _: u32) -> Option<u64> {
        None
    }
    fn function_at(&self, _: u64) -> Option<u32> {
        None
    }
    fn function_address(&self, f: u32) -> u64 {
        0x1000 + f as u64
    }
    fn symbol(&self, _: u32) -> u64 {
        0
    }
}

#[test]
fn recursion_runs_on_the_interpreters_own_frames() {
    let m = fib_module();
    let i = Interp::new(&m);
    assert_eq!(i.call1(&Alone, 0, &[20], None), Ok(6765));
    // Deeper than a small host stack would allow if frames were recursive
    // Rust calls: fib(25) makes 25-deep chains, a countdown 100,000 deep.
    use Inst::*;
    let down = Module {
        functions: vec![func(
            "down",
            vec![I64],
            Some(I64),
            4,
            vec![
                Const { dst: 1, value: 0 },
                ICmp {
                    p: IntPred::Eq,
                    w: Width::W64,
                    dst: 3,
                    a: 0,
                    b: 1,
                },
                Branch {
                    cond: 3,
                    then: 3,
                    els: 4,
                    edge: 0,
                },
                Ret { value: Some(0) },
                Const {
                    dst: 1,
                    value: u64::MAX,
                },
                Bin {
                    op: BinOp::Add,
                    w: Width::W64,
                    dst: 1,
                    a: 0,
                    b: 1,
                },
                Call {
                    callee: Callee::Function(0),
                    args: vec![(1, I64)],
                    fixed: 1,
                    ret: Some((2, I64)),
                    ret2: None,
                },
                Ret { value: Some(2) },
            ],
        )],
        symbols: vec![],
        globals: vec![],
    };
    let i = Interp::new(&down);
    assert_eq!(i.call1(&Alone, 0, &[100_000], None), Ok(0));
}

#[test]
fn integer_widths_wrap_and_extend_like_llvm() {
    use crate::interp::{mask, sext};
    assert_eq!(mask(Width::W8, 0x1ff), 0xff);
    assert_eq!(sext(Width::W8, 0x80), -128);
    assert_eq!(sext(Width::W1, 1), -1);
    use Inst::*;
    let m = Module {
        functions: vec![func(
            "f",
            vec![I32, I32],
            Some(I32),
            4,
            vec![
                // (a * b) as i8, sign-extended to i32, then arithmetic >> 1
                Bin {
                    op: BinOp::Mul,
                    w: Width::W8,
                    dst: 2,
                    a: 0,
                    b: 1,
                },
                Cast {
                    op: crate::format::Cast::SExt {
                        from: Width::W8,
                        to: Width::W32,
                    },
                    dst: 2,
                    a: 2,
                },
                Const { dst: 3, value: 1 },
                Bin {
                    op: BinOp::AShr,
                    w: Width::W32,
                    dst: 2,
                    a: 2,
                    b: 3,
                },
                Ret { value: Some(2) },
            ],
        )],
        symbols: vec![],
        globals: vec![],
    };
    // 16 * 9 = 144 = 0x90 as i8 = -112; >> 1 = -56 as i32.
    let got = Interp::new(&m).call1(&Alone, 0, &[16, 9], None).unwrap();
    assert_eq!(got, (-56i32) as u32 as u64);
}

#[test]
fn division_by_zero_and_unreachable_trap_instead_of_running_on() {
    use Inst::*;
    let m = Module {
        functions: vec![
            func(
                "div",
                vec![I32, I32],
                Some(I32),
                3,
                vec![
                    Bin {
                        op: BinOp::SDiv,
                        w: Width::W32,
                        dst: 2,
                        a: 0,
                        b: 1,
                    },
                    Ret { value: Some(2) },
                ],
            ),
            func("never", vec![], None, 0, vec![Unreachable]),
        ],
        symbols: vec![],
        globals: vec![],
    };
    let i = Interp::new(&m);
    assert_eq!(i.call1(&Alone, 0, &[7, 2], None), Ok(3));
    assert_eq!(i.call1(&Alone, 0, &[7, 0], None), Err(Trap::Divide));
    assert_eq!(
        i.call1(&Alone, 0, &[0x8000_0000, 0xffff_ffff], None),
        Err(Trap::Divide)
    );
    assert_eq!(i.call1(&Alone, 1, &[], None), Err(Trap::Unreachable));
}

#[test]
fn frame_memory_switch_and_select() {
    use Inst::*;
    let w = Width::W32;
    // int f(int x) { int a[4]; a[x & 3] = x; switch (x) { case 1: return 10;
    //   case 7: return a[3]; default: return x > 100 ? 1 : 2; } }
    let m = Module {
        functions: vec![func(
            "f",
            vec![I32],
            Some(I32),
            8,
            vec![
                Alloca {
                    dst: 1,
                    size: 16,
                    align: 4,
                },
                Const { dst: 2, value: 3 },
                Bin {
                    op: BinOp::And,
                    w,
                    dst: 2,
                    a: 0,
                    b: 2,
                },
                Offset {
                    dst: 3,
                    base: 1,
                    index: 2,
                    scale: 4,
                },
                Store {
                    size: Size::B4,
                    addr: 3,
                    src: 0,
                },
                Switch {
                    w,
                    value: 0,
                    default: 11,
                    cases: vec![(1, 6), (7, 8)],
                },
                Const { dst: 4, value: 10 },
                Ret { value: Some(4) },
                AddImm {
                    dst: 5,
                    a: 1,
                    imm: 12,
                },
                Load {
                    size: Size::B4,
                    dst: 4,
                    addr: 5,
                },
                Jump { to: 16 },
                Const { dst: 5, value: 100 },
                ICmp {
                    p: IntPred::Sgt,
                    w,
                    dst: 6,
                    a: 0,
                    b: 5,
                },
                Const { dst: 5, value: 1 },
                Const { dst: 7, value: 2 },
                Select {
                    dst: 4,
                    cond: 6,
                    a: 5,
                    b: 7,
                },
                Ret { value: Some(4) },
            ],
        )],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&m, &names(&m)).unwrap();
    let i = Interp::new(&m);
    assert_eq!(i.call1(&Alone, 0, &[1], None), Ok(10));
    assert_eq!(i.call1(&Alone, 0, &[7], None), Ok(7));
    assert_eq!(i.call1(&Alone, 0, &[200], None), Ok(1));
    assert_eq!(i.call1(&Alone, 0, &[5], None), Ok(2));
}

#[test]
fn floats_compare_and_convert_like_llvm() {
    use Inst::*;
    let m = Module {
        functions: vec![func(
            "f",
            vec![Class::F64, Class::F32],
            Some(Class::F64),
            5,
            vec![
                // (double)(float)(a * 2) + b, via fmuladd
                Const {
                    dst: 2,
                    value: 2.0f64.to_bits(),
                },
                F64Mul { dst: 3, a: 0, b: 2 },
                Cast {
                    op: crate::format::Cast::FpTrunc,
                    dst: 3,
                    a: 3,
                },
                Cast {
                    op: crate::format::Cast::FpExt,
                    dst: 3,
                    a: 3,
                },
                Cast {
                    op: crate::format::Cast::FpExt,
                    dst: 4,
                    a: 1,
                },
                FBin {
                    op: FBinOp::Add,
                    f: Float::F64,
                    dst: 3,
                    a: 3,
                    b: 4,
                },
                Ret { value: Some(3) },
            ],
        )],
        symbols: vec![],
        globals: vec![],
    };
    let got = Interp::new(&m)
        .call1(
            &Alone,
            0,
            &[1.25f64.to_bits(), 0.5f32.to_bits() as u64],
            None,
        )
        .unwrap();
    assert_eq!(f64::from_bits(got), 3.0);
    let nan = f64::NAN.to_bits();
    let one = 1.0f64.to_bits();
    use crate::format::FloatPred as P;
    let cmp = |p, a, b| {
        let m = Module {
            functions: vec![func(
                "c",
                vec![Class::F64, Class::F64],
                Some(Class::Int {
                    width: Width::W1,
                    signed: false,
                }),
                3,
                vec![
                    FCmp {
                        p,
                        f: Float::F64,
                        dst: 2,
                        a: 0,
                        b: 1,
                    },
                    Ret { value: Some(2) },
                ],
            )],
            symbols: vec![],
            globals: vec![],
        };
        Interp::new(&m).call1(&Alone, 0, &[a, b], None).unwrap()
    };
    assert_eq!(cmp(P::Oeq, nan, nan), 0);
    assert_eq!(cmp(P::Une, nan, nan), 1);
    assert_eq!(cmp(P::Olt, one, nan), 0);
    assert_eq!(cmp(P::Ult, one, nan), 1);
    assert_eq!(cmp(P::Ole, one, one), 1);
}

// --- native code ---------------------------------------------------------

/// Calls the C library and the test's own C-ABI functions for real.
struct Native {
    symbols: Vec<u64>,
    stubs: Vec<u64>,
}

impl Machine for Native {
    fn compiled(&self, _: u32) -> Option<u64> {
        None
    }
    fn function_at(&self, addr: u64) -> Option<u32> {
        self.stubs.iter().position(|&s| s == addr).map(|i| i as u32)
    }
    fn function_address(&self, f: u32) -> u64 {
        self.stubs[f as usize]
    }
    fn symbol(&self, s: u32) -> u64 {
        self.symbols[s as usize]
    }
}

extern "C" fn many(
    a: i64,
    b: f64,
    c: i64,
    d: i64,
    e: i64,
    f: i64,
    g: i64,
    h: i64,
    x: f32,
    y: i8,
) -> f64 {
    (a + c + d + e + f + g + h + y as i64) as f64 + b + x as f64
}

unsafe extern "C" {
    fn snprintf(buf: *mut u8, n: usize, fmt: *const u8, ...) -> i32;
    fn qsort(base: *mut u8, n: usize, size: usize, cmp: extern "C" fn(*const u8, *const u8) -> i32);
}

#[test]
fn calls_to_native_code_pass_registers_stack_and_varargs() {
    use Inst::*;
    let i8s = Class::Int {
        width: Width::W8,
        signed: true,
    };
    let m = Module {
        functions: vec![func(
            "f",
            vec![],
            Some(Class::F64),
            11,
            vec![
                Const { dst: 0, value: 1 },
                Const {
                    dst: 1,
                    value: 0.5f64.to_bits(),
                },
                Const {
                    dst: 2,
                    value: 0xff,
                }, // (i8)-1
                Const {
                    dst: 3,
                    value: 0.25f32.to_bits() as u64,
                },
                Call {
                    callee: Callee::Symbol(0),
                    args: vec![
                        (0, I64),
                        (1, Class::F64),
                        (0, I64),
                        (0, I64),
                        (0, I64),
                        (0, I64),
                        (0, I64),
                        (0, I64),
                        (3, Class::F32),
                        (2, i8s),
                    ],
                    fixed: 10,
                    ret: Some((4, Class::F64)),
                    ret2: None,
                },
                Ret { value: Some(4) },
            ],
        )],
        symbols: vec![Symbol {
            name: "many".into(),
            kind: SymbolKind::External,
        }],
        globals: vec![],
    };
    let machine = Native {
        symbols: vec![many as *const () as u64],
        stubs: vec![],
    };
    let got = Interp::new(&m).call1(&machine, 0, &[], None).unwrap();
    assert_eq!(f64::from_bits(got), 7.0 - 1.0 + 0.5 + 0.25);

    // snprintf(buf, 64, "%d %.2f %s %ld", 42, 2.5, "x", -7): variadic.
    let mut buf = [0u8; 64];
    let fmt = b"%d %.2f %s %ld\0";
    let s = b"x\0";
    let m = Module {
        functions: vec![func(
            "g",
            vec![PTR, PTR, PTR],
            Some(I32),
            9,
            vec![
                Const { dst: 3, value: 64 },
                Const { dst: 4, value: 42 },
                Const {
                    dst: 5,
                    value: 2.5f64.to_bits(),
                },
                Const {
                    dst: 6,
                    value: (-7i64) as u64,
                },
                Call {
                    callee: Callee::Symbol(0),
                    args: vec![
                        (0, PTR),
                        (3, I64),
                        (1, PTR),
                        (4, I32),
                        (5, Class::F64),
                        (2, PTR),
                        (6, I64),
                    ],
                    fixed: 3,
                    ret: Some((7, I32)),
                    ret2: None,
                },
                Ret { value: Some(7) },
            ],
        )],
        symbols: vec![Symbol {
            name: "snprintf".into(),
            kind: SymbolKind::External,
        }],
        globals: vec![],
    };
    let machine = Native {
        symbols: vec![snprintf as *const () as u64],
        stubs: vec![],
    };
    let n = Interp::new(&m)
        .call1(
            &machine,
            0,
            &[
                buf.as_mut_ptr() as u64,
                fmt.as_ptr() as u64,
                s.as_ptr() as u64,
            ],
            None,
        )
        .unwrap();
    assert_eq!(&buf[..n as usize], b"42 2.50 x -7");
}

// The comparator below is interpreted; qsort reaches it through a stub
// that enters the interpreter, as compiled code and the C library will.
#[unsafe(naked)]
extern "C" fn stub_compare() {
    core::arch::naked_asm!("mov r11d, 1", "jmp {entry}", entry = sym native::entry)
}

thread_local! {
    static CURRENT: core::cell::Cell<(usize, usize)> = const { core::cell::Cell::new((0, 0)) };
}

fn handler(index: u32, incoming: &mut native::Incoming, stack: u64) -> u64 {
    let (interp, machine) = CURRENT.with(|c| c.get());
    // SAFETY: set by the test below to objects that outlive the qsort call.
    let (interp, machine) = unsafe {
        (
            &*(interp as *const Interp<'_>),
            &*(machine as *const Native),
        )
    };
    interp
        .call_from_native(machine, index, incoming, stack)
        .unwrap()
}

#[test]
fn native_code_calls_back_into_interpreted_functions() {
    use Inst::*;
    let w = Width::W32;
    // sort(base, n): qsort(base, n, 4, compare); compare(a, b) = *a - *b.
    let m = Module {
        functions: vec![
            func(
                "sort",
                vec![PTR, I64],
                None,
                4,
                vec![
                    Const { dst: 2, value: 4 },
                    FuncAddr { dst: 3, func: 1 },
                    Call {
                        callee: Callee::Symbol(0),
                        args: vec![(0, PTR), (1, I64), (2, I64), (3, PTR)],
                        fixed: 4,
                        ret: None,
                        ret2: None,
                    },
                    Ret { value: None },
                ],
            ),
            func(
                "compare",
                vec![PTR, PTR],
                Some(I32),
                4,
                vec![
                    Load {
                        size: Size::B4,
                        dst: 2,
                        addr: 0,
                    },
                    Load {
                        size: Size::B4,
                        dst: 3,
                        addr: 1,
                    },
                    Bin {
                        op: BinOp::Sub,
                        w,
                        dst: 2,
                        a: 2,
                        b: 3,
                    },
                    Ret { value: Some(2) },
                ],
            ),
        ],
        symbols: vec![Symbol {
            name: "qsort".into(),
            kind: SymbolKind::External,
        }],
        globals: vec![],
    };
    let machine = Native {
        symbols: vec![qsort as *const () as u64],
        stubs: vec![0x10, stub_compare as *const () as u64],
    };
    let interp = Interp::new(&m);
    native::set_entry_handler(handler);
    CURRENT.with(|c| {
        c.set((
            &interp as *const Interp<'_> as usize,
            &machine as *const Native as usize,
        ))
    });
    let mut data: [i32; 7] = [5, -3, 9, 0, 2, 2, -8];
    interp
        .call1(
            &machine,
            0,
            &[data.as_mut_ptr() as u64, data.len() as u64],
            None,
        )
        .unwrap();
    assert_eq!(data, [-8, -3, 0, 2, 2, 5, 9]);
}

#[test]
fn an_interpreted_variadic_function_hands_its_va_list_to_vsnprintf() {
    use Inst::*;
    // int fmt(char *buf, const char *f, ...) { va_list ap; va_start(ap, f);
    //   int n = vsnprintf(buf, 64, f, ap); va_end(ap); return n; }
    unsafe extern "C" {
        fn vsnprintf(buf: *mut u8, n: usize, fmt: *const u8, ap: *mut u8) -> i32;
    }
    let mut f = func(
        "fmt",
        vec![PTR, PTR],
        Some(I32),
        6,
        vec![
            Alloca {
                dst: 2,
                size: 24,
                align: 16,
            },
            VaStart { list: 2 },
            Const { dst: 3, value: 64 },
            Call {
                callee: Callee::Symbol(0),
                args: vec![(0, PTR), (3, I64), (1, PTR), (2, PTR)],
                fixed: 4,
                ret: Some((4, I32)),
                ret2: None,
            },
            Ret { value: Some(4) },
        ],
    );
    f.variadic = true;
    // main calls fmt(buf, "%d-%g-%d-%d-%d-%d-%d", 1, 2.5, 3, 4, 5, 6, 7):
    // more integers than registers, so some come from the stack.
    let mut main_code = vec![];
    let vals: [(u64, Class); 7] = [
        (1, I32),
        (2.5f64.to_bits(), Class::F64),
        (3, I32),
        (4, I32),
        (5, I32),
        (6, I32),
        (7, I32),
    ];
    let mut args = vec![(0, PTR), (1, PTR)];
    for (k, (v, c)) in vals.iter().enumerate() {
        main_code.push(Const {
            dst: 2 + k as u16,
            value: *v,
        });
        args.push((2 + k as u16, *c));
    }
    main_code.push(Call {
        callee: Callee::Function(0),
        args,
        fixed: 2,
        ret: Some((9, I32)),
        ret2: None,
    });
    main_code.push(Ret { value: Some(9) });
    let m = Module {
        functions: vec![f, func("main", vec![PTR, PTR], Some(I32), 10, main_code)],
        symbols: vec![Symbol {
            name: "vsnprintf".into(),
            kind: SymbolKind::External,
        }],
        globals: vec![],
    };
    validate::check(&m, &names(&m)).unwrap();
    let machine = Native {
        symbols: vec![vsnprintf as *const () as u64],
        stubs: vec![],
    };
    let mut buf = [0u8; 64];
    let format = b"%d-%g-%d-%d-%d-%d-%d\0";
    let n = Interp::new(&m)
        .call1(
            &machine,
            1,
            &[buf.as_mut_ptr() as u64, format.as_ptr() as u64],
            None,
        )
        .unwrap();
    assert_eq!(&buf[..n as usize], b"1-2.5-3-4-5-6-7");
}

// --- the file format and its checks ---------------------------------------

#[test]
fn a_module_round_trips_through_its_file() {
    let m = fib_module();
    let file = encode(&m, b"the ir");
    assert_eq!(validate::load(&file, b"the ir", &names(&m)), Ok(m));
}

#[test]
fn damaged_truncated_stale_or_foreign_files_are_refused() {
    let m = fib_module();
    let ir = b"the ir";
    let table = names(&m);
    let file = encode(&m, ir);
    let refused = |f: &[u8], ir: &[u8], t: &[String]| validate::load(f, ir, t).unwrap_err();
    assert!(matches!(
        refused(&file[..10], ir, &table),
        Refusal::Truncated { .. }
    ));
    assert!(matches!(
        refused(&file[..file.len() - 1], ir, &table),
        Refusal::Truncated { .. }
    ));
    let mut bad = file.clone();
    bad[0] = b'X';
    assert_eq!(refused(&bad, ir, &table), Refusal::BadMagic);
    let mut bad = file.clone();
    bad[4] = 99;
    assert_eq!(refused(&bad, ir, &table), Refusal::Version { found: 99 });
    let mut bad = file.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(refused(&bad, ir, &table), Refusal::Checksum);
    assert_eq!(refused(&file, b"other ir", &table), Refusal::OtherIr);
    assert!(matches!(
        refused(&file, ir, &["main".to_string()]),
        Refusal::FunctionTable(_)
    ));
    // Every single flipped byte of the payload is caught (by the checksum).
    for at in HEADER_BYTES..file.len() {
        let mut bad = file.clone();
        bad[at] ^= 0x40;
        assert!(validate::load(&bad, ir, &table).is_err(), "byte {at}");
    }
}

#[test]
fn malformed_code_is_refused_before_it_runs() {
    use Inst::*;
    let check = |code: Vec<Inst>, regs: u16| {
        let m = Module {
            functions: vec![func("f", vec![I32], Some(I32), regs, code)],
            symbols: vec![],
            globals: vec![],
        };
        validate::check(&m, &names(&m))
    };
    assert!(check(vec![Ret { value: Some(0) }], 1).is_ok());
    let bad = [
        (vec![Ret { value: Some(5) }], 1, "register"),
        (vec![Jump { to: 9 }], 1, "jump"),
        (vec![Const { dst: 0, value: 1 }], 1, "off its end"),
        (vec![Ret { value: None }], 1, "signature"),
        (
            vec![
                Call {
                    callee: Callee::Function(3),
                    args: vec![],
                    fixed: 0,
                    ret: None,
                    ret2: None,
                },
                Ret { value: Some(0) },
            ],
            1,
            "function 3",
        ),
        (
            vec![Addr { dst: 0, sym: 0 }, Ret { value: Some(0) }],
            1,
            "symbol",
        ),
        (
            vec![
                Alloca {
                    dst: 0,
                    size: 1 << 30,
                    align: 8,
                },
                Ret { value: Some(0) },
            ],
            1,
            "alloca",
        ),
        (
            vec![
                Alloca {
                    dst: 0,
                    size: 8,
                    align: 3,
                },
                Ret { value: Some(0) },
            ],
            1,
            "alignment",
        ),
        (
            vec![VaStart { list: 0 }, Ret { value: Some(0) }],
            1,
            "not variadic",
        ),
        (vec![Ret { value: Some(0) }], 0, "parameters"),
        // Branch edges number the conditional branches 0..n, each once.
        (
            vec![
                Branch {
                    cond: 0,
                    then: 1,
                    els: 1,
                    edge: 1,
                },
                Ret { value: Some(0) },
            ],
            1,
            "edge 1 of 1",
        ),
        (
            vec![
                Branch {
                    cond: 0,
                    then: 1,
                    els: 2,
                    edge: 0,
                },
                Branch {
                    cond: 0,
                    then: 2,
                    els: 2,
                    edge: 0,
                },
                Ret { value: Some(0) },
            ],
            1,
            "edge 0 twice",
        ),
        // So do the sites of calls through pointers.
        (
            vec![
                Call {
                    callee: Callee::Indirect(0, 3),
                    args: vec![],
                    fixed: 0,
                    ret: None,
                    ret2: None,
                },
                Ret { value: Some(0) },
            ],
            1,
            "indirect call site 3 of 1",
        ),
    ];
    for (code, regs, what) in bad {
        let e = check(code, regs).unwrap_err().to_string();
        assert!(e.contains(what), "{e:?} should mention {what}");
    }
}

#[test]
fn wide_integers_compute_in_register_pairs() {
    use Inst::*;
    // (i128)a * (i128)b / 7, compared with (i128)a * b: both halves kept.
    let m = Module {
        functions: vec![func(
            "w",
            vec![I64, I64],
            Some(I64),
            12,
            vec![
                WideExt {
                    signed: true,
                    from: Width::W64,
                    dst: 2,
                    a: 0,
                },
                WideExt {
                    signed: false,
                    from: Width::W64,
                    dst: 4,
                    a: 1,
                },
                Wide {
                    op: BinOp::Mul,
                    dst: 6,
                    a: 2,
                    b: 4,
                },
                Const { dst: 8, value: 7 },
                Const { dst: 9, value: 0 },
                Wide {
                    op: BinOp::SDiv,
                    dst: 10,
                    a: 6,
                    b: 8,
                },
                // the high half of the quotient
                Move { dst: 2, src: 11 },
                Ret { value: Some(2) },
            ],
        )],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&m, &names(&m)).unwrap();
    let a = -3i64;
    let b = u64::MAX;
    let want = ((a as i128) * (b as i128) / 7) >> 64;
    let got = Interp::new(&m)
        .call1(&Alone, 0, &[a as u64, b], None)
        .unwrap();
    assert_eq!(got, want as u64);
    // Division by a zero pair traps.
    let mut zero = m.clone();
    if let Body::Code { code, .. } = &mut zero.functions[0].body {
        code[3] = Const { dst: 8, value: 0 };
    }
    assert_eq!(
        Interp::new(&zero).call1(&Alone, 0, &[1, 1], None),
        Err(Trap::Divide)
    );
}

#[test]
fn overflow_checks_match_rusts() {
    use crate::ops::overflow_for_tests as ov;
    for (a, b) in [
        (u64::MAX, 1),
        (u64::MAX, u64::MAX),
        (1 << 63, 2),
        (5, 7),
        (0, 1),
    ] {
        assert_eq!(
            ov(BinOp::Mul, false, Width::W64, a, b),
            a.overflowing_mul(b)
        );
        assert_eq!(
            ov(BinOp::Add, false, Width::W64, a, b),
            a.overflowing_add(b)
        );
        assert_eq!(
            ov(BinOp::Sub, false, Width::W64, a, b),
            a.overflowing_sub(b)
        );
        let (x, y) = (a as i64, b as i64);
        let (v, o) = x.overflowing_mul(y);
        assert_eq!(ov(BinOp::Mul, true, Width::W64, a, b), (v as u64, o));
        let (v, o) = (a as i32).overflowing_add(b as i32);
        assert_eq!(ov(BinOp::Add, true, Width::W32, a, b), (v as u32 as u64, o));
    }
}

/// The loop's fast forms (`exec`: an operation per width and predicate)
/// give what the generic operations in `ops` give, on edge values of every
/// width, for every integer operation, predicate and cast they cover.
#[test]
fn fast_operations_agree_with_the_generic_ones() {
    use crate::ops::{bin, cast, icmp};
    use Inst::*;
    let widths = [Width::W1, Width::W8, Width::W16, Width::W32, Width::W64];
    let ops = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::And,
        BinOp::Or,
        BinOp::Xor,
        BinOp::Shl,
        BinOp::LShr,
        BinOp::AShr,
        BinOp::UDiv,
        BinOp::URem,
        BinOp::SDiv,
        BinOp::SRem,
    ];
    let preds = [
        IntPred::Eq,
        IntPred::Ne,
        IntPred::Ugt,
        IntPred::Uge,
        IntPred::Ult,
        IntPred::Ule,
        IntPred::Sgt,
        IntPred::Sge,
        IntPred::Slt,
        IntPred::Sle,
    ];
    let casts = [
        crate::format::Cast::Trunc(Width::W32),
        crate::format::Cast::Trunc(Width::W8),
        crate::format::Cast::Trunc(Width::W1),
        crate::format::Cast::SExt {
            from: Width::W32,
            to: Width::W64,
        },
        crate::format::Cast::SiToFp {
            from: Width::W32,
            to: Float::F64,
        },
        crate::format::Cast::SiToFp {
            from: Width::W64,
            to: Float::F64,
        },
    ];
    let raw = [
        0u64,
        1,
        2,
        7,
        31,
        32,
        33,
        63,
        64,
        0x7f,
        0x80,
        0xff,
        0x7fff_ffff,
    ];
    let mut values: Vec<u64> = raw.to_vec();
    values.extend(raw.iter().map(|v| v.wrapping_neg()));
    values.extend([0x8000_0000, 0xffff_ffff, 1 << 63, u64::MAX >> 1]);
    // One function per case: `r2 = a op b; ret r2`, `br (a p b)`.
    let mut functions = Vec::new();
    type Expected = alloc::boxed::Box<dyn Fn(u64, u64) -> Result<u64, Trap>>;
    let mut expected: Vec<Expected> = Vec::new();
    let class = |w: Width| Class::Int {
        width: w,
        signed: false,
    };
    for w in widths {
        for op in ops {
            functions.push(func(
                "bin",
                vec![class(w), class(w)],
                Some(class(w)),
                3,
                vec![
                    Bin {
                        op,
                        w,
                        dst: 2,
                        a: 0,
                        b: 1,
                    },
                    Ret { value: Some(2) },
                ],
            ));
            expected.push(alloc::boxed::Box::new(move |a, b| bin(op, w, a, b)));
        }
        for p in preds {
            functions.push(func(
                "icmp",
                vec![class(w), class(w)],
                Some(class(Width::W1)),
                3,
                vec![
                    ICmp {
                        p,
                        w,
                        dst: 2,
                        a: 0,
                        b: 1,
                    },
                    Ret { value: Some(2) },
                ],
            ));
            expected.push(alloc::boxed::Box::new(move |a, b| {
                Ok(icmp(p, w, a, b) as u64)
            }));
            functions.push(func(
                "cmpbranch",
                vec![class(w), class(w)],
                Some(class(Width::W1)),
                3,
                vec![
                    CmpBranch {
                        p,
                        w,
                        a: 0,
                        b: 1,
                        then: 1,
                        els: 3,
                        edge: 0,
                    },
                    Const { dst: 2, value: 1 },
                    Ret { value: Some(2) },
                    Const { dst: 2, value: 0 },
                    Ret { value: Some(2) },
                ],
            ));
            expected.push(alloc::boxed::Box::new(move |a, b| {
                Ok(icmp(p, w, a, b) as u64)
            }));
        }
    }
    // An addition and the compare-and-branch after it (one fused op,
    // `exec::step_and_test`): the comparison sees the new sum, whichever
    // registers it reads; and turned round (the op tests the opposite)
    // when the branch's `then` is the instruction after the pair.
    for w in [Width::W32, Width::W64] {
        for p in preds {
            for ((d, x, y), turned) in [(2, 2, 1), (2, 1, 2), (2, 0, 1), (0, 0, 1)]
                .into_iter()
                .flat_map(|r| [(r, false), (r, true)])
            {
                let (then, els, at_then) = if turned { (2, 4, 0) } else { (4, 2, 1) };
                functions.push(func(
                    "addbranch",
                    vec![class(w), class(w)],
                    Some(class(Width::W1)),
                    4,
                    vec![
                        Bin {
                            op: BinOp::Add,
                            w,
                            dst: d,
                            a: 0,
                            b: 1,
                        },
                        CmpBranch {
                            p,
                            w,
                            a: x,
                            b: y,
                            then,
                            els,
                            edge: 0,
                        },
                        Const {
                            dst: 3,
                            value: 1 - at_then,
                        },
                        Ret { value: Some(3) },
                        Const {
                            dst: 3,
                            value: at_then,
                        },
                        Ret { value: Some(3) },
                    ],
                ));
                expected.push(alloc::boxed::Box::new(move |a, b| {
                    let mut r = [a, b, 0];
                    r[d as usize] = bin(BinOp::Add, w, a, b)?;
                    Ok(icmp(p, w, r[x as usize], r[y as usize]) as u64)
                }));
            }
        }
    }
    for op in casts {
        functions.push(func(
            "cast",
            vec![I64, I64],
            Some(I64),
            3,
            vec![Cast { op, dst: 2, a: 0 }, Ret { value: Some(2) }],
        ));
        expected.push(alloc::boxed::Box::new(move |a, _| Ok(cast(op, a))));
    }
    let module = Module {
        functions,
        symbols: vec![],
        globals: vec![],
    };
    // The additions and branches above did fuse.
    let fused = module
        .functions
        .iter()
        .filter(|f| f.name == "addbranch")
        .all(|f| match &f.body {
            Body::Code { code, .. } => {
                use crate::exec::Op::*;
                matches!(
                    crate::exec::translate(code)[0],
                    AddBrEq { .. }
                        | AddBrNe { .. }
                        | AddBrUlt { .. }
                        | AddBrUle { .. }
                        | AddBrSlt64 { .. }
                        | AddBrSle64 { .. }
                        | AddBrSlt32 { .. }
                        | AddBrSle32 { .. }
                )
            }
            _ => false,
        });
    assert!(fused, "every addition and branch pair fuses");
    let interp = Interp::new(&module);
    for (i, want) in expected.iter().enumerate() {
        let f = &module.functions[i];
        let w = match f.params[0] {
            Class::Int { width, .. } => width,
            _ => unreachable!(),
        };
        for &a in &values {
            for &b in &values {
                let (a, b) = (crate::interp::mask(w, a), crate::interp::mask(w, b));
                let got = interp.call1(&Alone, i as u32, &[a, b], None);
                assert_eq!(
                    got,
                    want(a, b),
                    "{} #{i} ({:?}) on {a:#x}, {b:#x}",
                    f.name,
                    match &f.body {
                        Body::Code { code, .. } => code[0].clone(),
                        _ => unreachable!(),
                    }
                );
            }
        }
    }
}

/// Calls and loop back-edges (`BackJump`) are counted per function; other
/// jumps, even to an earlier position, are not loops.
#[test]
fn calls_and_loop_back_edges_are_counted() {
    use crate::interp::{BACKEDGES, CALLS, COUNTER_WORDS, HEADER_WORDS};
    use Inst::*;
    use core::sync::atomic::Ordering;
    let fib = fib_module();
    let counters = crate::interp::counters_object(&fib);
    let interp = Interp::with_counters(&fib, &counters);
    assert_eq!(interp.call1(&Alone, 0, &[10], None).unwrap(), 55);
    assert_eq!(counters[HEADER_WORDS + CALLS].load(Ordering::Relaxed), 177);
    assert_eq!(
        counters[HEADER_WORDS + BACKEDGES].load(Ordering::Relaxed),
        0
    );

    let w = Width::W64;
    let add = Bin {
        op: BinOp::Add,
        w,
        dst: 1,
        a: 1,
        b: 2,
    };
    let loops = Module {
        functions: vec![
            // do i += 1 while i < n
            func(
                "bottom_test",
                vec![I64],
                Some(I64),
                3,
                vec![
                    Const { dst: 1, value: 0 },
                    Const { dst: 2, value: 1 },
                    add.clone(),
                    CmpBranch {
                        p: IntPred::Ult,
                        w,
                        a: 1,
                        b: 0,
                        then: 5,
                        els: 4,
                        edge: 0,
                    },
                    Ret { value: Some(1) },
                    BackJump { to: 2, block: 1 },
                ],
            ),
            // while i < n: i += 1
            func(
                "top_test",
                vec![I64],
                Some(I64),
                3,
                vec![
                    Const { dst: 1, value: 0 },
                    Const { dst: 2, value: 1 },
                    CmpBranch {
                        p: IntPred::Ult,
                        w,
                        a: 1,
                        b: 0,
                        then: 3,
                        els: 5,
                        edge: 0,
                    },
                    add.clone(),
                    BackJump { to: 2, block: 1 },
                    Ret { value: Some(1) },
                ],
            ),
            // do i += 1 while i < n, the back-edge right after the test
            // (as `irlower` lays it out): the step and test fuse turned
            // round, counted as the branch was.
            func(
                "turned_test",
                vec![I64],
                Some(I64),
                3,
                vec![
                    Const { dst: 1, value: 0 },
                    Const { dst: 2, value: 1 },
                    add,
                    CmpBranch {
                        p: IntPred::Ult,
                        w,
                        a: 1,
                        b: 0,
                        then: 4,
                        els: 5,
                        edge: 0,
                    },
                    BackJump { to: 2, block: 1 },
                    Ret { value: Some(1) },
                ],
            ),
        ],
        symbols: vec![],
        globals: vec![],
    };
    for f in [0, 2] {
        let Body::Code { code, .. } = &loops.functions[f].body else {
            unreachable!()
        };
        assert!(
            matches!(
                crate::exec::translate(code)[2],
                crate::exec::Op::AddBrUlt { .. } | crate::exec::Op::AddBrUle { .. }
            ),
            "{}: the step and test did not fuse",
            loops.functions[f].name
        );
    }
    let counters = crate::interp::counters_object(&loops);
    let interp = Interp::with_counters(&loops, &counters);
    let get = |f: usize, which: usize| {
        counters[HEADER_WORDS + f * COUNTER_WORDS + which].load(Ordering::Relaxed)
    };
    for _ in 0..3 {
        assert_eq!(interp.call1(&Alone, 0, &[5], None).unwrap(), 5);
        assert_eq!(interp.call1(&Alone, 1, &[5], None).unwrap(), 5);
        assert_eq!(interp.call1(&Alone, 2, &[5], None).unwrap(), 5);
    }
    assert_eq!((get(0, CALLS), get(0, BACKEDGES)), (3, 3 * 4));
    assert_eq!((get(1, CALLS), get(1, BACKEDGES)), (3, 3 * 5));
    assert_eq!((get(2, CALLS), get(2, BACKEDGES)), (3, 3 * 4));
    // Branch edges, per branch: bottom_test's test at 3 went on
    // round (taken) 4 times a call and out once; top_test's at 2 went
    // into the body 5 times and out once.
    let words: Vec<u64> = counters.iter().map(|w| w.load(Ordering::Relaxed)).collect();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let c = ipc_abi::counters::Counters::parse(&bytes, &words).unwrap();
    assert_eq!(c.edges(0).collect::<Vec<_>>(), [(0, 3 * 4, 3)]);
    assert_eq!(c.edges(1).collect::<Vec<_>>(), [(0, 3 * 5, 3)]);
    assert_eq!(c.edges(2).collect::<Vec<_>>(), [(0, 3 * 4, 3)]);
}

/// Calls through pointers: each site counts where its calls went, by
/// its site number, and the profiler reads each site's target.
#[test]
fn indirect_calls_count_their_targets() {
    use Inst::*;
    use core::sync::atomic::Ordering;
    struct Pointers;
    impl Machine for Pointers {
        fn call_native(&self, _: u64, _: &[(u64, Class)], _: bool, _: &[Class]) -> [u64; 2] {
            panic!("no native calls here")
        }
        fn call_returns_twice(&self, _: u64, _: [u64; 2], _: &mut dyn FnMut(u64)) {
            panic!("no native calls here")
        }
        fn compiled(&self, _: u32) -> Option<u64> {
            None
        }
        fn function_at(&self, a: u64) -> Option<u32> {
            a.checked_sub(0x1000).map(|f| f as u32)
        }
        fn function_address(&self, f: u32) -> u64 {
            0x1000 + f as u64
        }
        fn symbol(&self, _: u32) -> u64 {
            0
        }
    }
    let call = |site, arg, ret| Call {
        callee: Callee::Indirect(1, site),
        args: vec![(arg, I64)],
        fixed: 1,
        ret: Some((ret, I64)),
        ret2: None,
    };
    let add = |b| Bin {
        op: BinOp::Add,
        w: Width::W64,
        dst: 0,
        a: 0,
        b,
    };
    // main(x) = dbl(inc(x)), both through pointers.
    let module = Module {
        functions: vec![
            func(
                "main",
                vec![I64],
                Some(I64),
                4,
                vec![
                    FuncAddr { dst: 1, func: 1 },
                    call(0, 0, 2),
                    FuncAddr { dst: 1, func: 2 },
                    call(1, 2, 3),
                    Ret { value: Some(3) },
                ],
            ),
            func(
                "inc",
                vec![I64],
                Some(I64),
                2,
                vec![Const { dst: 1, value: 1 }, add(1), Ret { value: Some(0) }],
            ),
            func(
                "dbl",
                vec![I64],
                Some(I64),
                1,
                vec![add(0), Ret { value: Some(0) }],
            ),
        ],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    let counters = crate::interp::counters_object(&module);
    let interp = Interp::with_counters(&module, &counters);
    for x in 0..3 {
        assert_eq!(interp.call1(&Pointers, 0, &[x], None).unwrap(), 2 * (x + 1));
    }
    let words: Vec<u64> = counters.iter().map(|w| w.load(Ordering::Relaxed)).collect();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let c = ipc_abi::counters::Counters::parse(&bytes, &words).unwrap();
    assert_eq!(
        c.targets(0).collect::<Vec<_>>(),
        [(0, 1, 3, 3), (1, 2, 3, 3)]
    );
    assert_eq!(c.indirect_calls(0), 2);
}

/// The function running is named in the counters (`RUNNING`, which the
/// profiler samples): set at every entry and every return to a caller.
#[test]
fn the_running_function_is_named_for_the_profiler() {
    use core::sync::atomic::Ordering;
    use ipc_abi::counters::{RUNNING, running_word};
    let fib = fib_module();
    let counters = crate::interp::counters_object(&fib);
    assert_eq!(counters[RUNNING].load(Ordering::Relaxed), 0);
    let interp = Interp::with_counters(&fib, &counters);
    assert_eq!(interp.call1(&Alone, 0, &[10], None).unwrap(), 55);
    assert_eq!(counters[RUNNING].load(Ordering::Relaxed), running_word(0));
    // Without counters nothing is named.
    let interp = Interp::new(&fib);
    let untouched = crate::interp::counters_object(&fib);
    assert_eq!(interp.call1(&Alone, 0, &[10], None).unwrap(), 55);
    assert_eq!(untouched[RUNNING].load(Ordering::Relaxed), 0);
}

/// On-stack replacement: at a back-edge to the header its table names, a
/// running frame leaves for the compiled continuation, which gets every
/// value by the function's `osr` map and whose result is the frame's.
#[test]
fn a_running_loop_moves_to_its_compiled_continuation() {
    use Inst::*;
    use core::cell::Cell;
    use core::sync::atomic::AtomicU64;
    struct Host {
        moved: Cell<Option<(u32, u32)>>,
    }
    impl Machine for Host {
        fn compiled(&self, _: u32) -> Option<u64> {
            None
        }
        fn function_at(&self, _: u64) -> Option<u32> {
            None
        }
        fn function_address(&self, _: u32) -> u64 {
            0
        }
        fn symbol(&self, _: u32) -> u64 {
            0
        }
        fn replaced_on_stack(&self, func: u32, block: u32) {
            self.moved.set(Some((func, block)));
        }
    }
    /// The "compiled" rest of the loop: reports what it was handed.
    extern "C" fn continuation(state: *const u64) -> u64 {
        // SAFETY: the interpreter passes the function's two values.
        let (n, i) = unsafe { (*state, *state.add(1)) };
        n * 1000 + i
    }
    let w = Width::W64;
    let mut f = func(
        "count",
        vec![I64],
        Some(I64),
        3,
        vec![
            Const { dst: 1, value: 0 },
            Const { dst: 2, value: 1 },
            Bin {
                op: BinOp::Add,
                w,
                dst: 1,
                a: 1,
                b: 2,
            },
            CmpBranch {
                p: IntPred::Ult,
                w,
                a: 1,
                b: 0,
                then: 5,
                els: 4,
                edge: 0,
            },
            Ret { value: Some(1) },
            BackJump { to: 2, block: 1 },
        ],
    );
    f.osr = vec![0, 1, NO_REGISTER];
    f.osr_digest = 42;
    let module = Module {
        functions: vec![f],
        symbols: vec![],
        globals: vec![],
    };
    let host = Host {
        moved: Cell::new(None),
    };
    // No continuation yet: the loop runs interpreted to its end.
    let table = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(41)];
    let interp = Interp::new(&module).with_osr(&table);
    assert_eq!(interp.call1(&host, 0, &[5], None).unwrap(), 5);
    assert_eq!(host.moved.get(), None);
    // One for another loop header: still interpreted.
    table[1].store(7, core::sync::atomic::Ordering::Relaxed);
    table[0].store(
        continuation as *const () as u64,
        core::sync::atomic::Ordering::Release,
    );
    assert_eq!(interp.call1(&host, 0, &[5], None).unwrap(), 5);
    // At this header, but built from another function: never used.
    table[1].store(1, core::sync::atomic::Ordering::Relaxed);
    assert_eq!(interp.call1(&host, 0, &[5], None).unwrap(), 5);
    assert_eq!(host.moved.get(), None);
    // At this header: the first back-edge (i = 1) moves the frame.
    table[2].store(42, core::sync::atomic::Ordering::Relaxed);
    assert_eq!(interp.call1(&host, 0, &[5], None).unwrap(), 5001);
    assert_eq!(host.moved.get(), Some((0, 1)));
}

/// Compiled stand-in for `twice` in the next test: the same function,
/// counting its calls.
extern "C" fn twice_compiled(x: i64) -> i64 {
    TWICE_COMPILED_CALLS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    x * 2
}

static TWICE_COMPILED_CALLS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// A function gets compiled after a few calls (the slot changes).
struct CompiledAfter {
    asked: core::cell::Cell<u32>,
    interpreted_calls: u32,
}

impl Machine for CompiledAfter {
    fn compiled(&self, f: u32) -> Option<u64> {
        if f != 1 {
            return None;
        }
        self.asked.set(self.asked.get() + 1);
        (self.asked.get() > self.interpreted_calls).then_some(twice_compiled as *const () as u64)
    }
    fn function_at(&self, _: u64) -> Option<u32> {
        None
    }
    fn function_address(&self, f: u32) -> u64 {
        0x1000 + f as u64
    }
    fn symbol(&self, _: u32) -> u64 {
        0
    }
}

/// `main(n)`: the sum of `twice(i)` for `i < n`, a loop of calls of
/// function 1, whose code is `twice` (it doubles its argument).
fn twice_loop(twice: Vec<Inst>) -> Module {
    use Inst::*;
    let w = Width::W64;
    Module {
        functions: vec![
            // sum of twice(i) for i < n
            func(
                "main",
                vec![I64],
                Some(I64),
                6,
                vec![
                    Const { dst: 3, value: 1 },
                    Const { dst: 1, value: 0 },
                    Const { dst: 2, value: 0 },
                    CmpBranch {
                        p: IntPred::Ult,
                        w,
                        a: 1,
                        b: 0,
                        then: 4,
                        els: 8,
                        edge: 0,
                    },
                    Call {
                        callee: Callee::Function(1),
                        args: vec![(1, I64)],
                        fixed: 1,
                        ret: Some((4, I64)),
                        ret2: None,
                    },
                    Bin {
                        op: BinOp::Add,
                        w,
                        dst: 2,
                        a: 2,
                        b: 4,
                    },
                    Bin {
                        op: BinOp::Add,
                        w,
                        dst: 1,
                        a: 1,
                        b: 3,
                    },
                    BackJump { to: 3, block: 1 },
                    Ret { value: Some(2) },
                ],
            ),
            func("twice", vec![I64], Some(I64), 2, twice),
        ],
        symbols: vec![],
        globals: vec![],
    }
}

/// An interpreted loop calling an interpreted function goes to its
/// compiled code from the first call after the function was compiled,
/// with the same results: the interpreter's own calls (`Op::CallFn`) ask
/// for the callee's tier at every call. A callee copied into its caller
/// (`inline`) runs its copy whatever its tier, as a callee the JIT
/// inlined would.
#[test]
fn interpreted_calls_follow_a_callee_to_its_compiled_code() {
    use crate::interp::{CALLS, COUNTER_WORDS, HEADER_WORDS};
    use Inst::*;
    use core::sync::atomic::Ordering;
    let double = Bin {
        op: BinOp::Add,
        w: Width::W64,
        dst: 1,
        a: 0,
        b: 0,
    };
    // (Then, `twice` with a jump, so that it is called, not copied.)
    for (body, copied) in [
        (
            vec![Jump { to: 1 }, double.clone(), Ret { value: Some(1) }],
            false,
        ),
        (vec![double.clone(), Ret { value: Some(1) }], true),
    ] {
        let module = twice_loop(body);
        validate::check(&module, &names(&module)).unwrap();
        let counters = crate::interp::counters_object(&module);
        let interp = Interp::with_counters(&module, &counters);
        let m = CompiledAfter {
            asked: core::cell::Cell::new(0),
            interpreted_calls: 5,
        };
        let before = TWICE_COMPILED_CALLS.load(Ordering::Relaxed);
        assert_eq!(interp.call1(&m, 0, &[20], None).unwrap(), 380);
        let interpreted = counters[HEADER_WORDS + COUNTER_WORDS + CALLS].load(Ordering::Relaxed);
        let compiled = TWICE_COMPILED_CALLS.load(Ordering::Relaxed) - before;
        if copied {
            assert_eq!((interpreted, compiled), (20, 0));
        } else {
            assert_eq!((interpreted, compiled), (5, 15));
        }
    }
}

/// Two phi moves and the back-edge (or jump) after them run as one op
/// (`exec::three`), in order: the second move reads what the first wrote.
#[test]
fn fused_phi_moves_keep_their_order() {
    use Inst::*;
    let w = Width::W64;
    // i, acc, last = 0, 0, 0; while i < n { acc' = acc + i; i' = i + 1;
    // acc = acc'; last = acc (the new one); i = i' }; return last
    let module = Module {
        functions: vec![func(
            "sum",
            vec![I64],
            Some(I64),
            8,
            vec![
                Const { dst: 1, value: 0 },
                Const { dst: 2, value: 0 },
                Const { dst: 3, value: 1 },
                Const { dst: 6, value: 0 },
                CmpBranch {
                    p: IntPred::Ult,
                    w,
                    a: 1,
                    b: 0,
                    then: 5,
                    els: 11,
                    edge: 0,
                },
                Bin {
                    op: BinOp::Add,
                    w,
                    dst: 5,
                    a: 2,
                    b: 1,
                },
                Bin {
                    op: BinOp::Add,
                    w,
                    dst: 4,
                    a: 1,
                    b: 3,
                },
                Move { dst: 1, src: 4 },
                Move { dst: 2, src: 5 },
                Move { dst: 6, src: 2 },
                BackJump { to: 4, block: 1 },
                Ret { value: Some(6) },
            ],
        )],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    let Body::Code { code, .. } = &module.functions[0].body else {
        unreachable!()
    };
    assert!(matches!(
        crate::exec::translate(code)[8],
        crate::exec::Op::Move2LoopJump {
            d1: 2,
            d2: 6,
            s2: 2,
            ..
        }
    ));
    let interp = Interp::new(&module);
    for n in [0u64, 1, 2, 10, 1000] {
        let want = (0..n).sum::<u64>();
        assert_eq!(
            interp.call1(&Alone, 0, &[n], None).unwrap(),
            want,
            "n = {n}"
        );
    }

    // The same before a forward jump (an edge's stub, `Move2Jump`):
    // f(a, b) = r3 + r2 after r2 = b; r3 = r2 (the new one): 2b.
    let add = Bin {
        op: BinOp::Add,
        w,
        dst: 4,
        a: 3,
        b: 2,
    };
    let code = vec![
        Const { dst: 2, value: 100 },
        Move { dst: 2, src: 1 },
        Move { dst: 3, src: 2 },
        Jump { to: 5 },
        Ret { value: Some(0) },
        add,
        Ret { value: Some(4) },
    ];
    let module = Module {
        functions: vec![func("f", vec![I64, I64], Some(I64), 5, code.clone())],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    assert!(matches!(
        crate::exec::translate(&code)[1],
        crate::exec::Op::Move2Jump {
            d1: 2,
            s1: 1,
            d2: 3,
            s2: 2,
            to: 5
        }
    ));
    let interp = Interp::new(&module);
    assert_eq!(interp.call1(&Alone, 0, &[1, 21], None).unwrap(), 42);
}

/// A small straight-line leaf callee runs as a copy in its interpreted
/// caller's frame (`inline`): the same results, its calls still counted;
/// a callee with branches, or one that calls something, is called as
/// before.
#[test]
fn small_leaf_callees_run_in_their_callers_frame() {
    use crate::exec::Op;
    use crate::interp::{CALLS, COUNTER_WORDS, HEADER_WORDS};
    use Inst::*;
    use core::sync::atomic::Ordering;
    let w = Width::W64;
    let add = |dst, a, b| Bin {
        op: BinOp::Add,
        w,
        dst,
        a,
        b,
    };
    let call = |f, arg, ret| Call {
        callee: Callee::Function(f),
        args: vec![(arg, I64)],
        fixed: 1,
        ret: Some((ret, I64)),
        ret2: None,
    };
    let module = Module {
        functions: vec![
            // sum of min10(i) + wrap(i) + clamp(i) for i < n
            func(
                "main",
                vec![I64],
                Some(I64),
                7,
                vec![
                    Const { dst: 3, value: 1 },
                    Const { dst: 1, value: 0 },
                    Const { dst: 2, value: 0 },
                    CmpBranch {
                        p: IntPred::Ult,
                        w,
                        a: 1,
                        b: 0,
                        then: 4,
                        els: 12,
                        edge: 0,
                    },
                    call(1, 1, 4),
                    call(2, 1, 5),
                    call(3, 1, 6),
                    add(2, 2, 4),
                    add(2, 2, 5),
                    add(2, 2, 6),
                    add(1, 1, 3),
                    BackJump { to: 3, block: 1 },
                    Ret { value: Some(2) },
                ],
            ),
            // min10(x) = x < 10 ? x : 10, straight-line (a select)
            func(
                "min10",
                vec![I64],
                Some(I64),
                3,
                vec![
                    Const { dst: 1, value: 10 },
                    ICmp {
                        p: IntPred::Slt,
                        w,
                        dst: 2,
                        a: 0,
                        b: 1,
                    },
                    Select {
                        dst: 2,
                        cond: 2,
                        a: 0,
                        b: 1,
                    },
                    Ret { value: Some(2) },
                ],
            ),
            // wrap(x) = min10(x) + 1: calls, so not copied
            func(
                "wrap",
                vec![I64],
                Some(I64),
                3,
                vec![
                    Const { dst: 2, value: 1 },
                    call(1, 0, 1),
                    add(1, 1, 2),
                    Ret { value: Some(1) },
                ],
            ),
            // clamp(x): the same with a branch, so not copied
            func(
                "clamp",
                vec![I64],
                Some(I64),
                2,
                vec![
                    Const { dst: 1, value: 10 },
                    CmpBranch {
                        p: IntPred::Slt,
                        w,
                        a: 0,
                        b: 1,
                        then: 2,
                        els: 3,
                        edge: 0,
                    },
                    Ret { value: Some(0) },
                    Ret { value: Some(1) },
                ],
            ),
        ],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    let counters = crate::interp::counters_object(&module);
    let interp = Interp::with_counters(&module, &counters);
    let calls =
        |f: usize| counters[HEADER_WORDS + f * COUNTER_WORDS + CALLS].load(Ordering::Relaxed);
    let n = 25u64;
    let want: u64 = (0..n).map(|i| 3 * i.min(10) + 1).sum();
    assert_eq!(interp.call1(&Alone, 0, &[n], None).unwrap(), want);
    // min10 from main (copied) and from wrap (copied there too); wrap and
    // clamp called.
    assert_eq!((calls(0), calls(1), calls(2), calls(3)), (1, 2 * n, n, n));
    let ops = |f: usize| match &module.functions[f].body {
        Body::Code { code, .. } => {
            let mut ops = crate::exec::translate(code);
            crate::exec::link_calls(&mut ops, code, &module);
            crate::inline::inline_leaves(&module, f, &mut ops);
            ops
        }
        _ => unreachable!(),
    };
    assert!(
        matches!(ops(0)[4], Op::CallInline { calls, .. } if calls as usize == crate::interp::HEADER_WORDS + crate::interp::COUNTER_WORDS + CALLS)
    );
    assert!(matches!(ops(0)[5], Op::CallFn { callee: 2, .. }));
    assert!(matches!(ops(0)[6], Op::CallFn { callee: 3, .. }));
    assert!(
        matches!(ops(2)[1], Op::CallInline { calls, .. } if calls as usize == crate::interp::HEADER_WORDS + crate::interp::COUNTER_WORDS + CALLS)
    );
}

/// A copied callee reads its caller's argument registers directly, unless
/// it writes its own parameters (then the arguments are moved into
/// registers of its own first); either way the caller's registers keep
/// their values.
#[test]
fn copies_read_the_callers_arguments_unless_they_write_their_parameters() {
    use crate::exec::Op;
    use Inst::*;
    let w = Width::W64;
    let bin = |op, dst, a, b| Bin { op, w, dst, a, b };
    let module = Module {
        functions: vec![
            // main(x) = addmul(x, bump(x)) + x
            func(
                "main",
                vec![I64],
                Some(I64),
                4,
                vec![
                    Call {
                        callee: Callee::Function(1),
                        args: vec![(0, I64)],
                        fixed: 1,
                        ret: Some((1, I64)),
                        ret2: None,
                    },
                    Call {
                        callee: Callee::Function(2),
                        args: vec![(0, I64), (1, I64)],
                        fixed: 2,
                        ret: Some((2, I64)),
                        ret2: None,
                    },
                    bin(BinOp::Add, 3, 2, 0),
                    Ret { value: Some(3) },
                ],
            ),
            // bump(p): p = p + 1 (its parameter written); p
            func(
                "bump",
                vec![I64],
                Some(I64),
                2,
                vec![
                    Const { dst: 1, value: 1 },
                    bin(BinOp::Add, 0, 0, 1),
                    Ret { value: Some(0) },
                ],
            ),
            // addmul(p, q) = p + 2 * q
            func(
                "addmul",
                vec![I64, I64],
                Some(I64),
                4,
                vec![
                    Const { dst: 2, value: 2 },
                    bin(BinOp::Mul, 3, 1, 2),
                    bin(BinOp::Add, 3, 0, 3),
                    Ret { value: Some(3) },
                ],
            ),
        ],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    let interp = Interp::new(&module);
    for x in [0u64, 1, 7, u64::MAX] {
        let want = x
            .wrapping_add(2u64.wrapping_mul(x.wrapping_add(1)))
            .wrapping_add(x);
        assert_eq!(
            interp.call1(&Alone, 0, &[x], None).unwrap(),
            want,
            "x = {x}"
        );
    }
    let Body::Code { code, .. } = &module.functions[0].body else {
        unreachable!()
    };
    let mut ops = crate::exec::translate(code);
    crate::exec::link_calls(&mut ops, code, &module);
    crate::inline::inline_leaves(&module, 0, &mut ops);
    let copy_of = |k: usize| match ops[k] {
        Op::CallInline { at, .. } => ops[at as usize],
        other => panic!("call {k} not copied: {other:?}"),
    };
    assert!(
        matches!(copy_of(0), Op::Move { .. }),
        "bump's copy moves its argument in: {:?}",
        copy_of(0)
    );
    assert!(
        !matches!(copy_of(1), Op::Move { .. }),
        "addmul's copy reads main's registers: {:?}",
        copy_of(1)
    );
}

/// A 32-bit index sign-extended, the address it indexes and the 4-byte
/// load through it run as one op (`Op::SextOffsetLoad4`), writing all
/// three registers as the three instructions would.
#[test]
fn a_sign_extended_index_load_is_one_op_and_writes_every_register() {
    use Inst::*;
    let i32_class = Class::Int {
        width: Width::W32,
        signed: true,
    };
    // f(p, i) = p[i] + (i as i64) + (&p[i] - p), i a signed 32-bit index
    let module = Module {
        functions: vec![func(
            "f",
            vec![PTR, i32_class],
            Some(I64),
            8,
            vec![
                Cast {
                    op: crate::format::Cast::SExt {
                        from: Width::W32,
                        to: Width::W64,
                    },
                    dst: 2,
                    a: 1,
                },
                Offset {
                    dst: 3,
                    base: 0,
                    index: 2,
                    scale: 4,
                },
                Load {
                    size: Size::B4,
                    dst: 4,
                    addr: 3,
                },
                Bin {
                    op: BinOp::Add,
                    w: Width::W64,
                    dst: 5,
                    a: 4,
                    b: 2,
                },
                Bin {
                    op: BinOp::Sub,
                    w: Width::W64,
                    dst: 6,
                    a: 3,
                    b: 0,
                },
                Bin {
                    op: BinOp::Add,
                    w: Width::W64,
                    dst: 7,
                    a: 5,
                    b: 6,
                },
                Ret { value: Some(7) },
            ],
        )],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    let Body::Code { code, .. } = &module.functions[0].body else {
        unreachable!()
    };
    assert!(matches!(
        crate::exec::translate(code)[0],
        crate::exec::Op::SextOffsetLoad4 { .. }
    ));
    let data: Vec<u32> = (0..16).map(|k| 1000 + k).collect();
    let middle = data.as_ptr() as u64 + 8 * 4;
    let interp = Interp::new(&module);
    for i in [-8i32, -1, 0, 3, 7] {
        let want = ((1000 + 8 + i as i64) + i as i64 + i as i64 * 4) as u64;
        let got = interp
            .call1(&Alone, 0, &[middle, i as u32 as u64], None)
            .unwrap();
        assert_eq!(got, want, "i = {i}");
    }
}

/// A step and test whose branch is numbered where its edge word would not
/// fit `Op::AddBrEq`'s `k` (or is not counted at all) stays two ops:
/// fused, its counts would land in another branch's words.
#[test]
fn a_step_and_test_numbered_past_the_fused_range_is_not_fused() {
    use crate::exec::{Op, translate};
    let w = Width::W64;
    let pair = |edge| {
        vec![
            Inst::Bin {
                op: BinOp::Add,
                w,
                dst: 1,
                a: 1,
                b: 2,
            },
            Inst::CmpBranch {
                p: IntPred::Ult,
                w,
                a: 1,
                b: 0,
                then: 3,
                els: 2,
                edge,
            },
            Inst::Ret { value: Some(1) },
            Inst::BackJump { to: 0, block: 1 },
        ]
    };
    assert!(matches!(
        translate(&pair(32_766))[0],
        Op::AddBrUlt { k: 65_532, .. }
    ));
    for edge in [32_767, 65_534, 65_535, 70_000] {
        assert!(
            matches!(translate(&pair(edge))[0], Op::Add64 { .. }),
            "edge {edge}: {:?}",
            translate(&pair(edge))[0]
        );
    }
}

/// Calls whose registers fit in their op (up to `CALL_REGS` arguments,
/// one result or none) and calls that do not (`LONG_CALL`) both pass
/// their arguments and results: a callee's prologue constants in the
/// registers just past its parameters survive the registers an op
/// always passes; a callee with no result writes nothing in its caller;
/// a long call from a frame the loop entered through an op passes that
/// frame's registers.
#[test]
fn calls_with_their_registers_in_the_op_and_long_calls_agree() {
    use crate::exec::{LONG_CALL, Op};
    use Inst::*;
    let w = Width::W64;
    let add = |dst, a, b| Bin {
        op: BinOp::Add,
        w,
        dst,
        a,
        b,
    };
    let call = |callee, args: Vec<Reg>, ret: Option<Reg>| Call {
        callee: Callee::Function(callee),
        fixed: args.len() as u16,
        args: args.into_iter().map(|r| (r, I64)).collect(),
        ret: ret.map(|r| (r, I64)),
        ret2: None,
    };
    let module = Module {
        functions: vec![
            // main(x) = plus100(x) + mix4(x, 2, 3, 4) + sum5(x, 2, 3, 4, 5)
            //   + via(x), with nothing() between, which must leave r9
            //   alone.
            func(
                "main",
                vec![I64],
                Some(I64),
                11,
                vec![
                    Const { dst: 1, value: 2 },
                    Const { dst: 2, value: 3 },
                    Const { dst: 3, value: 4 },
                    Const { dst: 4, value: 5 },
                    Const { dst: 9, value: 7 },
                    call(1, vec![0], Some(5)),
                    call(4, vec![], None),
                    call(2, vec![0, 1, 2, 3], Some(6)),
                    call(3, vec![0, 1, 2, 3, 4], Some(7)),
                    add(8, 5, 6),
                    add(8, 8, 7),
                    add(8, 8, 9),
                    call(5, vec![0], Some(10)),
                    add(8, 8, 10),
                    Ret { value: Some(8) },
                ],
            ),
            // plus100(a) = a + 100, the constant in register 1. (Each
            // callee jumps once: a straight-line one would be copied into
            // its caller, `inline`, and not called.)
            func(
                "plus100",
                vec![I64],
                Some(I64),
                3,
                vec![
                    Const { dst: 1, value: 100 },
                    Jump { to: 2 },
                    add(2, 0, 1),
                    Ret { value: Some(2) },
                ],
            ),
            // mix4(a, b, c, d) = (a - b) * c + d
            func(
                "mix4",
                vec![I64, I64, I64, I64],
                Some(I64),
                6,
                vec![
                    Jump { to: 1 },
                    Bin {
                        op: BinOp::Sub,
                        w,
                        dst: 4,
                        a: 0,
                        b: 1,
                    },
                    Bin {
                        op: BinOp::Mul,
                        w,
                        dst: 5,
                        a: 4,
                        b: 2,
                    },
                    add(5, 5, 3),
                    Ret { value: Some(5) },
                ],
            ),
            // sum5(a, b, c, d, e)
            func(
                "sum5",
                vec![I64, I64, I64, I64, I64],
                Some(I64),
                6,
                vec![
                    Jump { to: 1 },
                    add(5, 0, 1),
                    add(5, 5, 2),
                    add(5, 5, 3),
                    add(5, 5, 4),
                    Ret { value: Some(5) },
                ],
            ),
            func(
                "nothing",
                vec![],
                None,
                1,
                vec![Jump { to: 1 }, Ret { value: None }],
            ),
            // via(a) = sum5(a, 20, 30, 40, 50)
            func(
                "via",
                vec![I64],
                Some(I64),
                6,
                vec![
                    Const { dst: 1, value: 20 },
                    Const { dst: 2, value: 30 },
                    Const { dst: 3, value: 40 },
                    Const { dst: 4, value: 50 },
                    call(3, vec![0, 1, 2, 3, 4], Some(5)),
                    Ret { value: Some(5) },
                ],
            ),
        ],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    let Body::Code { code, .. } = &module.functions[0].body else {
        unreachable!()
    };
    let mut ops = crate::exec::translate(code);
    crate::exec::link_calls(&mut ops, code, &module);
    crate::inline::inline_leaves(&module, 0, &mut ops);
    assert!(matches!(
        ops[5],
        Op::CallFn {
            callee: 1,
            n: 1,
            d: 5,
            ..
        }
    ));
    assert!(matches!(
        ops[6],
        Op::CallFn {
            callee: 4,
            n: 0,
            d: NO_REGISTER,
            ..
        }
    ));
    assert!(matches!(
        ops[7],
        Op::CallFn {
            callee: 2,
            n: 4,
            d: 6,
            a: [0, 1, 2, 3]
        }
    ));
    assert!(matches!(
        ops[8],
        Op::CallFn {
            callee: 3,
            n: LONG_CALL,
            ..
        }
    ));
    assert!(matches!(
        ops[12],
        Op::CallFn {
            callee: 5,
            n: 1,
            d: 10,
            ..
        }
    ));
    let interp = Interp::new(&module);
    for x in [0u64, 9, u64::MAX] {
        let want = x
            .wrapping_add(100)
            .wrapping_add(x.wrapping_sub(2).wrapping_mul(3).wrapping_add(4))
            .wrapping_add(x.wrapping_add(14))
            .wrapping_add(7)
            .wrapping_add(x.wrapping_add(140));
        assert_eq!(
            interp.call1(&Alone, 0, &[x], None).unwrap(),
            want,
            "x = {x}"
        );
    }
}

/// A constant offset from a prologue register (the address of a global's
/// field) is part of the prologue: set when a frame starts, with the
/// constants, not run as an op; an offset from a parameter is not.
#[test]
fn constant_offsets_of_prologue_registers_are_set_with_it() {
    use Inst::*;
    let code = vec![
        Const {
            dst: 1,
            value: 1000,
        },
        AddImm {
            dst: 2,
            a: 1,
            imm: 5,
        },
        AddImm {
            dst: 3,
            a: 2,
            imm: -10,
        },
        AddImm {
            dst: 4,
            a: 0,
            imm: 1,
        },
        Bin {
            op: BinOp::Add,
            w: Width::W64,
            dst: 5,
            a: 4,
            b: 3,
        },
        Ret { value: Some(5) },
    ];
    assert_eq!(crate::interp::prologue_len(&code), 3);
    let module = Module {
        functions: vec![func("f", vec![I64], Some(I64), 6, code)],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    let interp = Interp::new(&module);
    for x in [0u64, 7, u64::MAX] {
        let want = x.wrapping_add(1).wrapping_add(995);
        assert_eq!(interp.call1(&Alone, 0, &[x], None).unwrap(), want);
        // Again: the values are found once, at the first call.
        assert_eq!(interp.call1(&Alone, 0, &[x], None).unwrap(), want);
    }
}

static SQRT_CALLS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The C library's `sqrt` as the interpreter reaches it: counts its calls.
extern "C" fn counted_sqrt(x: f64) -> f64 {
    SQRT_CALLS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    x.sqrt()
}

/// A call of the C library's `sqrt` is computed in the loop (the same
/// correctly rounded square root) for every argument but a negative one,
/// which still calls the library (it sets `errno`); a function named
/// otherwise is called, whatever it computes.
#[test]
fn sqrt_is_computed_without_a_call_but_for_negative_arguments() {
    use Inst::*;
    use core::sync::atomic::Ordering;
    let call = |sym| Call {
        callee: Callee::Symbol(sym),
        args: vec![(0, Class::F64)],
        fixed: 1,
        ret: Some((1, Class::F64)),
        ret2: None,
    };
    let module = |name: &str| Module {
        functions: vec![func(
            "f",
            vec![Class::F64],
            Some(Class::F64),
            2,
            vec![call(0), Ret { value: Some(1) }],
        )],
        symbols: vec![Symbol {
            name: name.into(),
            kind: SymbolKind::External,
        }],
        globals: vec![],
    };
    let machine = Native {
        symbols: vec![counted_sqrt as *const () as u64],
        stubs: vec![],
    };
    let args = [
        2.0,
        0.0,
        -0.0,
        1e-310,
        f64::INFINITY,
        f64::NAN,
        -1.0,
        f64::NEG_INFINITY,
    ];
    for (name, calls) in [("sqrt", 2), ("not_sqrt", args.len() as u64)] {
        let m = module(name);
        validate::check(&m, &names(&m)).unwrap();
        let interp = Interp::new(&m);
        let before = SQRT_CALLS.load(Ordering::Relaxed);
        for x in args {
            let got = interp.call1(&machine, 0, &[x.to_bits()], None).unwrap();
            assert_eq!(got, x.sqrt().to_bits(), "{name}({x})");
        }
        assert_eq!(SQRT_CALLS.load(Ordering::Relaxed) - before, calls, "{name}");
    }
}

/// `x += y` on memory (load, add, store through the same address) is one
/// op, 64-bit and 32-bit (wrapping in its width), with the loaded value
/// as either operand or both; the add and the store keep ops of their
/// own for a jump that lands on them.
#[test]
fn an_addition_to_memory_is_one_op() {
    use crate::exec::Op;
    use Inst::*;
    // f(p, y, go) = { if go: *p += y (fused), else the same add and
    // store entered at the add, from `l = 7` } twice, the second time
    // `*p = *p + *p`; returns the last sum.
    let body = |size: Size, w: Width| {
        vec![
            Const { dst: 6, value: 7 },
            CmpBranch {
                p: IntPred::Ne,
                w: Width::W64,
                a: 2,
                b: 6,
                then: 2,
                els: 8,
                edge: 0,
            },
            Load {
                size,
                dst: 3,
                addr: 0,
            },
            Bin {
                op: BinOp::Add,
                w,
                dst: 4,
                a: 3,
                b: 1,
            },
            Store {
                size,
                addr: 0,
                src: 4,
            },
            Load {
                size,
                dst: 3,
                addr: 0,
            },
            Bin {
                op: BinOp::Add,
                w,
                dst: 5,
                a: 3,
                b: 3,
            },
            Store {
                size,
                addr: 0,
                src: 5,
            },
            // The add alone, from l = 7 (the branch's other side).
            Move { dst: 3, src: 6 },
            Jump { to: 3 },
        ]
    };
    for (size, w, ret) in [(Size::B8, Width::W64, I64), (Size::B4, Width::W32, I32)] {
        let mut code = body(size, w);
        code.insert(8, Ret { value: Some(5) });
        // Jump targets after the inserted return moved by one.
        if let CmpBranch { els, .. } = &mut code[1] {
            *els = 9;
        }
        let module = Module {
            functions: vec![func("f", vec![PTR, ret, I64], Some(ret), 7, code.clone())],
            symbols: vec![],
            globals: vec![],
        };
        validate::check(&module, &names(&module)).unwrap();
        let ops = crate::exec::translate(&code);
        assert!(matches!(
            ops[2],
            Op::LoadAddStore {
                l: 3,
                p: 0,
                s: 4,
                a: 3,
                b: 1,
                ..
            }
        ));
        assert!(matches!(
            ops[5],
            Op::LoadAddStore {
                l: 3,
                p: 0,
                s: 5,
                a: 3,
                b: 3,
                ..
            }
        ));
        assert!(!matches!(ops[3], Op::LoadAddStore { .. }));
        let interp = Interp::new(&module);
        let mask = if w == Width::W32 {
            u32::MAX as u64
        } else {
            u64::MAX
        };
        for (start, y) in [(5u64, 3u64), (u32::MAX as u64, 2), (u64::MAX, 1)] {
            let start = start & mask;
            let mut cell: u64 = start;
            let p = &mut cell as *mut u64 as u64;
            let got = interp.call1(&Alone, 0, &[p, y & mask, 0], None).unwrap();
            let once = start.wrapping_add(y & mask) & mask;
            let twice = once.wrapping_add(once) & mask;
            assert_eq!(got, twice, "{w:?} {start} {y}");
            assert_eq!(cell & mask, twice);
            // Entered at the add: 7 + y stored, then doubled.
            let mut cell: u64 = start;
            let p = &mut cell as *mut u64 as u64;
            let got = interp.call1(&Alone, 0, &[p, y & mask, 7], None).unwrap();
            let once = 7u64.wrapping_add(y & mask) & mask;
            assert_eq!(
                got,
                once.wrapping_add(once) & mask,
                "{w:?} {start} {y} at the add"
            );
        }
    }
}

/// Compiled stand-in for `twice` in the next test, counting its calls.
extern "C" fn twice_in_slot(x: i64) -> i64 {
    TWICE_SLOT_CALLS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    x * 2
}

static TWICE_SLOT_CALLS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// `twice`'s dispatch slot in the next test.
static TWICE_SLOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(LAZY);
const LAZY: u64 = 0x5107;

/// A host whose slots say which functions are still interpreted
/// (`Machine::interpreted_while`), as the app host's do.
struct Slots {
    asked: core::cell::Cell<u32>,
}

impl Machine for Slots {
    fn compiled(&self, f: u32) -> Option<u64> {
        self.asked.set(self.asked.get() + 1);
        let code = TWICE_SLOT.load(core::sync::atomic::Ordering::Relaxed);
        (f == 1 && code != LAZY).then_some(code)
    }
    fn interpreted_while(&self, f: u32) -> Option<(&'static core::sync::atomic::AtomicU64, u64)> {
        (f == 1).then_some((&TWICE_SLOT, LAZY))
    }
    fn function_at(&self, _: u64) -> Option<u32> {
        None
    }
    fn function_address(&self, f: u32) -> u64 {
        0x1000 + f as u64
    }
    fn symbol(&self, _: u32) -> u64 {
        0
    }
}

/// While a callee's slot holds the value its host named, calls of it are
/// interpreted without asking the host; once the slot changes, they go
/// to the code it names.
#[test]
fn a_callee_is_interpreted_while_its_slot_says_so() {
    use Inst::*;
    use core::sync::atomic::Ordering;
    // twice jumps once (so that it is called, not copied into main).
    let module = twice_loop(vec![
        Jump { to: 1 },
        Bin {
            op: BinOp::Add,
            w: Width::W64,
            dst: 1,
            a: 0,
            b: 0,
        },
        Ret { value: Some(1) },
    ]);
    validate::check(&module, &names(&module)).unwrap();
    let counters = crate::interp::counters_object(&module);
    let interp = Interp::with_counters(&module, &counters);
    let host = Slots {
        asked: core::cell::Cell::new(0),
    };
    let interpreted = || {
        counters[crate::interp::HEADER_WORDS + crate::interp::COUNTER_WORDS + crate::interp::CALLS]
            .load(Ordering::Relaxed)
    };
    assert_eq!(interp.call1(&host, 0, &[20], None).unwrap(), 380);
    assert_eq!((interpreted(), host.asked.get()), (20, 0));
    // Compiled: every call goes there (and asks where).
    TWICE_SLOT.store(twice_in_slot as *const () as u64, Ordering::Relaxed);
    assert_eq!(interp.call1(&host, 0, &[20], None).unwrap(), 380);
    assert_eq!(interpreted(), 20);
    assert_eq!(TWICE_SLOT_CALLS.load(Ordering::Relaxed), 20);
    assert!(host.asked.get() >= 20);
}

/// Runs `code` as function `f(params) -> ret` with `args`; returns the
/// op its first instruction became (fused with those after it, or not)
/// and the result.
fn fused_run(
    params: Vec<Class>,
    ret: Class,
    code: Vec<Inst>,
    args: &[u64],
) -> (crate::exec::Op, Result<u64, Trap>) {
    let module = Module {
        functions: vec![func("f", params, Some(ret), 8, code.clone())],
        symbols: vec![],
        globals: vec![],
    };
    validate::check(&module, &names(&module)).unwrap();
    let op = crate::exec::translate(&code)[0];
    (op, Interp::new(&module).call1(&Alone, 0, args, None))
}

/// [`fused_run`] of code that does not trap: the op and the result.
fn fused_ok(
    params: Vec<Class>,
    ret: Class,
    code: Vec<Inst>,
    args: &[u64],
) -> (crate::exec::Op, u64) {
    let (op, got) = fused_run(params, ret, code, args);
    (op, got.expect("the code does not trap"))
}

/// Frequent pairs of operations run as one op (`exec::arithmetic_pair`),
/// each reading its registers after the one before wrote its own, with
/// the results of the two.
#[test]
fn arithmetic_pairs_are_one_op_and_compute_as_two() {
    use crate::exec::Op;
    use Inst::*;
    let f64c = Class::F64;
    let run = fused_ok;
    let f = |x: f64| x.to_bits();
    // d1 = a + b; d2 = d1 + c, in 32 and 64 bits.
    for (w, class, mask) in [
        (Width::W32, I32, u32::MAX as u64),
        (Width::W64, I64, u64::MAX),
    ] {
        let add = |dst, a, b| Bin {
            op: BinOp::Add,
            w,
            dst,
            a,
            b,
        };
        let (a, b, c) = (mask, 5, 0x7fff_ffff);
        let (op, got) = run(
            vec![class, class, class],
            class,
            vec![add(3, 0, 1), add(4, 3, 2), Ret { value: Some(4) }],
            &[a, b, c],
        );
        assert!(matches!(
            op,
            Op::AddAdd {
                d1: 3,
                d2: 4,
                a2: 3,
                ..
            }
        ));
        assert_eq!(got, a.wrapping_add(b).wrapping_add(c) & mask);
    }
    // Two stores, the second one wins where they meet.
    for size in [Size::B4, Size::B8] {
        let mut cells = [0u64; 2];
        let (p, q) = (
            &mut cells[0] as *mut u64 as u64,
            &mut cells[1] as *mut u64 as u64,
        );
        let store = |addr, src| Store { size, addr, src };
        let code = vec![store(0, 2), store(1, 3), Ret { value: Some(2) }];
        let (op, _) = run(vec![PTR, PTR, I64, I64], I64, code.clone(), &[p, q, 11, 22]);
        assert!(matches!(
            op,
            Op::StoreStore {
                a1: 0,
                v1: 2,
                a2: 1,
                v2: 3,
                ..
            }
        ));
        assert_eq!(cells, [11, 22]);
        run(vec![PTR, PTR, I64, I64], I64, code, &[p, p, 33, 44]);
        assert_eq!(cells, [44, 22]);
    }
    // d = a * b + c, stored.
    let mut cell = 0u64;
    let p = &mut cell as *mut u64 as u64;
    let (op, got) = run(
        vec![f64c, f64c, f64c, PTR],
        f64c,
        vec![
            FMulAdd {
                f: Float::F64,
                dst: 4,
                a: 0,
                b: 1,
                c: 2,
            },
            Store {
                size: Size::B8,
                addr: 3,
                src: 4,
            },
            Ret { value: Some(4) },
        ],
        &[f(1.5), f(-2.0), f(0.25), p],
    );
    assert!(matches!(op, Op::F64MulAddStore { d: 4, addr: 3, .. }));
    assert_eq!((got, cell), (f(-2.75), f(-2.75)));
    // d1 = a * b; d2 = d1 * c + a.
    let (op, got) = run(
        vec![f64c, f64c, f64c],
        f64c,
        vec![
            F64Mul { dst: 3, a: 0, b: 1 },
            FMulAdd {
                f: Float::F64,
                dst: 4,
                a: 3,
                b: 2,
                c: 0,
            },
            Ret { value: Some(4) },
        ],
        &[f(3.0), f(0.5), f(4.0)],
    );
    assert!(matches!(op, Op::F64MulMulAdd { d1: 3, a2: 3, .. }));
    assert_eq!(got, f(3.0 * 0.5 * 4.0 + 3.0));
    // d1 = -a; d2 = d1 * b.
    let (op, got) = run(
        vec![f64c, f64c],
        f64c,
        vec![
            FUn {
                op: FUnOp::Neg,
                f: Float::F64,
                dst: 2,
                a: 0,
            },
            F64Mul { dst: 3, a: 2, b: 1 },
            Ret { value: Some(3) },
        ],
        &[f(0.0), f(5.0)],
    );
    assert!(matches!(op, Op::F64NegMul { d1: 2, a2: 2, .. }));
    assert_eq!(got, f(-0.0 * 5.0));
}

/// More fused sequences (`exec::arithmetic_pair`, `exec::three`): two
/// loads, a multiply and a signed division (which still traps on zero),
/// a conversion and a division, a division and an edge's move and jump,
/// an element's field loaded; each computes what its instructions do.
#[test]
fn loads_divisions_and_field_loads_fuse_and_compute_as_before() {
    use crate::exec::Op;
    use Inst::*;
    let f64c = Class::F64;
    let run = fused_run;
    let f = |x: f64| x.to_bits();
    // Two loads: the second through the address the first loaded.
    let mut second = 77u64;
    let mut first = &mut second as *mut u64 as u64;
    let p = &mut first as *mut u64 as u64;
    let load = |dst, addr| Load {
        size: Size::B8,
        dst,
        addr,
    };
    let (op, got) = run(
        vec![PTR],
        I64,
        vec![load(1, 0), load(2, 1), Ret { value: Some(2) }],
        &[p],
    );
    assert!(matches!(op, Op::LoadLoad { d1: 1, a2: 1, .. }));
    assert_eq!(got, Ok(77));
    // (a * b) / c in 32 bits, signed; division by zero traps.
    let bin = |op, dst, a, b| Bin {
        op,
        w: Width::W32,
        dst,
        a,
        b,
    };
    let code = vec![
        bin(BinOp::Mul, 3, 0, 1),
        bin(BinOp::SDiv, 4, 3, 2),
        Ret { value: Some(4) },
    ];
    let (op, got) = run(
        vec![I32, I32, I32],
        I32,
        code.clone(),
        &[7, (-6i32) as u32 as u64, 4],
    );
    assert!(matches!(op, Op::MulSDiv32 { d1: 3, a2: 3, .. }));
    assert_eq!(got, Ok((-42i32 / 4) as u32 as u64));
    let (_, got) = run(vec![I32, I32, I32], I32, code, &[7, 6, 0]);
    assert_eq!(got, Err(Trap::Divide));
    // 1.0 / (double) i.
    let i32_to_f64 = |dst, a| Cast {
        op: crate::format::Cast::SiToFp {
            from: Width::W32,
            to: Float::F64,
        },
        dst,
        a,
    };
    let (op, got) = run(
        vec![I32, f64c],
        f64c,
        vec![
            i32_to_f64(2, 0),
            F64Div { dst: 3, a: 1, b: 2 },
            Ret { value: Some(3) },
        ],
        &[(-8i32) as u32 as u64, f(1.0)],
    );
    assert!(matches!(op, Op::I32ToF64Div { d1: 2, b2: 2, .. }));
    assert_eq!(got, Ok(f(-0.125)));
    // A division, then its result moved over an edge.
    let (op, got) = run(
        vec![f64c, f64c],
        f64c,
        vec![
            F64Div { dst: 2, a: 0, b: 1 },
            Move { dst: 3, src: 2 },
            Jump { to: 4 },
            Ret { value: Some(0) },
            Ret { value: Some(3) },
        ],
        &[f(3.0), f(4.0)],
    );
    assert!(matches!(
        op,
        Op::F64DivMoveJump {
            d: 2,
            md: 3,
            ms: 2,
            to: 4,
            ..
        }
    ));
    assert_eq!(got, Ok(f(0.75)));
    // bodies[i].v: base + i * 24, + 8, loaded.
    let cells = [1.5f64, 2.5, 3.5, 4.5, 5.5, 6.5];
    let (op, got) = run(
        vec![PTR, I64],
        f64c,
        vec![
            Offset {
                dst: 2,
                base: 0,
                index: 1,
                scale: 24,
            },
            AddImm {
                dst: 3,
                a: 2,
                imm: 8,
            },
            load(4, 3),
            Ret { value: Some(4) },
        ],
        &[cells.as_ptr() as u64, 1],
    );
    assert!(matches!(
        op,
        Op::OffsetFieldLoad8 {
            d1: 2,
            d2: 3,
            v: 4,
            scale: 24,
            imm: 8,
            ..
        }
    ));
    assert_eq!(got, Ok(f(5.5)));
    // s + a * v[i] (the loaded value either side of the product; the
    // sum reading the loaded value too in the second).
    for (a, b, c, want) in [(2, 4, 3, 0.5 + 3.0 * 4.5), (4, 2, 4, 4.5 + 4.5 * 3.0)] {
        let (op, got) = run(
            vec![PTR, I64, f64c, f64c],
            f64c,
            vec![
                Offset {
                    dst: 4,
                    base: 0,
                    index: 1,
                    scale: 8,
                },
                load(4, 4),
                FMulAdd {
                    f: Float::F64,
                    dst: 5,
                    a,
                    b,
                    c,
                },
                Ret { value: Some(5) },
            ],
            &[cells.as_ptr() as u64, 3, f(3.0), f(0.5)],
        );
        assert!(
            matches!(
                op,
                Op::F64LoadMulAdd {
                    d: 4,
                    v: 4,
                    md: 5,
                    ma: 2,
                    ..
                }
            ),
            "{op:?}"
        );
        assert_eq!(got, Ok(f(want)));
    }
    // A copied callee's `return 1.0 / n` going back: the conversion, the
    // division by it, the move and the jump.
    let (op, got) = run(
        vec![I32, f64c],
        f64c,
        vec![
            i32_to_f64(2, 0),
            F64Div { dst: 3, a: 1, b: 2 },
            Move { dst: 4, src: 3 },
            Jump { to: 5 },
            Ret { value: Some(0) },
            Ret { value: Some(4) },
        ],
        &[(-8i32) as u32 as u64, f(1.0)],
    );
    assert!(matches!(
        op,
        Op::I32ToF64DivMoveJump {
            d1: 2,
            d2: 3,
            md: 4,
            ms: 3,
            to: 5,
            ..
        }
    ));
    assert_eq!(got, Ok(f(-0.125)));
}

/// `return x + y` is one op (`Op::AddRet`), which returns the sum at the
/// addition's width; a return of anything else is not fused with the
/// addition before it.
#[test]
fn a_returned_sum_is_one_op() {
    use crate::exec::Op;
    use Inst::*;
    let add = |w, dst| Bin {
        op: BinOp::Add,
        w,
        dst,
        a: 0,
        b: 1,
    };
    for (w, class, want) in [(Width::W32, I32, 1), (Width::W64, I64, 0x1_0000_0001)] {
        let (op, got) = fused_run(
            vec![class, class],
            class,
            vec![add(w, 2), Ret { value: Some(2) }],
            &[0xffff_ffff, 2],
        );
        assert_eq!(
            op,
            Op::AddRet {
                w32: w == Width::W32,
                a: 0,
                b: 1
            }
        );
        assert_eq!(got, Ok(want));
    }
    let (op, got) = fused_run(
        vec![I64, I64],
        I64,
        vec![add(Width::W64, 2), Ret { value: Some(0) }],
        &[5, 2],
    );
    assert!(!matches!(op, Op::AddRet { .. }), "{op:?}");
    assert_eq!(got, Ok(5));
}

/// Loads fused with what follows them: an element copied into a field,
/// a load and a move, a load and a field or element loaded, a
/// subtraction and a load, a multiply and a division; each computes what
/// its instructions do, later ones reading what earlier ones wrote.
#[test]
fn loads_fused_with_what_follows_compute_as_before() {
    use crate::exec::Op;
    use Inst::*;
    let f64c = Class::F64;
    let run = fused_ok;
    let f = |x: f64| x.to_bits();
    let load = |size, dst, addr| Load { size, dst, addr };
    let field = |dst, a, imm| AddImm { dst, a, imm };
    // dst[1] = *src, 4 and 8 bytes.
    for size in [Size::B4, Size::B8] {
        let src = 0x1234_5678u64;
        let mut dst = [0u64; 2];
        let (op, _) = run(
            vec![PTR, PTR],
            I64,
            vec![
                load(size, 2, 0),
                field(3, 1, 8),
                Store {
                    size,
                    addr: 3,
                    src: 2,
                },
                Ret { value: Some(2) },
            ],
            &[&src as *const u64 as u64, dst.as_mut_ptr() as u64],
        );
        assert!(matches!(
            op,
            Op::LoadFieldStore {
                d1: 2,
                d2: 3,
                v: 2,
                imm: 8,
                ..
            }
        ));
        assert_eq!(dst, [0, src]);
    }
    // A load, then its value moved.
    let x = 99u64;
    let (op, got) = run(
        vec![PTR],
        I64,
        vec![
            load(Size::B8, 1, 0),
            Move { dst: 2, src: 1 },
            Ret { value: Some(2) },
        ],
        &[&x as *const u64 as u64],
    );
    assert!(matches!(
        op,
        Op::LoadMove {
            d: 1,
            md: 2,
            ms: 1,
            ..
        }
    ));
    assert_eq!(got, 99);
    // A pointer loaded, then a field of what it points at.
    let cells = [f(1.0), f(2.0), f(3.0)];
    let p = cells.as_ptr() as u64;
    let (op, got) = run(
        vec![PTR],
        f64c,
        vec![
            load(Size::B8, 1, 0),
            field(2, 1, 16),
            load(Size::B8, 3, 2),
            Ret { value: Some(3) },
        ],
        &[&p as *const u64 as u64],
    );
    assert!(matches!(
        op,
        Op::LoadFieldLoad8 {
            d1: 1,
            base: 1,
            d2: 2,
            v: 3,
            ..
        }
    ));
    assert_eq!(got, f(3.0));
    // ... or an element of it, indexed by what was loaded first.
    let one = 1u64;
    let (op, got) = run(
        vec![PTR, PTR],
        f64c,
        vec![
            load(Size::B8, 2, 0),
            Offset {
                dst: 3,
                base: 1,
                index: 2,
                scale: 8,
            },
            load(Size::B8, 4, 3),
            Ret { value: Some(4) },
        ],
        &[&one as *const u64 as u64, p],
    );
    assert!(matches!(
        op,
        Op::LoadOffsetLoad8 {
            d1: 2,
            index: 2,
            d2: 3,
            v: 4,
            ..
        }
    ));
    assert_eq!(got, f(2.0));
    // a - b, then a load.
    let (op, got) = run(
        vec![f64c, f64c, PTR],
        f64c,
        vec![
            F64Sub { dst: 3, a: 0, b: 1 },
            load(Size::B8, 4, 2),
            F64Add { dst: 5, a: 3, b: 4 },
            Ret { value: Some(5) },
        ],
        &[f(10.0), f(4.0), p],
    );
    assert!(matches!(op, Op::F64SubLoad8 { d1: 3, d2: 4, .. }));
    assert_eq!(got, f(7.0));
    // (a * b), then a / that.
    let (op, got) = run(
        vec![f64c, f64c],
        f64c,
        vec![
            F64Mul { dst: 2, a: 0, b: 1 },
            F64Div { dst: 3, a: 0, b: 2 },
            Ret { value: Some(3) },
        ],
        &[f(3.0), f(4.0)],
    );
    assert!(matches!(op, Op::F64MulDiv { d1: 2, b2: 2, .. }));
    assert_eq!(got, f(0.25));
}
