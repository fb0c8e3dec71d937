//! Interpreted runs without a JIT. When every function of a program has
//! bytecode and the run is interpreted, nothing needs LLVM: the app host
//! lays the program out itself, as the JIT's `Load` would, and never
//! contacts the JIT (which need not be in the initrd).
//!
//! - Stubs: the app host's own text holds an entry stub (`jmp [slot]`) and
//!   a lazy stub (`mov r11d, index; jmp lazy_entry`) for every possible function
//!   (`MAX_FUNCTIONS`, 32 bytes each), assembled once at build time: no
//!   page is ever written and executed in one address space.
//! - Slots: in the data region, as always; each starts at its lazy stub.
//! - Globals: placed from `APP_GLOBALS_BASE` up, from the bytecode's
//!   images, with the addresses in them filled in.

use bytecode::format::{Body, Module, RelocTarget};
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto::jit::*;
use ipc_abi::tier::Tier;

core::arch::global_asm!(
    ".pushsection .text.jitos_own_stubs,\"ax\",@progbits",
    ".p2align 5",
    ".globl jitos_own_stubs",
    "jitos_own_stubs:",
    ".set jitos_stub_n, 0",
    ".rept {count}",
    "jmp qword ptr [{slots} + 8 * jitos_stub_n]",
    ".p2align 4, 0xcc",
    "mov r11d, jitos_stub_n",
    "jmp {lazy}",
    ".p2align 4, 0xcc",
    ".set jitos_stub_n, jitos_stub_n + 1",
    ".endr",
    ".popsection",
    count = const MAX_FUNCTIONS,
    slots = const APP_DATA_BASE,
    lazy = sym crate::resolver::lazy_entry,
);

unsafe extern "C" {
    static jitos_own_stubs: u8;
}

/// Bytes per function: the entry stub, then the lazy stub.
const OWN_STUB_BYTES: u64 = 32;

fn stubs_base() -> u64 {
    (&raw const jitos_own_stubs) as u64
}

/// Function `index`'s address (its entry stub) in a run without a JIT.
pub fn entry_stub(index: usize) -> u64 {
    stubs_base() + index as u64 * OWN_STUB_BYTES
}

/// Function `index`'s lazy stub: its slot's value while it is interpreted.
pub fn lazy_stub(index: usize) -> u64 {
    entry_stub(index) + OWN_STUB_BYTES / 2
}

/// The function whose entry stub `addr` is.
pub fn function_at(addr: u64, functions: usize) -> Option<u32> {
    let off = addr.checked_sub(stubs_base())?;
    let i = off / OWN_STUB_BYTES;
    (off % OWN_STUB_BYTES == 0 && i < functions as u64).then_some(i as u32)
}

// The JIT may adopt our layout (`offer`): our stubs are as far apart as
// its own.
const _: () = assert!(OWN_STUB_BYTES == STUB_BYTES);

/// Makes our layout (by [`lay_out`], globals at `homes`) one a JIT can
/// adopt with `Load { resume: true }` (the profiler loads the program into
/// the JIT when a function first gets hot): the JIT's state in the data
/// region says where the globals and our entry stubs are and that no code
/// is compiled yet (every tier byte 0), and no on-stack-replacement entry
/// is left from an earlier run. Also what a snapshot is restored into
/// (`persist`), with or without a JIT in the system.
pub fn offer(module: &Module, homes: &[u64]) -> Result<(), String> {
    if homes.len() > MAX_GLOBALS {
        return Err(format!(
            "{} globals, at most {MAX_GLOBALS} fit",
            homes.len()
        ));
    }
    let end = module
        .globals
        .iter()
        .zip(homes)
        .map(|(g, &h)| h + g.size.max(1))
        .max()
        .unwrap_or(APP_GLOBALS_BASE)
        .next_multiple_of(16);
    let state = JitState {
        functions: module.functions.len() as u64,
        code_next: APP_UNIT_CODE_BASE,
        data_next: end,
        entry_stubs: entry_stub(0),
        homes,
    };
    let header = state.header();
    // SAFETY: the state, the OSR table and the tier table lie in our data
    // region (read-write, ours for life), at most STATE_HEADER_WORDS +
    // MAX_GLOBALS words (APP_STATE_BYTES), APP_OSR_BYTES and
    // APP_TIERS_BYTES long; no JIT has the program yet, so no one else
    // writes them now.
    unsafe {
        let words = APP_STATE_BASE as *mut u64;
        std::ptr::copy_nonoverlapping(header.as_ptr(), words, header.len());
        std::ptr::copy_nonoverlapping(homes.as_ptr(), words.add(header.len()), homes.len());
        std::ptr::write_bytes(APP_OSR_BASE as *mut u8, 0, APP_OSR_BYTES as usize);
        std::ptr::write_bytes(APP_TIERS_BASE as *mut u8, 0, APP_TIERS_BYTES as usize);
    }
    Ok(())
}

