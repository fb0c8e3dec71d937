//! The runtime every native (`no_std`) ring-3 service links: the `_start`
//! entry point (through [`entry!`]), typed syscall wrappers, `print!` and
//! `println!` to the console, and a panic handler that reports and exits.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod console;
pub mod sys;

/// Exit code of a task that panicked.
pub const PANIC_EXIT_CODE: u64 = 101;

/// Declares the service's `main`: `rt::entry!(main);` with
/// `fn main() -> u64`, whose result becomes the exit code.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn _start() -> ! {
            let f: fn() -> u64 = $main;
            $crate::sys::exit(f())
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("panic: {info}");
    sys::exit(PANIC_EXIT_CODE)
}
