//! `print!`/`println!` for services: formats into a fixed buffer and sends
//! it with one `console_write` (no allocator needed).

use core::fmt::{self, Write};
use ipc_abi::syscall::CONSOLE_WRITE_MAX;

pub struct Line {
    buf: [u8; CONSOLE_WRITE_MAX],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = CONSOLE_WRITE_MAX - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() { Err(fmt::Error) } else { Ok(()) }
    }
}

#[doc(hidden)]
pub fn print(args: fmt::Arguments<'_>) {
    let mut line = Line {
        buf: [0; CONSOLE_WRITE_MAX],
        len: 0,
    };
    let _ = line.write_fmt(args);
    // Only whole characters were copied in.
    let text = core::str::from_utf8(&line.buf[..line.len]).unwrap_or("");
    let _ = crate::sys::console_write(text);
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
