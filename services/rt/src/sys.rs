//! Typed wrappers over the native syscalls of `ipc_abi::syscall`.

use ipc_abi::syscall::{Sys, SysError, SysErrorOrUnknown, raw};

/// Writes UTF-8 text to the console (at most `CONSOLE_WRITE_MAX` bytes).
pub fn console_write(text: &str) -> Result<u64, SysErrorOrUnknown> {
    // SAFETY: the pointer and length describe `text`, which is readable for
    // the duration of the call.
    let r = unsafe {
        raw::syscall2(
            Sys::ConsoleWrite as u64,
            text.as_ptr() as u64,
            text.len() as u64,
        )
    };
    SysError::from_raw(r)
}

pub fn exit(code: u64) -> ! {
    // SAFETY: exit takes no pointers.
    unsafe { raw::syscall1(Sys::Exit as u64, code) };
    unreachable!("the kernel returned from exit")
}

pub fn yield_now() {
    // SAFETY: yield takes no arguments.
    unsafe { raw::syscall0(Sys::Yield as u64) };
}

/// Issues an arbitrary syscall with two arguments: for tests that probe
/// the kernel with bad numbers and pointers.
pub fn raw_call(number: u64, a0: u64, a1: u64) -> Result<u64, SysErrorOrUnknown> {
    // SAFETY: the kernel must treat any arguments as untrusted, which is
    // exactly what callers of this function test; nothing in this task's
    // memory is handed over for writing.
    SysError::from_raw(unsafe { raw::syscall2(number, a0, a1) })
}

/// The privilege level this code runs at (3 in a task).
pub fn current_ring() -> u16 {
    let cs: u16;
    // SAFETY: reading CS has no side effects.
    unsafe { core::arch::asm!("mov {0:x}, cs", out(reg) cs, options(nomem, nostack)) };
    cs & 3
}
