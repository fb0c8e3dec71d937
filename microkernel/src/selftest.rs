//! Boot-time checks and test-only faults. `selftest=NAME` on the kernel
//! command line (the ESP file `\cmdline`) makes the kernel fault on purpose
//! so that the test harness can check the fault reports; production boots
//! have no command line and never get here.

use crate::{arch, kevent, kprintln};

/// Waits (interrupts on, for that moment only) until the LAPIC timer has
/// ticked twice, or panics after half a second of TSC time.
pub fn check_timer(tsc_hz: u64) {
    let start = arch::rdtsc();
    while arch::apic::ticks() < 2 {
        if arch::rdtsc() - start > tsc_hz / 2 {
            panic!("the LAPIC timer did not tick within 500 ms");
        }
        arch::wait_for_interrupt();
    }
}

pub fn run_from_cmdline(cmdline: &str) {
    for word in cmdline.split_ascii_whitespace() {
        if let Some(name) = word.strip_prefix("selftest=") {
            kprintln!("kernel: running selftest {name}");
            kevent!("selftest", name = name);
            run(name);
        }
    }
}

fn run(name: &str) {
    match name {
        "kernel-page-fault" => {
            // SAFETY: deliberately not safe: this read of an unmapped
            // address exists to raise a page fault in ring 0.
            let v = unsafe { core::ptr::read_volatile(0x0bad_0000_0000 as *const u64) };
            kprintln!("unreachable: read {v}");
        }
        "kernel-invalid-opcode" => {
            // SAFETY: deliberately raises #UD.
            unsafe { core::arch::asm!("ud2") };
        }
        "kernel-stack-overflow" => {
            kprintln!("unreachable: {}", recurse(1));
        }
        "kernel-panic" => panic!("selftest asked for a panic"),
        other => kprintln!("kernel: unknown selftest {other:?} ignored"),
    }
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    let mut pad = [n; 64];
    // The volatile read keeps the frame and the recursion from being
    // optimized away.
    // SAFETY: reading our own local array.
    let first = unsafe { core::ptr::read_volatile(&pad[0]) };
    if first == 0 {
        return 0; // never: n starts at 1 and only grows
    }
    pad[1] = recurse(first + 1);
    pad[1] + pad[2]
}
