//! Preemption, per-task FPU/SSE state and sleep. `spinner ID` fills all
//! sixteen XMM registers with a pattern of its own and spins without ever
//! yielding for about half a second of timer ticks; only the timer can
//! take the CPU from it. It counts the gaps in its TSC readings (each one a
//! time the CPU ran someone else) and checks its XMM registers after every
//! round. `spinner sleep` checks that `sleep` lasts as long as asked.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use rt::sys;
use testsvc::check;

rt::entry!(main);

const SPIN_TICKS: u64 = 50;

fn main() -> u64 {
    let id = rt::arg(0);
    if id == "sleep" {
        let before = sys::sys_info().ticks;
        sys::sleep(5);
        let slept = sys::sys_info().ticks - before;
        return u64::from(!check("sched.sleep_lasts", (5..50).contains(&slept)));
    }
    let pattern = 0x1111_1111_1111_1111u64.wrapping_mul(id.parse::<u64>().unwrap_or(7));
    let hz = sys::sys_info().tsc_hz.max(1);
    let gap = hz / 500; // 2 ms without us running = someone else ran
    let start_tick = sys::sys_info().ticks;
    let (mut intact, mut gaps, mut rounds) = (true, 0u64, 0u64);
    let mut last = sys::rdtsc();
    while sys::sys_info().ticks - start_tick < SPIN_TICKS {
        xmm::fill(pattern);
        for _ in 0..20_000 {
            let now = sys::rdtsc();
            if now - last > gap {
                gaps += 1;
            }
            last = now;
        }
        intact &= xmm::holds(pattern);
        rounds += 1;
    }
    testsvc::event!(
        "test.spin id={id} rounds={rounds} preempted={gaps} xmm_intact={}",
        if intact { "yes" } else { "no" }
    );
    u64::from(!intact)
}

/// XMM access. The services are built soft-float, so the compiler never
/// touches XMM registers between these blocks: what `fill` leaves there is
/// what the kernel must preserve across preemption.
#[allow(unsafe_code, reason = "inline assembly on XMM registers")]
mod xmm {
    pub fn fill(p: u64) {
        // SAFETY: writes only the XMM registers, declared as clobbered.
        unsafe {
            core::arch::asm!(
                "movq xmm0, {a}", "add {a}, 1", "movq xmm1, {a}", "add {a}, 1",
                "movq xmm2, {a}", "add {a}, 1", "movq xmm3, {a}", "add {a}, 1",
                "movq xmm4, {a}", "add {a}, 1", "movq xmm5, {a}", "add {a}, 1",
                "movq xmm6, {a}", "add {a}, 1", "movq xmm7, {a}", "add {a}, 1",
                "movq xmm8, {a}", "add {a}, 1", "movq xmm9, {a}", "add {a}, 1",
                "movq xmm10, {a}", "add {a}, 1", "movq xmm11, {a}", "add {a}, 1",
                "movq xmm12, {a}", "add {a}, 1", "movq xmm13, {a}", "add {a}, 1",
                "movq xmm14, {a}", "add {a}, 1", "movq xmm15, {a}",
                a = inout(reg) p => _,
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
                options(nostack, nomem)
            )
        }
    }

    pub fn holds(p: u64) -> bool {
        let bad: u64;
        // SAFETY: reads XMM registers into general ones; no memory.
        unsafe {
            core::arch::asm!(
                "xor {bad:e}, {bad:e}",
                "movq {t}, xmm0", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm1", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm2", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm3", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm4", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm5", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm6", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm7", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm8", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm9", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm10", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm11", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm12", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm13", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm14", "xor {t}, {a}", "or {bad}, {t}", "add {a}, 1",
                "movq {t}, xmm15", "xor {t}, {a}", "or {bad}, {t}",
                a = inout(reg) p => _,
                t = out(reg) _,
                bad = out(reg) bad,
                options(nostack, nomem)
            )
        }
        bad == 0
    }
}
