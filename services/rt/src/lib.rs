//! The runtime every native (`no_std`) ring-3 service links: the `_start`
//! entry point (through [`entry!`]) with the arguments the spawner passed,
//! typed syscall wrappers, `print!`/`println!`, the name service, a server
//! loop, and a panic handler that reports and exits.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(any(feature = "heap", feature = "hosted"))]
extern crate alloc;

pub mod console;
#[cfg(any(feature = "heap", feature = "hosted"))]
pub mod files;
#[cfg(feature = "heap")]
pub mod heap;
pub mod mem;
pub mod names;
pub mod server;
pub mod sys;

use core::sync::atomic::{AtomicU64, Ordering};

/// Exit code of a task that panicked.
pub const PANIC_EXIT_CODE: u64 = 101;

static ARGS_PTR: AtomicU64 = AtomicU64::new(0);
static ARGS_LEN: AtomicU64 = AtomicU64::new(0);

#[doc(hidden)]
pub fn set_args(ptr: u64, len: u64) {
    ARGS_PTR.store(ptr, Ordering::Relaxed);
    ARGS_LEN.store(len, Ordering::Relaxed);
}

/// The task's arguments (the manifest's `args`), as the spawner passed them.
pub fn args() -> impl Iterator<Item = &'static str> {
    let (ptr, len) = (
        ARGS_PTR.load(Ordering::Relaxed),
        ARGS_LEN.load(Ordering::Relaxed),
    );
    let bytes: &'static [u8] = if ptr == 0 || len == 0 {
        &[]
    } else {
        // SAFETY: the kernel copied `len` bytes of arguments to `ptr` at the
        // top of this task's stack, above anything the stack ever reuses.
        unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) }
    };
    bytes
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| core::str::from_utf8(s).unwrap_or(""))
}

/// Argument `i`, or "".
pub fn arg(i: usize) -> &'static str {
    args().nth(i).unwrap_or("")
}

/// Declares the service's `main`: `rt::entry!(main);` with
/// `fn main() -> u64`, whose result becomes the exit code.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn _start(args_ptr: u64, args_len: u64) -> ! {
            $crate::set_args(args_ptr, args_len);
            let f: fn() -> u64 = $main;
            $crate::sys::exit(f())
        }
    };
}

#[cfg(not(feature = "hosted"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("panic: {info}");
    sys::exit(PANIC_EXIT_CODE)
}
