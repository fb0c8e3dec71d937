//! Faults on purpose, for the services that test how the kernel handles
//! a task's death (`crashy`, `victim`). Each is unsafe by design; this is
//! the only module of the test services that may use `unsafe`.
#![allow(unsafe_code, reason = "these functions exist to fault")]

/// The kinds [`cause`] knows: read of address 0, store into its own text,
/// invalid opcode, privileged instruction, divide by zero, unbounded
/// recursion into the stack's guard page, an endless loop.
pub const KINDS: &[&str] = &["null", "write-code", "ud", "gp", "de", "stack", "spin"];

/// Dies of `kind`; returns only for a kind it does not know.
pub fn cause(kind: &str) {
    match kind {
        "null" => {
            // SAFETY: not safe: a read of address 0, which is never mapped.
            let v = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
            rt::println!("read {v}");
        }
        "write-code" => {
            let target = cause as *const () as *mut u8;
            // SAFETY: not safe: text is mapped read-execute, so this store
            // faults.
            unsafe { core::ptr::write_volatile(target, 0xcc) };
        }
        // SAFETY: raises #UD on purpose.
        "ud" => unsafe { core::arch::asm!("ud2") },
        // SAFETY: `hlt` in ring 3 raises #GP on purpose.
        "gp" => unsafe { core::arch::asm!("hlt") },
        "de" => {
            // SAFETY: `div` by a zero register raises #DE on purpose.
            unsafe {
                core::arch::asm!("xor edx, edx", "mov eax, 1", "xor ecx, ecx", "div ecx", out("eax") _, out("ecx") _, out("edx") _)
            };
        }
        "stack" => {
            let _ = recurse(1);
        }
        "spin" => spin(),
        _ => {}
    }
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    let mut pad = [n; 128];
    // SAFETY: a volatile read of a local keeps the frame alive.
    let first = unsafe { core::ptr::read_volatile(&pad[0]) };
    if first == 0 {
        return 0;
    }
    pad[1] = recurse(first + 1);
    pad[1] + pad[2]
}

fn spin() -> ! {
    let mut i: u64 = 0;
    loop {
        // SAFETY: a volatile write to a local; keeps the loop real.
        unsafe { core::ptr::write_volatile(&mut i, i.wrapping_add(1)) };
    }
}
