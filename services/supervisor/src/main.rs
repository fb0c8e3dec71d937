//! The supervisor: the first ring-3 task. For now it proves the ring-3
//! path end to end: it prints the privilege level it runs at, checks that
//! the kernel refuses a bad syscall and a wild pointer, yields, and exits.
//! Spawning and restarting services arrives with the IPC work.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::syscall::{SysError, SysErrorOrUnknown};
use rt::{println, sys};

rt::entry!(main);

fn main() -> u64 {
    println!("supervisor: hello from ring {}", sys::current_ring());
    let bad_number = sys::raw_call(0xdead, 0, 0);
    let wild_pointer = sys::raw_call(
        ipc_abi::syscall::Sys::ConsoleWrite as u64,
        0xffff_8000_0000_0000,
        16,
    );
    let refused = bad_number == Err(SysErrorOrUnknown::Known(SysError::NoSuchSyscall))
        && wild_pointer == Err(SysErrorOrUnknown::Known(SysError::BadAddress));
    println!(
        "supervisor: bad syscalls refused: {}",
        if refused { "yes" } else { "NO" }
    );
    sys::yield_now();
    println!("supervisor: done");
    if refused { 0 } else { 1 }
}
