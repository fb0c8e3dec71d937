//! Native syscall dispatch. Every argument is distrusted: bad numbers, bad
//! pointers and bad lengths come back as errors in `rax`.

use crate::arch::trap::TrapFrame;
use crate::kprintln;
use crate::task::{self, ExitReason};
use crate::usercopy::UserSlice;
use alloc::vec;
use ipc_abi::syscall::{CONSOLE_WRITE_MAX, Sys, SysError};

pub fn handle(frame: &mut TrapFrame) {
    let result = match Sys::from_number(frame.rax) {
        Some(Sys::ConsoleWrite) => console_write(frame.rdi, frame.rsi),
        Some(Sys::Exit) => {
            task::exit_current(frame, ExitReason::Exit(frame.rdi));
            return;
        }
        Some(Sys::Yield) => {
            frame.rax = 0;
            task::yield_current(frame);
            return;
        }
        None => Err(SysError::NoSuchSyscall),
    };
    frame.rax = match result {
        Ok(v) => v,
        Err(e) => e.to_raw(),
    };
}

fn console_write(ptr: u64, len: u64) -> Result<u64, SysError> {
    if len as usize > CONSOLE_WRITE_MAX {
        return Err(SysError::InvalidArgument);
    }
    let slice = UserSlice::new(ptr, len)?;
    let mut buf = vec![0u8; slice.len()];
    task::with_current(|t| slice.read(&t.space, &mut buf)).ok_or(SysError::NoSuchSyscall)??;
    let text = core::str::from_utf8(&buf).map_err(|_| SysError::NotUtf8)?;
    task::with_current(|t| {
        for line in text.lines() {
            kprintln!("[{}] {}", t.name, line);
        }
    });
    Ok(len)
}
