//! The C library the app host offers programs: every public function and
//! data object of the static glibc (and libm, and libgcc's helpers) it is
//! linked with, by name and address. `build.rs` reads the names from the
//! archives themselves and refers to each, so the linker brings them all
//! into the app host; nothing here lists functions by hand. A program that
//! declares anything else is refused when the JIT loads it, with the
//! missing names listed. `exit`, the exit-handler registrations and
//! `fopen` are the app host's own (`overrides`): `exit` ends the run like
//! a return from `main` would (`run`), `fopen` serves the files the
//! program was given (`input`). The output functions (`printf`, `puts`...)
//! are reached through trampolines that note a run's first output
//! (`output`).

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

/// The app host's own versions of C library functions: `exit` and the
/// exit handlers end the run, not the app host (`run`), `fopen` serves the
/// files the program was given.
fn overrides() -> [(&'static str, u64); 6] {
    use crate::run;
    [
        ("exit", run::program_exit as *const () as u64),
        ("atexit", run::program_atexit as *const () as u64),
        ("on_exit", run::program_on_exit as *const () as u64),
        ("__cxa_atexit", run::program_cxa_atexit as *const () as u64),
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
    // Output functions through trampolines that note a run's first output.
    crate::output::trace(&mut table);
    table
}

/// Flushes the program's buffered `stdout`.
pub fn flush() {
    // SAFETY: fflush(NULL) flushes every open stream.
    unsafe { fflush(std::ptr::null_mut()) };
}
