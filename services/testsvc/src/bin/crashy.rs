//! A test server that faults on request: `crashy NAME KIND` registers NAME
//! and, on `Crash`, dies by KIND: `null` (read address 0), `write-code`
//! (store into its own text), `ud` (invalid opcode), `gp` (privileged
//! instruction), `de` (divide by zero), `stack` (unbounded recursion into
//! the guard page) or `spin` (an endless loop, for the watchdog). Kind
//! `exit-now` exits with code 3 at once (a service that always fails).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

rt::entry!(main);

fn main() -> u64 {
    if rt::arg(1) == "exit-now" {
        return 3;
    }
    testsvc::serve_test(rt::arg(0), crash)
}

fn crash() {
    let kind = rt::arg(1);
    testsvc::faults::cause(kind);
    rt::println!("unknown crash kind {kind:?}");
}