/// Whether the app host lays out a run at `tiers` itself: everything
/// starts interpreted. A function the interpreter cannot run is then
/// compiled at O0 in this layout (the JIT adopts it, `Load { resume }`),
/// and a snapshot can put all of it back next boot.
pub fn possible(tiers: &[Tier]) -> bool {
    tiers.iter().all(|t| *t == Tier::Interp)
}

/// Whether some function the interpreter cannot run has no compiled code
/// yet (its tier byte is 0): such a run needs the JIT from its start.
pub fn needs_jit(module: &Module, tier_bytes: &[u8]) -> bool {
    module
        .functions
        .iter()
        .zip(tier_bytes)
        .any(|(f, &t)| matches!(f.body, Body::Unsupported { .. }) && t == 0)
}

/// Points every slot at its own lazy stub and places the globals (fresh
/// images); returns their homes. `symbol` gives a C library name's
/// address.
pub fn lay_out(module: &Module, symbol: impl Fn(&str) -> Option<u64>) -> Result<Vec<u64>, String> {
    let n = module.functions.len();
    if n > MAX_FUNCTIONS {
        return Err(format!("{n} functions, at most {MAX_FUNCTIONS} fit"));
    }
    for i in 0..n {
        // SAFETY: slot i lies in our data region, mapped read-write for our
        // whole life; no JIT writes it in a run without one.
        unsafe { (slot(i) as *mut u64).write(lazy_stub(i)) };
    }
    let end = APP_DATA_BASE + APP_DATA_PAGES * PAGE_SIZE;
    let mut next = APP_GLOBALS_BASE;
    let mut homes = Vec::with_capacity(module.globals.len());
    for g in &module.globals {
        let at = next
            .checked_next_multiple_of(g.align as u64)
            .filter(|at| at.checked_add(g.size).is_some_and(|e| e <= end))
            .ok_or_else(|| {
                format!(
                    "the globals do not fit in the data region ({} is too large)",
                    g.name
                )
            })?;
        // SAFETY: [at, at + size) lies in our data region (checked above),
        // which only this task uses in a run without a JIT; `init` is no
        // longer than `size` (validated when loaded).
        unsafe {
            std::ptr::write_bytes(at as *mut u8, 0, g.size as usize);
            std::ptr::copy_nonoverlapping(g.init.as_ptr(), at as *mut u8, g.init.len());
        }
        homes.push(at);
        next = at + g.size;
    }
    let mut missing = Vec::new();
    for (g, &home) in module.globals.iter().zip(&homes) {
        for r in &g.relocs {
            let target = match r.target {
                RelocTarget::Global(i) => homes[i as usize],
                RelocTarget::Function(f) => entry_stub(f as usize),
                RelocTarget::Symbol(s) => {
                    let name = &module.symbols[s as usize].name;
                    symbol(name).unwrap_or_else(|| {
                        missing.push(name.clone());
                        0
                    })
                }
            };
            // SAFETY: `offset + 8 <= size` (validated): inside the global
            // placed above.
            unsafe {
                ((home + r.offset) as *mut u64)
                    .write_unaligned(target.wrapping_add(r.addend as u64))
            };
        }
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(format!("the C library lacks {}", missing.join(", ")));
    }
    Ok(homes)
}
