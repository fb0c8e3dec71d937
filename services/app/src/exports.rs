//! The C library the app host offers programs: functions and data of the
//! static glibc it is linked with, by name and address. A program that
//! declares anything else is refused when the JIT loads it, with the
//! missing names listed. Some names here (fwrite, bcmp, memchr, stpcpy,
//! exp2, ldexp, sincos) are rarely written by hand but are what LLVM's
//! optimizer turns other calls into (fprintf of a constant string,
//! memcmp(...) == 0, ...); without them a program could load and then fail
//! to compile at O1 and above.
//! `exit` is the app host's own: it reports the status like a return from
//! `main` would.

use std::ffi::{c_char, c_double, c_int, c_long, c_uint, c_void};

unsafe extern "C" {
    fn printf(format: *const c_char, ...) -> c_int;
    fn fprintf(f: *mut c_void, format: *const c_char, ...) -> c_int;
    fn snprintf(s: *mut c_char, n: usize, format: *const c_char, ...) -> c_int;
    fn puts(s: *const c_char) -> c_int;
    fn fputs(s: *const c_char, f: *mut c_void) -> c_int;
    fn putchar(c: c_int) -> c_int;
    fn fputc(c: c_int, f: *mut c_void) -> c_int;
    fn fflush(f: *mut c_void) -> c_int;
    fn abort() -> !;
    fn fwrite(p: *const c_void, size: usize, n: usize, f: *mut c_void) -> usize;
    fn malloc(size: usize) -> *mut c_void;
    fn calloc(n: usize, size: usize) -> *mut c_void;
    fn realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn free(p: *mut c_void);
    fn memcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void;
    fn memmove(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void;
    fn memset(d: *mut c_void, c: c_int, n: usize) -> *mut c_void;
    fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int;
    fn bcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int;
    fn memchr(s: *const c_void, c: c_int, n: usize) -> *mut c_void;
    fn strlen(s: *const c_char) -> usize;
    fn strcmp(a: *const c_char, b: *const c_char) -> c_int;
    fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int;
    fn strcpy(d: *mut c_char, s: *const c_char) -> *mut c_char;
    fn stpcpy(d: *mut c_char, s: *const c_char) -> *mut c_char;
    fn strncpy(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char;
    fn strcat(d: *mut c_char, s: *const c_char) -> *mut c_char;
    fn strchr(s: *const c_char, c: c_int) -> *mut c_char;
    fn strrchr(s: *const c_char, c: c_int) -> *mut c_char;
    fn atoi(s: *const c_char) -> c_int;
    fn strtol(s: *const c_char, end: *mut *mut c_char, base: c_int) -> c_long;
    fn strtod(s: *const c_char, end: *mut *mut c_char) -> c_double;
    fn atof(s: *const c_char) -> c_double;
    fn qsort(
        base: *mut c_void,
        n: usize,
        size: usize,
        cmp: extern "C" fn(*const c_void, *const c_void) -> c_int,
    );
    fn abs(x: c_int) -> c_int;
    fn labs(x: c_long) -> c_long;
    fn rand() -> c_int;
    fn srand(seed: c_uint);
    fn sqrt(x: c_double) -> c_double;
    fn fabs(x: c_double) -> c_double;
    fn floor(x: c_double) -> c_double;
    fn ceil(x: c_double) -> c_double;
    fn fmod(x: c_double, y: c_double) -> c_double;
    fn pow(x: c_double, y: c_double) -> c_double;
    fn exp(x: c_double) -> c_double;
    fn log(x: c_double) -> c_double;
    fn sin(x: c_double) -> c_double;
    fn cos(x: c_double) -> c_double;
    fn atan2(y: c_double, x: c_double) -> c_double;
    fn tan(x: c_double) -> c_double;
    fn atan(x: c_double) -> c_double;
    fn log10(x: c_double) -> c_double;
    fn log2(x: c_double) -> c_double;
    fn exp2(x: c_double) -> c_double;
    fn ldexp(x: c_double, e: c_int) -> c_double;
    fn round(x: c_double) -> c_double;
    fn trunc(x: c_double) -> c_double;
    fn fmin(x: c_double, y: c_double) -> c_double;
    fn fmax(x: c_double, y: c_double) -> c_double;
    fn sincos(x: c_double, s: *mut c_double, c: *mut c_double);
    static stdout: *mut c_void;
    static stderr: *mut c_void;
}

/// The program's `exit(code)`: flushes its output, reports the status and
/// ends the app host (and so the program).
extern "C" fn program_exit(code: c_int) -> ! {
    crate::finish(code)
}

/// (name, address) of every export.
pub fn table() -> Vec<(&'static str, u64)> {
    vec![
        ("printf", printf as *const () as u64),
        ("fprintf", fprintf as *const () as u64),
        ("snprintf", snprintf as *const () as u64),
        ("puts", puts as *const () as u64),
        ("fputs", fputs as *const () as u64),
        ("putchar", putchar as *const () as u64),
        ("fputc", fputc as *const () as u64),
        ("fflush", fflush as *const () as u64),
        ("fwrite", fwrite as *const () as u64),
        ("malloc", malloc as *const () as u64),
        ("calloc", calloc as *const () as u64),
        ("realloc", realloc as *const () as u64),
        ("free", free as *const () as u64),
        ("memcpy", memcpy as *const () as u64),
        ("memmove", memmove as *const () as u64),
        ("memset", memset as *const () as u64),
        ("memcmp", memcmp as *const () as u64),
        ("bcmp", bcmp as *const () as u64),
        ("memchr", memchr as *const () as u64),
        ("strlen", strlen as *const () as u64),
        ("strcmp", strcmp as *const () as u64),
        ("strncmp", strncmp as *const () as u64),
        ("strcpy", strcpy as *const () as u64),
        ("stpcpy", stpcpy as *const () as u64),
        ("strncpy", strncpy as *const () as u64),
        ("strcat", strcat as *const () as u64),
        ("strchr", strchr as *const () as u64),
        ("strrchr", strrchr as *const () as u64),
        ("atoi", atoi as *const () as u64),
        ("strtol", strtol as *const () as u64),
        ("strtod", strtod as *const () as u64),
        ("atof", atof as *const () as u64),
        ("qsort", qsort as *const () as u64),
        ("abs", abs as *const () as u64),
        ("labs", labs as *const () as u64),
        ("rand", rand as *const () as u64),
        ("srand", srand as *const () as u64),
        ("sqrt", sqrt as *const () as u64),
        ("fabs", fabs as *const () as u64),
        ("floor", floor as *const () as u64),
        ("ceil", ceil as *const () as u64),
        ("fmod", fmod as *const () as u64),
        ("pow", pow as *const () as u64),
        ("exp", exp as *const () as u64),
        ("log", log as *const () as u64),
        ("sin", sin as *const () as u64),
        ("cos", cos as *const () as u64),
        ("atan2", atan2 as *const () as u64),
        ("tan", tan as *const () as u64),
        ("atan", atan as *const () as u64),
        ("log10", log10 as *const () as u64),
        ("log2", log2 as *const () as u64),
        ("exp2", exp2 as *const () as u64),
        ("ldexp", ldexp as *const () as u64),
        ("round", round as *const () as u64),
        ("trunc", trunc as *const () as u64),
        ("fmin", fmin as *const () as u64),
        ("fmax", fmax as *const () as u64),
        ("sincos", sincos as *const () as u64),
        ("exit", program_exit as *const () as u64),
        // glibc's: raises SIGABRT, which ends the app host (status 134).
        ("abort", abort as *const () as u64),
        // Data: the address of the variable, which holds the FILE pointer.
        ("stdout", &raw const stdout as u64),
        ("stderr", &raw const stderr as u64),
    ]
}

/// Flushes the program's buffered `stdout`.
pub fn flush() {
    // SAFETY: fflush(NULL) flushes every open stream.
    unsafe { fflush(std::ptr::null_mut()) };
}
