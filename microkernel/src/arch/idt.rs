//! The IDT: all 256 vectors go to their entry stub; double fault and NMI
//! run on their own IST stacks so that a blown kernel stack still reports.

use super::gdt::{IST_DOUBLE_FAULT, IST_NMI, KERNEL_CS};
use super::trap::stub_address;
use x86::dtables::{DescriptorTablePointer, lidt};

#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const EMPTY: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    attributes: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
};

/// Present, DPL 0, 64-bit interrupt gate (IF cleared on entry).
const INTERRUPT_GATE: u8 = 0x8e;

static mut IDT: [Gate; 256] = [EMPTY; 256];

pub fn init() {
    // SAFETY: runs once at boot before interrupts can happen; afterwards the
    // table is only read by the CPU.
    unsafe {
        let idt = &mut *core::ptr::addr_of_mut!(IDT);
        for (v, gate) in idt.iter_mut().enumerate() {
            let addr = stub_address(v as u8);
            *gate = Gate {
                offset_low: addr as u16,
                selector: KERNEL_CS,
                ist: match v {
                    2 => IST_NMI,
                    8 => IST_DOUBLE_FAULT,
                    _ => 0,
                },
                attributes: INTERRUPT_GATE,
                offset_mid: (addr >> 16) as u16,
                offset_high: (addr >> 32) as u32,
                reserved: 0,
            };
        }
        lidt(&DescriptorTablePointer::new(idt));
    }
}

/// Human name of an exception vector.
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide_error",
        1 => "debug",
        2 => "nmi",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound_range",
        6 => "invalid_opcode",
        7 => "device_not_available",
        8 => "double_fault",
        10 => "invalid_tss",
        11 => "segment_not_present",
        12 => "stack_segment_fault",
        13 => "general_protection",
        14 => "page_fault",
        16 => "x87_fault",
        17 => "alignment_check",
        18 => "machine_check",
        19 => "simd_fault",
        20 => "virtualization",
        21 => "control_protection",
        _ => "reserved",
    }
}
