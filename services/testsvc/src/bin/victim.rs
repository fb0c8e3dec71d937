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

rt::entry!(main);

/// The parent's endpoint, granted before start.
const PARENT: u64 = 0;

fn main() -> u64 {
    match rt::arg(0) {
        "exit" => 7,
        "spin" => faults::spin(),
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
                faults::read_null();
            }
            if answered { 0 } else { 1 }
        }
        "null" => faults::read_null(),
        "ud" => faults::invalid_opcode(),
        "gp" => faults::privileged(),
        "de" => faults::divide_by_zero(),
        "stack" => faults::recurse(1),
        other => {
            rt::println!("victim: unknown kind {other:?}");
            2
        }
    }
}

/// The faults themselves; each is unsafe on purpose.
#[allow(unsafe_code, reason = "these functions exist to fault")]
mod faults {
    pub fn read_null() -> u64 {
        // SAFETY: not safe: a read of address 0, which is never mapped.
        unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) }
    }

    pub fn invalid_opcode() -> u64 {
        // SAFETY: raises #UD on purpose.
        unsafe { core::arch::asm!("ud2") };
        0
    }

    pub fn privileged() -> u64 {
        // SAFETY: `hlt` in ring 3 raises #GP on purpose.
        unsafe { core::arch::asm!("hlt") };
        0
    }

    pub fn divide_by_zero() -> u64 {
        // SAFETY: `div` by a zero register raises #DE on purpose.
        unsafe {
            core::arch::asm!("xor edx, edx", "mov eax, 1", "xor ecx, ecx", "div ecx", out("eax") _, out("ecx") _, out("edx") _)
        };
        0
    }

    #[inline(never)]
    pub fn recurse(n: u64) -> u64 {
        let mut pad = [n; 128];
        // SAFETY: a volatile read of a local keeps the frame alive.
        let first = unsafe { core::ptr::read_volatile(&pad[0]) };
        if first == 0 {
            return 0;
        }
        pad[1] = recurse(first + 1);
        pad[1] + pad[2]
    }

    pub fn spin() -> ! {
        let mut i: u64 = 0;
        loop {
            // SAFETY: a volatile write to a local; keeps the loop real.
            unsafe { core::ptr::write_volatile(&mut i, i.wrapping_add(1)) };
        }
    }
}
