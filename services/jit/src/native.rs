//! The few native syscalls the JIT server uses beside the Linux ones (a
//! Linux-personality task reaches the native table through numbers from
//! `NATIVE_BASE` up).

use ipc_abi::syscall::{Sys, raw};

/// Logs a structured event (`event key=value ...`); ignored if refused.
pub fn log_event(text: &str) {
    // SAFETY: pointer and length describe `text`, readable for the call.
    let _ = unsafe {
        raw::syscall2(
            Sys::LogEvent as u64,
            text.as_ptr() as u64,
            text.len() as u64,
        )
    };
}
