//! The kernel console on COM1: human text (`kprintln!`) and structured
//! events (`kevent!`, format in `ipc_abi::log`), both under one lock so that
//! lines never interleave.

use core::fmt::{self, Write};
use spin::Mutex;
use uart_16550::SerialPort;

struct Console(SerialPort);

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.0.send(b'\r');
            }
            self.0.send(b);
        }
        Ok(())
    }
}

static CONSOLE: Mutex<Option<Console>> = Mutex::new(None);

pub fn init() {
    // SAFETY: COM1 at 0x3f8 exists on the machines we boot on, and this
    // module is its only user after the loader is gone.
    let mut port = unsafe { SerialPort::new(0x3f8) };
    port.init();
    *CONSOLE.lock() = Some(Console(port));
}

/// Runs `f` with the console. The kernel is single-CPU with interrupts off,
/// so the lock is only ever contended by a panic or fault raised while it
/// was held; then it is taken over instead of deadlocking.
pub fn with(f: impl FnOnce(&mut dyn Write)) {
    let mut guard = match CONSOLE.try_lock() {
        Some(g) => g,
        None => {
            // SAFETY: single CPU, and the holder was interrupted by the fault
            // or panic that brought us here and will never resume.
            unsafe { CONSOLE.force_unlock() };
            CONSOLE.lock()
        }
    };
    if let Some(c) = guard.as_mut() {
        f(c);
    }
}

/// Prints a task's text as `[name] line` lines. Control characters would
/// let a task move the cursor, clear the screen or fake a line start, so
/// they are shown as '.'.
pub fn print_task_lines(name: &str, text: &str) {
    for line in text.lines() {
        let clean: alloc::string::String = line
            .chars()
            .map(|c| if c.is_control() && c != '\t' { '.' } else { c })
            .collect();
        with(|w| {
            let _ = writeln!(w, "[{name}] {clean}");
        });
    }
}

#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::console::with(|w| { let _ = writeln!(w, $($arg)*); })
    };
}

#[macro_export]
macro_rules! kevent {
    ($($t:tt)*) => {
        $crate::console::with(|w| { let _ = ipc_abi::event!(w, $($t)*); })
    };
}
