//! `bcrun [--count] FILE.ll [ARGS...]`: lowers a C program's IR to bytecode and
//! interprets it on the host, every function interpreted, calling the
//! host's C library: the interpreter checked against native builds without
//! booting anything, and the host-side counterpart of
//! `lli -force-interpreter` for `cargo xtask bench interp`. Exits with the
//! program's status; a program that traps dies of the signal native code
//! would have got (SIGFPE, SIGILL, SIGSEGV). Refusals: 126 for names the
//! host's C library lacks, 125 when a function the program calls cannot be
//! interpreted (the OS compiles those; the host runner has no JIT).
//! `--count` counts calls, loops, branches and call targets as the OS does
//! under `--tier auto`: the interpreter's cost with counting, for
//! profiling it on the host; when `main` returns, each function that ran
//! gets a line on standard error (`bcrun.count fn= calls= backedges=
//! edges=taken/not,...`), the counts the OS's profiler would read.
#![allow(unsafe_code, reason = "a host runner: mmap, dlsym and raw globals")]

use bytecode::format::{Body, Module, RelocTarget, SymbolKind};
use bytecode::interp::{Interp, Machine, Trap};
use bytecode::native;
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: i64,
    ) -> *mut c_void;
    fn mprotect(addr: *mut c_void, len: usize, prot: c_int) -> c_int;
    fn exit(code: c_int) -> !;
    fn raise(sig: c_int) -> c_int;
    fn fflush(f: *mut c_void) -> c_int;
    fn __cxa_atexit(f: extern "C" fn(*mut c_void), arg: *mut c_void, dso: *mut c_void) -> c_int;
}

/// `atexit` lives in glibc's static `libc_nonshared.a`, so `dlsym` cannot
/// find it: the program's `atexit(f)` is `__cxa_atexit(f, 0, 0)`, as
/// glibc's own is (a `void f(void)` ignores the argument).
extern "C" fn program_atexit(f: extern "C" fn(*mut c_void)) -> c_int {
    // SAFETY: registering the program's handler with the C library.
    unsafe { __cxa_atexit(f, std::ptr::null_mut(), std::ptr::null_mut()) }
}

const STUB_BYTES: usize = 32;

struct Host {
    symbols: Vec<u64>,
    stubs: u64,
    functions: usize,
}

impl Machine for Host {
    fn compiled(&self, _: u32) -> Option<u64> {
        None
    }
    /// Every function with code is interpreted, always.
    fn interpreted_while(&self, _: u32) -> Option<(&'static AtomicU64, u64)> {
        static ALWAYS: AtomicU64 = AtomicU64::new(0);
        Some((&ALWAYS, 0))
    }
    fn function_at(&self, addr: u64) -> Option<u32> {
        let off = addr.checked_sub(self.stubs)?;
        (off % STUB_BYTES as u64 == 0 && (off / STUB_BYTES as u64) < self.functions as u64)
            .then(|| (off / STUB_BYTES as u64) as u32)
    }
    fn function_address(&self, f: u32) -> u64 {
        self.stubs + f as u64 * STUB_BYTES as u64
    }
    fn symbol(&self, s: u32) -> u64 {
        self.symbols[s as usize]
    }
}

