//! The C library the app host offers programs: every public function and
//! data object of the static glibc (and libm, and libgcc's helpers) it is
//! linked with, by name and address. `build.rs` reads the names from the
//! archives themselves and refers to each, so the linker brings them all
//! into the app host; nothing here lists functions by hand. A program that
//! declares anything else is refused when the JIT loads it, with the
//! missing names listed. `exit` and `fopen` are the app host's own
//! (`overrides`): `exit` reports the status like a return from `main`
//! would, `fopen` serves the files the program was given (`input`).

use std::ffi::{c_int, c_void};

mod generated {
    #![allow(
        non_upper_case_globals,
        dead_code,
        clashing_extern_declarations,
        reason = "generated declarations of C library symbols, used only for their addresses"
    )]
    include!(concat!(env!("OUT_DIR"), "/c_library.rs"));
}

#[allow(
    clashing_extern_declarations,
    reason = "the generated table declares every C symbol as `fn()` only to take its address"
)]
unsafe extern "C" {
    fn fflush(f: *mut c_void) -> c_int;
    fn atexit(f: extern "C" fn()) -> c_int;
}

/// Registers `f` with the C library's `atexit` (handlers run in reverse
/// order: one registered before the program starts runs after all of
/// the program's).
pub fn at_exit(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function with the signature atexit expects.
    unsafe { atexit(f) };
}

/// The program's `exit(code)`: flushes its output, reports the status and
/// ends the app host (and so the program).
extern "C" fn program_exit(code: c_int) -> ! {
    crate::finish(code)
}

/// The app host's own versions of C library functions: `exit` reports
/// the status, `fopen` serves the files the program was given.
fn overrides() -> [(&'static str, u64); 3] {
    [
        ("exit", program_exit as *const () as u64),
        ("fopen", crate::input::program_fopen as *const () as u64),
        ("fopen64", crate::input::program_fopen as *const () as u64),
    ]
}

/// (name, address) of every export.
pub fn table() -> Vec<(&'static str, u64)> {
    let mut table = generated::c_library();
    for (name, address) in overrides() {
        match table.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = address,
            None => table.push((name, address)),
        }
    }
    table
}

/// Flushes the program's buffered `stdout`.
pub fn flush() {
    // SAFETY: fflush(NULL) flushes every open stream.
    unsafe { fflush(std::ptr::null_mut()) };
}
