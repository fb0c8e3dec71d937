//! Benchmark peers: `benchsrv echo` registers `bench` and sends every
//! message straight back (no decoding); `benchsrv yield` yields forever so
//! that the benchmark's own yields become context switches.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::ipc::Message;
use rt::sys;

rt::entry!(main);

fn main() -> u64 {
    if rt::arg(0) == "yield" {
        loop {
            sys::yield_now();
        }
    }
    let ep = sys::endpoint_create().expect("endpoint");
    let _ = rt::names::register("bench", ep);
    let mut msg = Message::new();
    let _ = sys::recv(ep, &mut msg, 0);
    loop {
        msg.ncaps = 0;
        let _ = sys::reply_recv(ep, &mut msg, 0);
    }
}
