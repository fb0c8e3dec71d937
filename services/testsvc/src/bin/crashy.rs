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
    match rt::arg(1) {
        "null" => faults::read_null(),
        "write-code" => faults::write_code(),
        "ud" => faults::invalid_opcode(),
        "gp" => faults::privileged(),
        "de" => faults::divide_by_zero(),
        "stack" => {
            let _ = faults::recurse(1);
        }
        "spin" => faults::spin(),
        other => rt::println!("unknown crash kind {other:?}"),
    }
}

/// The faults themselves; each is unsafe on purpose.
#[allow(unsafe_code, reason = "these functions exist to fault")]
mod faults {
    pub fn read_null() {
        // SAFETY: not safe: a read of address 0, which is never mapped.
        let v = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
        rt::println!("read {v}");
    }

    pub fn write_code() {
        let target = write_code as *const () as *mut u8;
        // SAFETY: not safe: text is mapped read-execute, so this store
        // faults.
        unsafe { core::ptr::write_volatile(target, 0xcc) };
    }

    pub fn invalid_opcode() {
        // SAFETY: raises #UD on purpose.
        unsafe { core::arch::asm!("ud2") };
    }

    pub fn privileged() {
        // SAFETY: `hlt` in ring 3 raises #GP on purpose.
        unsafe { core::arch::asm!("hlt") };
    }

    pub fn divide_by_zero() {
        // SAFETY: `div` by a zero register raises #DE on purpose.
        unsafe {
            core::arch::asm!("xor edx, edx", "mov eax, 1", "xor ecx, ecx", "div ecx", out("eax") _, out("ecx") _, out("edx") _)
        };
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

    pub fn spin() {
        let mut i: u64 = 0;
        loop {
            // SAFETY: a volatile write to a local; keeps the loop real.
            unsafe { core::ptr::write_volatile(&mut i, i.wrapping_add(1)) };
        }
    }
}
