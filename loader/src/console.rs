//! The loader's console: human text and structured events on COM1, and the
//! one way out on failure ([`fail`]), which reports and stops the machine.
//!
//! The loader writes to the UART directly rather than through the firmware's
//! text console, so that every line appears once on the serial log and the
//! same code keeps working after boot services are gone.

use core::fmt::{self, Write};
use ipc_abi::exit::{DEBUG_EXIT_PORT, GuestStatus};
use ipc_abi::log::FixedText;
use uart_16550::SerialPort;

pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: COM1 at 0x3f8 exists on every PC the loader targets, and
        // the loader is single-threaded, so no other writer interleaves.
        let mut port = unsafe { SerialPort::new(0x3f8) };
        for b in s.bytes() {
            if b == b'\n' {
                port.send(b'\r');
            }
            port.send(b);
        }
        Ok(())
    }
}

pub fn init() {
    // SAFETY: as in `write_str`.
    unsafe { SerialPort::new(0x3f8) }.init();
}

#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Console, "loader: {}", format_args!($($arg)*));
    }};
}

#[macro_export]
macro_rules! event {
    ($($t:tt)*) => {{
        let _ = ipc_abi::event!(&mut $crate::console::Console, $($t)*);
    }};
}

/// Reports why the loader cannot go on, asks QEMU to exit with
/// [`GuestStatus::LoaderError`], and halts if there is no QEMU to ask.
pub fn fail(reason: &str, detail: fmt::Arguments<'_>) -> ! {
    let msg = FixedText::<200>::format(detail);
    let _ = writeln!(Console, "loader: error: {}", msg.as_str());
    event!("loader.error", reason = reason, msg = msg.as_str());
    stop(GuestStatus::LoaderError)
}

pub fn stop(status: GuestStatus) -> ! {
    // SAFETY: writing the debug-exit port either ends QEMU or, on a machine
    // without the device, is ignored.
    unsafe { x86::io::outl(DEBUG_EXIT_PORT, status.port_value()) };
    loop {
        // SAFETY: halting with interrupts off parks the CPU for good, which
        // is the intent when the loader cannot continue.
        unsafe { core::arch::asm!("cli; hlt") };
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fail("panic", format_args!("{info}"))
}
