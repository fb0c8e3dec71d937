//! A task that dies on purpose, for the death test (`reaper`): `victim
//! KIND` exits (`exit`), faults (`null`, `ud`, `gp`, `de`, `stack`),
//! spins or waits until killed (`spin`, `recv`), or calls its parent on
//! slot 0 with capabilities in the message and dies once answered
//! (`call`: exits; `call-fault`: faults holding what it got, a capability
//! to itself included) or is killed while waiting (`call-wait`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::ipc::Message;
use rt::sys;
use testsvc::faults;

rt::entry!(main);

/// The parent's endpoint, granted before start.
const PARENT: u64 = 0;

fn main() -> u64 {
    match rt::arg(0) {
        "exit" => 7,
        "recv" => {
            let ep = sys::endpoint_create().expect("endpoint");
            let mut msg = Message::new();
            loop {
                let _ = sys::recv(ep, &mut msg, 0);
            }
        }
        kind @ ("call" | "call-fault" | "call-wait") => {
            let mut msg = Message::new();
            // Everything it makes goes to the parent: an endpoint, a
            // notification, a memory object, and the parent's own endpoint.
            let made = [
                sys::endpoint_create(),
                sys::notification_create(),
                sys::mem_create(2),
            ];
            let mut n = 0;
            for slot in made.into_iter().flatten().chain([PARENT]) {
                msg.caps[n] = slot as u32;
                n += 1;
            }
            msg.ncaps = n as u32;
            msg.len = kind.len() as u32;
            msg.data[..kind.len()].copy_from_slice(kind.as_bytes());
            let answered = sys::call_raw(PARENT, &mut msg).is_ok();
            if kind == "call-fault" {
                faults::cause("null");
            }
            if answered { 0 } else { 1 }
        }
        kind if faults::KINDS.contains(&kind) => {
            faults::cause(kind);
            2
        }
        other => {
            rt::println!("victim: unknown kind {other:?}");
            2
        }
    }
}
