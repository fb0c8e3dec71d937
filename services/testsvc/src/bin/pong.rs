//! The IPC test server: registers under its first argument (default
//! `pong`) and answers the test protocol.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

rt::entry!(main);

fn main() -> u64 {
    let name = match rt::arg(0) {
        "" => "pong",
        n => n,
    };
    testsvc::serve_test(name, || {})
}
