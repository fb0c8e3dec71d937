//! Implementation B of the `greeter` service: counts its callers.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use core::fmt::Write;
use ipc_abi::proto::greeter::{GreeterProtocol, GreeterReply, GreeterRequest};
use rt::sys;

rt::entry!(main);

fn main() -> u64 {
    let ep = sys::endpoint_create().expect("endpoint");
    let _ = rt::names::register("greeter", ep);
    let mut count = 0u64;
    rt::server::serve::<GreeterProtocol>(ep, move |_, GreeterRequest::Greet, _, scratch| {
        count += 1;
        let mut w = Cursor {
            buf: scratch,
            len: 0,
        };
        let _ = write!(w, "greetings, caller number {count}");
        let len = w.len;
        let text = core::str::from_utf8(&scratch[..len]).unwrap_or("");
        Ok((
            GreeterReply::Greeting {
                text,
                implementation: "B",
            },
            None,
        ))
    })
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let b = s.as_bytes();
        let end = (self.len + b.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&b[..end - self.len]);
        self.len = end;
        Ok(())
    }
}
