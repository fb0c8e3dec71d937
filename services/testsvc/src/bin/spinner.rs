//! Preemption, per-task FPU/SSE/AVX state and sleep. `spinner ID` fills
//! all sixteen XMM registers (all sixteen YMM registers where the kernel
//! enabled AVX) with a pattern of its own and spins without ever
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
    let avx = ymm::available();
    let mut last = sys::rdtsc();
    while sys::sys_info().ticks - start_tick < SPIN_TICKS {
        if avx {
            ymm::fill(pattern);
        } else {
            xmm::fill(pattern);
        }
        for _ in 0..20_000 {
            let now = sys::rdtsc();
            if now - last > gap {
                gaps += 1;
            }
            last = now;
        }
        intact &= if avx {
            ymm::holds(pattern)
        } else {
            xmm::holds(pattern)
        };
        rounds += 1;
    }
    testsvc::event!(
        "test.spin id={id} rounds={rounds} preempted={gaps} registers={} intact={}",
        if avx { "ymm" } else { "xmm" },
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

/// YMM access, where the kernel turned AVX on (CPUID says AVX and
/// OSXSAVE, and XCR0 enables the SSE and AVX state): the registers' upper
/// halves are what only `xsave` keeps. Filled and checked through memory,
/// all sixteen at once; the build is soft-float, so the compiler never
/// touches them in between.
#[allow(
    unsafe_code,
    reason = "CPUID, XGETBV and inline assembly on YMM registers"
)]
mod ymm {
    /// Whether AVX instructions may run.
    pub fn available() -> bool {
        let ecx = core::arch::x86_64::__cpuid(1).ecx;
        let (osxsave, avx) = (ecx & (1 << 27) != 0, ecx & (1 << 28) != 0);
        if !(osxsave && avx) {
            return false;
        }
        let (lo, _hi): (u32, u32);
        // SAFETY: XGETBV with ECX = 0 is allowed once CR4.OSXSAVE is set,
        // which CPUID's OSXSAVE bit reports.
        unsafe {
            core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") _hi,
                options(nostack, nomem))
        };
        lo & 0b110 == 0b110
    }

    /// The 64 words the registers hold for `p`: ymm`i` lane `l` is word
    /// `4 i + l`, each different.
    fn image(p: u64) -> [u64; 64] {
        core::array::from_fn(|i| p.rotate_left(i as u32) ^ i as u64)
    }

    pub fn fill(p: u64) {
        let words = image(p);
        // SAFETY: reads 512 bytes of `words`; writes only the vector
        // registers, declared clobbered (their XMM names: the build has no
        // AVX, and the compiler uses none of them).
        unsafe {
            core::arch::asm!(
                "vmovdqu ymm0, [{b}]", "vmovdqu ymm1, [{b} + 32]",
                "vmovdqu ymm2, [{b} + 64]", "vmovdqu ymm3, [{b} + 96]",
                "vmovdqu ymm4, [{b} + 128]", "vmovdqu ymm5, [{b} + 160]",
                "vmovdqu ymm6, [{b} + 192]", "vmovdqu ymm7, [{b} + 224]",
                "vmovdqu ymm8, [{b} + 256]", "vmovdqu ymm9, [{b} + 288]",
                "vmovdqu ymm10, [{b} + 320]", "vmovdqu ymm11, [{b} + 352]",
                "vmovdqu ymm12, [{b} + 384]", "vmovdqu ymm13, [{b} + 416]",
                "vmovdqu ymm14, [{b} + 448]", "vmovdqu ymm15, [{b} + 480]",
                b = in(reg) words.as_ptr(),
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
                options(nostack, readonly)
            )
        }
    }

    pub fn holds(p: u64) -> bool {
        let mut words = [0u64; 64];
        // SAFETY: writes 512 bytes into `words`; reads the registers only.
        unsafe {
            core::arch::asm!(
                "vmovdqu [{b}], ymm0", "vmovdqu [{b} + 32], ymm1",
                "vmovdqu [{b} + 64], ymm2", "vmovdqu [{b} + 96], ymm3",
                "vmovdqu [{b} + 128], ymm4", "vmovdqu [{b} + 160], ymm5",
                "vmovdqu [{b} + 192], ymm6", "vmovdqu [{b} + 224], ymm7",
                "vmovdqu [{b} + 256], ymm8", "vmovdqu [{b} + 288], ymm9",
                "vmovdqu [{b} + 320], ymm10", "vmovdqu [{b} + 352], ymm11",
                "vmovdqu [{b} + 384], ymm12", "vmovdqu [{b} + 416], ymm13",
                "vmovdqu [{b} + 448], ymm14", "vmovdqu [{b} + 480], ymm15",
                b = in(reg) words.as_mut_ptr(),
                options(nostack)
            )
        }
        words == image(p)
    }
}
