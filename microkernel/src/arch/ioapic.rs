//! The I/O APIC: routes device interrupt lines to vectors
//! `IRQ_VECTOR_BASE + line`, each masked until a driver binds it. Two
//! registers (select, window) at the standard address; reading the address
//! from the ACPI MADT is left for when a machine needs another one.

use crate::mem::phys_to_virt;

/// Where QEMU's q35 (and most PCs) put the first I/O APIC.
pub const IOAPIC_PHYS: u64 = 0xfec0_0000;
pub const IRQ_VECTOR_BASE: u8 = 0x30;
const REG_SELECT: u64 = 0x00;
const REG_WINDOW: u64 = 0x10;
const REDIRECTION_BASE: u32 = 0x10;
const MASKED: u32 = 1 << 16;

fn write(reg: u32, value: u32) {
    let base = phys_to_virt(IOAPIC_PHYS);
    // SAFETY: the I/O APIC's registers are mapped by the direct map
    // (uncached is not needed under QEMU); select then write is the
    // documented access sequence, and the kernel is single-CPU.
    unsafe {
        ((base + REG_SELECT) as *mut u32).write_volatile(reg);
        ((base + REG_WINDOW) as *mut u32).write_volatile(value);
    }
}

/// Routes every line to its vector, masked, edge-triggered, active high
/// (ISA semantics), delivered to the boot CPU.
pub fn init(lines: u8) {
    for line in 0..lines {
        set(line, true);
    }
}

/// Masks or unmasks `line`.
pub fn set(line: u8, masked: bool) {
    let reg = REDIRECTION_BASE + 2 * line as u32;
    write(reg + 1, 0); // destination: APIC id 0
    write(
        reg,
        (IRQ_VECTOR_BASE + line) as u32 | if masked { MASKED } else { 0 },
    );
}
