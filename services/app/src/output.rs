//! The time to a program's first output. The C library's output functions
//! reach the program (compiled code and the interpreter alike) through
//! small trampolines: the first call in a run notes the time since the run
//! began (`app.first_output us=`), then every call jumps to the real
//! function with every register as it was. What that time shows is how
//! long a program waited before it could say anything: under `--tier O0`
//! its first calls wait for the JIT, interpreted they do not
//! (`cargo xtask bench interp`).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// The output functions traced (a program's first line goes through one
/// of these).
const TRACED: [&str; 16] = [
    "printf",
    "puts",
    "putchar",
    "fputs",
    "fputc",
    "putc",
    "fwrite",
    "fprintf",
    "vprintf",
    "vfprintf",
    "write",
    "__printf_chk",
    "__fprintf_chk",
    "putchar_unlocked",
    "fputs_unlocked",
    "fwrite_unlocked",
];

/// Bytes per trampoline (each is padded to this).
const STRIDE: u64 = 256;

/// 1 once the run under way has called an output function.
static JITOS_OUTPUT_SEEN: AtomicU8 = AtomicU8::new(0);

/// The real address of each traced function.
static JITOS_OUTPUT_REAL: [AtomicU64; TRACED.len()] = [const { AtomicU64::new(0) }; TRACED.len()];

/// When the run under way began (TSC).
static RUN_STARTED: AtomicU64 = AtomicU64::new(0);

// Each trampoline: unless a call of this run was seen already, save the
// argument registers (the six integer ones, `al`'s vector count, the eight
// vector ones), note the time, restore them; then jump to the real
// function, which returns to the program's caller. The stack is 16-byte
// aligned at the inner call (the caller's call left it at 8 mod 16; seven
// pushes and 128 bytes make it 0).
core::arch::global_asm!(
    ".pushsection .text.jitos_output,\"ax\",@progbits",
    ".p2align 8",
    ".globl jitos_output_trampolines",
    "jitos_output_trampolines:",
    ".set jitos_out_n, 0",
    ".rept {count}",
    "cmp byte ptr [{seen}], 0",
    "jne 2f",
    "push rdi",
    "push rsi",
    "push rdx",
    "push rcx",
    "push r8",
    "push r9",
    "push rax",
    "sub rsp, 128",
    "movdqu [rsp], xmm0",
    "movdqu [rsp + 16], xmm1",
    "movdqu [rsp + 32], xmm2",
    "movdqu [rsp + 48], xmm3",
    "movdqu [rsp + 64], xmm4",
    "movdqu [rsp + 80], xmm5",
    "movdqu [rsp + 96], xmm6",
    "movdqu [rsp + 112], xmm7",
    "call {note}",
    "movdqu xmm0, [rsp]",
    "movdqu xmm1, [rsp + 16]",
    "movdqu xmm2, [rsp + 32]",
    "movdqu xmm3, [rsp + 48]",
    "movdqu xmm4, [rsp + 64]",
    "movdqu xmm5, [rsp + 80]",
    "movdqu xmm6, [rsp + 96]",
    "movdqu xmm7, [rsp + 112]",
    "add rsp, 128",
    "pop rax",
    "pop r9",
    "pop r8",
    "pop rcx",
    "pop rdx",
    "pop rsi",
    "pop rdi",
    "2:",
    "jmp qword ptr [{real} + 8 * jitos_out_n]",
    ".p2align 8, 0xcc",
    ".set jitos_out_n, jitos_out_n + 1",
    ".endr",
    ".popsection",
    count = const TRACED.len(),
    seen = sym JITOS_OUTPUT_SEEN,
    real = sym JITOS_OUTPUT_REAL,
    note = sym note_first_output,
);

unsafe extern "C" {
    static jitos_output_trampolines: u8;
}

extern "C" fn note_first_output() {
    if JITOS_OUTPUT_SEEN.swap(1, Ordering::SeqCst) != 0 {
        return;
    }
    let hz = rt::sys::sys_info().tsc_hz.max(1);
    let ticks = rt::sys::rdtsc().saturating_sub(RUN_STARTED.load(Ordering::SeqCst));
    let us = ticks as u128 * 1_000_000 / hz as u128;
    let _ = rt::sys::log_event(&format!("app.first_output us={us}"));
}

/// A run begins: its first output is still to come.
pub fn start_run() {
    RUN_STARTED.store(rt::sys::rdtsc(), Ordering::SeqCst);
    JITOS_OUTPUT_SEEN.store(0, Ordering::SeqCst);
}

/// Puts the trampolines in the export table in place of the traced
/// functions (their real addresses kept for the jumps).
pub fn trace(table: &mut [(&'static str, u64)]) {
    let base = (&raw const jitos_output_trampolines) as u64;
    for (k, name) in TRACED.iter().enumerate() {
        if let Some(entry) = table.iter_mut().find(|(n, _)| n == name) {
            JITOS_OUTPUT_REAL[k].store(entry.1, Ordering::SeqCst);
            entry.1 = base + k as u64 * STRIDE;
        }
    }
}
