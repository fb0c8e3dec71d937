//! Lazy first calls. Every dispatch slot starts at its function's lazy stub
//! (`mov r11d, index; jmp lazy_entry`, written by the JIT, or by the app
//! host's own text in a run without one), so the first call of a function
//! lands in [`lazy_entry`] with the caller's arguments still in their
//! registers. It saves them and asks [`resolve`] where the function runs:
//! compiled (the JIT is asked for it through the session, waiting for a
//! restarted JIT if need be; then the registers are restored and it jumps
//! to the published code, which returns straight to the caller) or, in a
//! run with bytecode, interpreted (then it goes on to the interpreter's
//! entry with the registers and `r11d` as they came; `interp`). A function
//! that cannot be compiled ends the program with the reason: there is
//! nothing sensible to return to.

use crate::session::Session;
use std::sync::Mutex;

/// The program's session; `resolve` borrows it for the length of a compile.
pub static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// Where lazy stubs jump, with the function's index in `r11d`.
///
/// Saves every register that can carry an argument (rdi, rsi, rdx, rcx,
/// r8, r9, xmm0-7, and rax for a variadic call's vector count) and the
/// index, calls `resolve(index)` with the stack 16-byte aligned (entry
/// leaves it at 8 mod 16; eight pushes and 136 bytes make it 0), restores
/// them, and tail-jumps to the address it returns, or to the interpreter's
/// entry (with `r11d` the index again) when it returns 0.
#[unsafe(naked)]
pub extern "C" fn lazy_entry() {
    // SAFETY: reached only from a lazy stub, as the first instruction of a
    // call to a program function: every register the System V ABI uses for
    // arguments (and r11, the index) is restored before either jump,
    // callee-saved ones are kept by `resolve`, and the stack is back where
    // the caller left it.
    core::arch::naked_asm!(
        "push r11",
        "push rdi",
        "push rsi",
        "push rdx",
        "push rcx",
        "push r8",
        "push r9",
        "push rax",
        "sub rsp, 136",
        "movdqu [rsp], xmm0",
        "movdqu [rsp + 16], xmm1",
        "movdqu [rsp + 32], xmm2",
        "movdqu [rsp + 48], xmm3",
        "movdqu [rsp + 64], xmm4",
        "movdqu [rsp + 80], xmm5",
        "movdqu [rsp + 96], xmm6",
        "movdqu [rsp + 112], xmm7",
        "mov edi, r11d",
        "call {resolve}",
        "mov r11, rax",
        "movdqu xmm0, [rsp]",
        "movdqu xmm1, [rsp + 16]",
        "movdqu xmm2, [rsp + 32]",
        "movdqu xmm3, [rsp + 48]",
        "movdqu xmm4, [rsp + 64]",
        "movdqu xmm5, [rsp + 80]",
        "movdqu xmm6, [rsp + 96]",
        "movdqu xmm7, [rsp + 112]",
        "add rsp, 136",
        "pop rax",
        "pop r9",
        "pop r8",
        "pop rcx",
        "pop rdx",
        "pop rsi",
        "pop rdi",
        "test r11, r11",
        "jz 2f",
        "add rsp, 8",
        "jmp r11",
        "2:",
        "pop r11",
        "jmp {interpret}",
        resolve = sym resolve,
        interpret = sym bytecode::native::entry,
    )
}

/// Where function `index` runs: 0 to interpret it (`interp::choose`), or
/// the address of its code, compiled now at the tier the run wants for it.
extern "C" fn resolve(index: u32) -> u64 {
    let level = match crate::interp::choose(index) {
        Some(crate::interp::Choice::Interpret) => return 0,
        Some(crate::interp::Choice::Compile(level)) => Some(level),
        None => None,
    };
    let mut guard = SESSION.lock().unwrap_or_else(|p| p.into_inner());
    let Some(session) = guard.as_mut() else {
        crate::fail("a lazy call with no program loaded")
    };
    if index as usize >= session.names.len() {
        crate::fail(&format!("a lazy call for unknown function #{index}"));
    }
    let compiled = match level {
        Some(level) => session.compile_at(index as usize, level),
        None => session.compile(index as usize),
    };
    compiled.unwrap_or_else(|e| crate::fail(&e))
}
