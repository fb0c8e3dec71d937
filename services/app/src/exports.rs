//! The C library the app host offers programs: functions of the static
//! glibc it is linked with, by name and address. A program that calls
//! anything else is refused by the JIT (unresolved symbol) before it runs.

use std::ffi::{c_char, c_int, c_void};

unsafe extern "C" {
    fn printf(format: *const c_char, ...) -> c_int;
    fn puts(s: *const c_char) -> c_int;
    fn putchar(c: c_int) -> c_int;
    fn malloc(size: usize) -> *mut c_void;
    fn calloc(n: usize, size: usize) -> *mut c_void;
    fn realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn free(p: *mut c_void);
    fn memcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void;
    fn memset(d: *mut c_void, c: c_int, n: usize) -> *mut c_void;
    fn strlen(s: *const c_char) -> usize;
    fn strcmp(a: *const c_char, b: *const c_char) -> c_int;
    fn fflush(f: *mut c_void) -> c_int;
    fn sqrt(x: f64) -> f64;
}

/// (name, address) of every export.
pub fn table() -> Vec<(&'static str, u64)> {
    vec![
        ("printf", printf as *const () as u64),
        ("puts", puts as *const () as u64),
        ("putchar", putchar as *const () as u64),
        ("malloc", malloc as *const () as u64),
        ("calloc", calloc as *const () as u64),
        ("realloc", realloc as *const () as u64),
        ("free", free as *const () as u64),
        ("memcpy", memcpy as *const () as u64),
        ("memset", memset as *const () as u64),
        ("strlen", strlen as *const () as u64),
        ("strcmp", strcmp as *const () as u64),
        ("sqrt", sqrt as *const () as u64),
    ]
}

/// Flushes the program's buffered `stdout`.
pub fn flush() {
    // SAFETY: fflush(NULL) flushes every open stream.
    unsafe { fflush(std::ptr::null_mut()) };
}
