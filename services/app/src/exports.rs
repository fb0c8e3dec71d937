//! The C library the app host offers programs: every public function and
//! data object of the static glibc (and libm, and libgcc's helpers) it is
//! linked with, by name and address. `build.rs` reads the names from the
//! archives themselves and refers to each, so the linker brings them all
//! into the app host; nothing here lists functions by hand. A program that
//! declares anything else is refused when the JIT loads it, with the
//! missing names listed. `exit` is the app host's own: it reports the
//! status like a return from `main` would.

use std::ffi::{c_int, c_void};

mod generated {
    #![allow(
        non_upper_case_globals,
        dead_code,
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

/// (name, address) of every export.
pub fn table() -> Vec<(&'static str, u64)> {
    let mut table = generated::c_library();
    table.push(("exit", program_exit as *const () as u64));
    table
}

/// Flushes the program's buffered `stdout`.
pub fn flush() {
    // SAFETY: fflush(NULL) flushes every open stream.
    unsafe { fflush(std::ptr::null_mut()) };
}