thread_local! {
    /// The running interpreter and host, for calls back in from native code.
    static CURRENT: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

fn die(trap: Trap, module: &Module) -> ! {
    let (why, sig) = match trap {
        Trap::Divide => ("integer division by zero or overflow".to_string(), 8),
        Trap::Unreachable => ("unreachable code reached".into(), 4),
        Trap::StackOverflow => ("the interpreter's frame memory ran out".into(), 11),
        Trap::NotInterpretable(f) => {
            let f = &module.functions[f as usize];
            let construct = match &f.body {
                Body::Unsupported { construct } => construct.as_str(),
                Body::Code { .. } => "?",
            };
            eprintln!(
                "bcrun: {} is not interpretable ({construct}) and the host runner has no JIT",
                f.name
            );
            // SAFETY: flushing and exiting through the C library.
            unsafe {
                fflush(std::ptr::null_mut());
                exit(125)
            }
        }
    };
    eprintln!("bcrun: {why}");
    // SAFETY: flushing, then the signal native code would have got.
    unsafe {
        fflush(std::ptr::null_mut());
        raise(sig);
        exit(128 + sig)
    }
}

fn entry(index: u32, incoming: &mut native::Incoming, stack: u64) -> u64 {
    let (interp, host) = CURRENT.with(|c| c.get());
    // SAFETY: set in `main` to objects that live until the process exits.
    let (interp, host) = unsafe {
        (
            &*(interp as *const Interp<'static>),
            &*(host as *const Host),
        )
    };
    interp
        .call_from_native(host, index, incoming, stack)
        .unwrap_or_else(|t| die(t, interp.module()))
}

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let count = args.get(1).is_some_and(|a| a == "--count");
    if count {
        args.remove(1);
    }
    let Some(path) = args.get(1) else {
        eprintln!("usage: bcrun [--count] FILE.ll [ARGS...]");
        std::process::exit(2);
    };
    let ir = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("bcrun: {path}: {e}");
        std::process::exit(2)
    });
    let lowered = irlower::lower(&ir).unwrap_or_else(|e| {
        eprintln!("bcrun: {path}: {e}");
        std::process::exit(2)
    });
    // Through the file format and its checks, as the app host loads it.
    let table: Vec<String> = lowered.functions.iter().map(|f| f.name.clone()).collect();
    let file = bytecode::format::encode(&lowered, &ir);
    let module: &'static Module = Box::leak(Box::new(
        bytecode::validate::load(&file, &ir, &table).unwrap_or_else(|e| {
            eprintln!("bcrun: {path}: {e}");
            std::process::exit(2)
        }),
    ));

    // Globals: placed here, then their images and the addresses in them.
    let homes: Vec<u64> = module
        .globals
        .iter()
        .map(|g| {
            let layout =
                std::alloc::Layout::from_size_align(g.size.max(1) as usize, g.align as usize)
                    .unwrap();
            // SAFETY: a non-zero size; the memory is the program's forever.
            let p = unsafe { std::alloc::alloc_zeroed(layout) };
            // SAFETY: `init` is no longer than `size` (validated).
            unsafe { std::ptr::copy_nonoverlapping(g.init.as_ptr(), p, g.init.len()) };
            p as u64
        })
        .collect();
    let mut missing = Vec::new();
    let symbols: Vec<u64> = module
        .symbols
        .iter()
        .map(|s| match s.kind {
            SymbolKind::Global => module
                .globals
                .iter()
                .position(|g| g.name == s.name)
                .map_or(0, |i| homes[i]),
            SymbolKind::External if s.name == "atexit" => program_atexit as *const () as u64,
            SymbolKind::External => {
                let name = CString::new(s.name.as_str()).unwrap();
                // SAFETY: dlsym with RTLD_DEFAULT (null) looks a name up in
                // the process's libraries.
                let p = unsafe { dlsym(std::ptr::null_mut(), name.as_ptr()) } as u64;
                if p == 0 {
                    missing.push(s.name.clone());
                }
                p
            }
        })
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "bcrun: {path}: the host's C library lacks {}",
            missing.join(", ")
        );
        std::process::exit(126);
    }
    // One stub per function: `mov r11d, index; jmp [rip]; .quad entry`.
    let n = module.functions.len().max(1);
    let len = (n * STUB_BYTES).next_multiple_of(4096);
    // SAFETY: a fresh private anonymous mapping (PROT_READ|PROT_WRITE,
    // MAP_PRIVATE|MAP_ANONYMOUS), written and then made read-execute.
    let stubs = unsafe { mmap(std::ptr::null_mut(), len, 3, 0x22, -1, 0) } as u64;
    assert!(stubs != u64::MAX, "mmap");
    for i in 0..module.functions.len() {
        let mut code = [0u8; STUB_BYTES];
        code[0..2].copy_from_slice(&[0x41, 0xbb]);
        code[2..6].copy_from_slice(&(i as u32).to_le_bytes());
        code[6..12].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
        code[12..20].copy_from_slice(&(native::entry as *const () as u64).to_le_bytes());
        // SAFETY: inside the mapping made above.
        unsafe {
            std::ptr::copy_nonoverlapping(
                code.as_ptr(),
                (stubs as usize + i * STUB_BYTES) as *mut u8,
                STUB_BYTES,
            )
        };
    }
    // SAFETY: the mapping made above, now read-execute (PROT_READ|PROT_EXEC).
    let protected = unsafe { mprotect(stubs as *mut c_void, len, 5) };
    assert_eq!(protected, 0, "mprotect");
    let host: &'static Host = Box::leak(Box::new(Host {
        symbols,
        stubs,
        functions: module.functions.len(),
    }));
    for (g, &home) in module.globals.iter().zip(&homes) {
        for r in &g.relocs {
            let target = match r.target {
                RelocTarget::Global(i) => homes[i as usize],
                RelocTarget::Function(f) => host.function_address(f),
                RelocTarget::Symbol(s) => host.symbols[s as usize],
            };
            // SAFETY: `offset + 8 <= size` (validated): inside the global.
            unsafe {
                ((home + r.offset) as *mut u64)
                    .write_unaligned(target.wrapping_add(r.addend as u64))
            };
        }
    }

    let counters: Option<&'static [AtomicU64]> =
        count.then(|| &*Box::leak(bytecode::interp::counters_object(module).into_boxed_slice()));
    let interp = match counters {
        Some(c) => Interp::with_counters(module, c),
        None => Interp::new(module),
    };
    let interp: &'static Interp<'static> = Box::leak(Box::new(interp));
    native::set_entry_handler(entry);
    CURRENT.with(|c| {
        c.set((
            interp as *const Interp<'static> as usize,
            host as *const Host as usize,
        ))
    });
    let Some(main) = module.functions.iter().position(|f| f.name == "main") else {
        eprintln!("bcrun: {path} defines no main");
        std::process::exit(126);
    };
    let argv_strings: Vec<CString> = args[1..]
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap())
        .collect();
    let mut argv: Vec<u64> = argv_strings.iter().map(|a| a.as_ptr() as u64).collect();
    argv.push(0);
    let f = &module.functions[main];
    let call_args: Vec<u64> = [argv_strings.len() as u64, argv.as_ptr() as u64]
        .into_iter()
        .take(f.params.len())
        .collect();
    let code = interp
        .call(host, main as u32, &call_args, None)
        .unwrap_or_else(|t| die(t, module))[0];
    if let Some(c) = counters {
        print_counts(module, c);
    }
    // SAFETY: C's exit: the program's atexit handlers, then its output.
    unsafe { exit(code as c_int) }
}

/// Each function's counts (`--count`), for those that ran: its calls,
/// loop back-edges and branch edges (taken/not taken, by edge number).
fn print_counts(module: &Module, words: &[AtomicU64]) {
    use bytecode::interp::{BACKEDGES, CALLS, COUNTER_WORDS, HEADER_WORDS};
    use ipc_abi::counters::{EDGES, edges_place};
    let word = |k: usize| words.get(k).map_or(0, |w| w.load(Ordering::Relaxed));
    for (i, f) in module.functions.iter().enumerate() {
        let at = HEADER_WORDS + i * COUNTER_WORDS;
        let (calls, backedges) = (word(at + CALLS), word(at + BACKEDGES));
        if calls == 0 {
            continue;
        }
        let (start, len) = edges_place(word(at + EDGES));
        let first = start as usize / 8;
        let edges: Vec<String> = (first..first + len)
            .step_by(2)
            .map(|k| format!("{}/{}", word(k), word(k + 1)))
            .collect();
        eprintln!(
            "bcrun.count fn={} calls={calls} backedges={backedges} edges={}",
            f.name,
            edges.join(",")
        );
    }
}
