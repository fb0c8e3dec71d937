//! The local APIC timer, driven by hand: the `x86` crate's xAPIC driver only
//! offers TSC-deadline mode, which QEMU's default CPU model lacks, and we
//! need periodic mode and the current-count register for calibration.
//! Six registers, reached through the direct map.

use crate::mem::phys_to_virt;
use core::sync::atomic::{AtomicU64, Ordering};
use x86::msr::{IA32_APIC_BASE, rdmsr};

/// The local APIC's physical page (0 before `init`): the kernel's own,
/// never device memory a task may map.
static PHYS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Where the local APIC's registers are, physically.
pub fn phys_base() -> u64 {
    PHYS.load(Ordering::Relaxed)
}

pub const TIMER_VECTOR: u8 = 0x20;
pub const SPURIOUS_VECTOR: u8 = 0xff;
pub const TIMER_HZ: u64 = ipc_abi::syscall::TICK_HZ;

const REG_EOI: usize = 0xb0;
const REG_SVR: usize = 0xf0;
const REG_LVT_TIMER: usize = 0x320;
const REG_INITIAL_COUNT: usize = 0x380;
const REG_CURRENT_COUNT: usize = 0x390;
const REG_DIVIDE: usize = 0x3e0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const DIVIDE_BY_16: u32 = 0b0011;

static BASE: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

fn reg(offset: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) + offset as u64) as *mut u32
}

fn write(offset: usize, value: u32) {
    // SAFETY: BASE is the direct-map address of this CPU's APIC page (set
    // in `init` before any access), and `offset` is one of the register
    // constants above, all inside that page and 16-byte aligned.
    unsafe { reg(offset).write_volatile(value) }
}

fn read(offset: usize) -> u32 {
    // SAFETY: as for `write`.
    unsafe { reg(offset).read_volatile() }
}

/// Masks the legacy PICs, enables the local APIC, measures its timer
/// against the TSC and starts it at [`TIMER_HZ`]. Returns the timer's
/// counts per tick.
pub fn init(tsc_hz: u64) -> u32 {
    // SAFETY: masking both 8259s with OCW1 is harmless and keeps stray
    // legacy IRQs from aliasing exception vectors.
    unsafe {
        x86::io::outb(0x21, 0xff);
        x86::io::outb(0xa1, 0xff);
    }
    // SAFETY: reading the APIC base MSR has no side effects.
    let phys = unsafe { rdmsr(IA32_APIC_BASE) } & 0x000f_ffff_ffff_f000;
    BASE.store(phys_to_virt(phys), Ordering::Relaxed);
    PHYS.store(phys, Ordering::Relaxed);
    write(REG_SVR, SVR_ENABLE | SPURIOUS_VECTOR as u32);
    write(REG_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    write(REG_INITIAL_COUNT, u32::MAX);
    let start = super::rdtsc();
    while super::rdtsc() - start < tsc_hz / TIMER_HZ {}
    let per_tick = u32::MAX - read(REG_CURRENT_COUNT);
    write(REG_LVT_TIMER, LVT_PERIODIC | TIMER_VECTOR as u32);
    write(REG_INITIAL_COUNT, per_tick.max(1));
    per_tick
}

/// Called from the timer interrupt.
pub fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    eoi();
}

pub fn eoi() {
    write(REG_EOI, 0);
}

pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}
