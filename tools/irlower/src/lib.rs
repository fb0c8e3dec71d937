//! Lowers a program's LLVM IR (what clang emits for C at `-O0`) to the
//! interpreter tier's bytecode (`bytecode::format`), on the host, when the
//! initrd is built: the app host then interprets it without LLVM. A
//! function using something the interpreter does not run is recorded as
//! `Unsupported` with the construct named, and starts compiled instead.
//! `bcrun` (a binary of this crate) runs bytecode on the host, for tests
//! and for comparing with LLVM's own interpreter.
#![deny(unsafe_code)]

mod data;
pub mod llvm;
mod lower;

use bytecode::format::{Body, Function, Module, RelocTarget, Symbol, SymbolKind};
use llvm::{Ir, Kind, Value};
use std::collections::HashMap;

/// The program's functions, globals and the symbols code refers to.
pub struct Names {
    functions: HashMap<String, u32>,
    globals: HashMap<String, u32>,
    symbols: Vec<Symbol>,
    symbol_index: HashMap<(String, bool), u32>,
}

impl Names {
    /// A defined function's index in the function table.
    pub fn function(&self, name: &str) -> Option<u32> {
        self.functions.get(name).copied()
    }

    fn symbol(&mut self, name: &str, kind: SymbolKind) -> u32 {
        let key = (name.to_string(), kind == SymbolKind::Global);
        if let Some(&i) = self.symbol_index.get(&key) {
            return i;
        }
        let i = self.symbols.len() as u32;
        self.symbols.push(Symbol {
            name: name.to_string(),
            kind,
        });
        self.symbol_index.insert(key, i);
        i
    }

    /// A name from outside the program (the C library).
    pub fn external(&mut self, name: &str) -> u32 {
        self.symbol(name, SymbolKind::External)
    }

    /// The symbol code uses for global variable `g` (defined here or not).
    pub fn global_symbol(&mut self, g: &Value) -> u32 {
        let name = g.name();
        if self.globals.contains_key(&name) {
            self.symbol(&name, SymbolKind::Global)
        } else {
            self.external(&name)
        }
    }

    /// What an address of global `g` in another global's image points at.
    pub fn global_target(&mut self, g: &Value) -> RelocTarget {
        match self.globals.get(&g.name()) {
            Some(&i) => RelocTarget::Global(i),
            None => RelocTarget::Symbol(self.external(&g.name())),
        }
    }
}

/// LLVM passes run on each function before it is lowered: what the
/// interpreter saves most is instructions it never dispatches. Locals
/// leave their `alloca`s for registers (`sroa`; clang's -O0 IR keeps every
/// local in memory), redundant and loop-invariant computations go
/// (`early-cse`, `gvn`, `licm`), instruction sequences get simpler
/// (`instcombine`, `simplifycfg`), loops test at their bottom
/// (`loop-rotate`: one branch per iteration instead of a test and a jump).
/// Loops of a small constant trip count are unrolled whole and others
/// partially where the body is small (`loop-unroll<O2;partial>`: each
/// iteration's step, test and back-edge are ops the interpreter no longer
/// dispatches; not runtime unrolling, whose set-up made fannkuch's short
/// loops slower). Only passes within a function: no inlining (every
/// function keeps its body, its slot and its profile), no vectorizing
/// (vector operations the interpreter does not have).
/// `no-verify-fixpoint`: instcombine's check that one round sufficed is a
/// fatal error in LLVM 19, not a result. Its home is `ipc_abi`: the JIT
/// runs the same passes to build on-stack-replacement continuations.
pub use ipc_abi::proto::jit::LOWERING_PIPELINE as PIPELINE;

/// Lowers IR text (or bitcode) to a module. Errors are for IR that does
/// not parse or globals whose initial image cannot be made; functions the
/// interpreter cannot run are in the module as `Unsupported`.
pub fn lower(ir: &[u8]) -> Result<Module, String> {
    let parsed = Ir::parse(ir)?;
    parsed.forbid_builtins();
    parsed.run_passes(PIPELINE)?;
    let defined: Vec<Value> = parsed
        .functions()
        .into_iter()
        .filter(|f| !f.is_declaration())
        .collect();
    let global_defs: Vec<Value> = parsed
        .globals()
        .into_iter()
        .filter(|g| !g.is_declaration())
        .collect();
    let mut names = Names {
        functions: defined
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name(), i as u32))
            .collect(),
        globals: global_defs
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name(), i as u32))
            .collect(),
        symbols: Vec::new(),
        symbol_index: HashMap::new(),
    };
    let mut globals = Vec::new();
    for g in &global_defs {
        let image = data::image(&parsed, &mut names, *g)
            .map_err(|e| format!("global @{}: {e}", g.name()))?;
        globals.push(image);
    }
    let mut functions = Vec::new();
    for f in &defined {
        functions.push(function(&parsed, &mut names, *f));
    }
    Ok(Module {
        functions,
        symbols: names.symbols,
        globals,
    })
}

fn function(ir: &Ir, names: &mut Names, f: Value) -> Function {
    let fty = f.function_type();
    let signature = (|| -> Result<_, String> {
        let mut params = Vec::new();
        for (k, t) in fty.param_types().into_iter().enumerate() {
            params.push(match f.byval_type(k as u32) {
                Some(t) => lower::memory_class(t, ir)?,
                None => lower::class(t, f.has_param_attribute(k as u32, "signext"))?,
            });
        }
        let ret = match (fty.return_type().kind(), lower::pair(fty.return_type())) {
            (Kind::Void, _) => (None, None),
            (Kind::Int(128), _) => {
                let w64 = bytecode::format::Class::Int {
                    width: bytecode::format::Width::W64,
                    signed: false,
                };
                (Some(w64), Some(w64))
            }
            (_, Some((t0, t1))) => (
                Some(lower::class(t0, false)?),
                Some(lower::class(t1, false)?),
            ),
            _ => (Some(lower::class(fty.return_type(), false)?), None),
        };
        Ok((params, ret))
    })();
    let (params, ret, (body, (osr, osr_digest))) = match signature {
        Ok((params, ret)) => {
            let lowered = lower::FnLower::new(ir, names)
                .function(f)
                .unwrap_or_else(|construct| (Body::Unsupported { construct }, (Vec::new(), 0)));
            (params, ret, lowered)
        }
        Err(construct) => (
            Vec::new(),
            (None, None),
            (Body::Unsupported { construct }, (Vec::new(), 0)),
        ),
    };
    Function {
        name: f.name(),
        params,
        ret: ret.0,
        ret2: ret.1,
        variadic: fty.is_variadic(),
        body,
        osr,
        osr_digest,
    }
}
