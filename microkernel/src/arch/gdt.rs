//! GDT, TSS (ring-0 stack for traps from ring 3, and separate IST stacks for
//! double fault and NMI), and the `syscall`/`sysret` MSRs.
//!
//! Selector order is dictated by `sysret`: user data must sit 8 bytes below
//! user code, both above the base in STAR[63:48].

use core::mem::size_of;
use core::ptr::addr_of;
use x86::bits64::task::TaskStateSegment;
use x86::dtables::{DescriptorTablePointer, lgdt};
use x86::msr::{IA32_EFER, IA32_FMASK, IA32_LSTAR, IA32_STAR, rdmsr, wrmsr};

pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
pub const USER_DS: u16 = 0x18 | 3;
pub const USER_CS: u16 = 0x20 | 3;
const TSS_SEL: u16 = 0x28;

/// IST slots (1-based as the IDT wants them).
pub const IST_DOUBLE_FAULT: u8 = 1;
pub const IST_NMI: u8 = 2;

const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack([u8; IST_STACK_SIZE]);

static mut DOUBLE_FAULT_STACK: Stack = Stack([0; IST_STACK_SIZE]);
static mut NMI_STACK: Stack = Stack([0; IST_STACK_SIZE]);
static mut TSS: TaskStateSegment = TaskStateSegment::new();
static mut GDT: [u64; 7] = [
    0,
    0x00af_9b00_0000_ffff, // kernel code: present, DPL 0, long mode
    0x00cf_9300_0000_ffff, // kernel data
    0x00cf_f300_0000_ffff, // user data: DPL 3
    0x00af_fb00_0000_ffff, // user code: DPL 3, long mode
    0,                     // TSS low half, filled in at init
    0,                     // TSS high half
];

const EFER_SCE: u64 = 1;
/// RFLAGS bits cleared on `syscall`: IF, TF, DF, AC, NT.
const SYSCALL_FLAG_MASK: u64 = 0x200 | 0x100 | 0x400 | 0x4_0000 | 0x4000;

/// Loads the GDT and TSS, reloads the segment registers, and arms
/// `syscall` to enter at `syscall_entry`.
pub fn init(syscall_entry: u64) {
    // SAFETY: runs once at boot on the only CPU before anything else uses
    // these statics; the descriptors built here describe them exactly, and
    // the far return reloads CS with the kernel code selector just loaded.
    unsafe {
        let tss = &mut *core::ptr::addr_of_mut!(TSS);
        tss.set_ist(
            IST_DOUBLE_FAULT as usize - 1,
            stack_top(addr_of!(DOUBLE_FAULT_STACK)),
        );
        tss.set_ist(IST_NMI as usize - 1, stack_top(addr_of!(NMI_STACK)));
        let base = addr_of!(TSS) as u64;
        let limit = (size_of::<TaskStateSegment>() - 1) as u64;
        let gdt = &mut *core::ptr::addr_of_mut!(GDT);
        gdt[5] = (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (0x89 << 40) // present, 64-bit TSS (available)
            | (((base >> 24) & 0xff) << 56);
        gdt[6] = base >> 32;

        lgdt(&DescriptorTablePointer::new(gdt));
        core::arch::asm!(
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "mov ss, {ds:x}",
            "xor {tmp:e}, {tmp:e}",
            "mov fs, {tmp:x}",
            "mov gs, {tmp:x}",
            cs = in(reg) KERNEL_CS as u64,
            ds = in(reg) KERNEL_DS as u64,
            tmp = out(reg) _,
        );
        x86::task::load_tr(x86::segmentation::SegmentSelector::from_raw(TSS_SEL));

        wrmsr(IA32_EFER, rdmsr(IA32_EFER) | EFER_SCE);
        wrmsr(
            IA32_STAR,
            ((KERNEL_DS as u64) << 48) | ((KERNEL_CS as u64) << 32),
        );
        wrmsr(IA32_LSTAR, syscall_entry);
        wrmsr(IA32_FMASK, SYSCALL_FLAG_MASK);
    }
}

fn stack_top(stack: *const Stack) -> u64 {
    stack as u64 + IST_STACK_SIZE as u64
}

/// Sets where the CPU starts pushing on a trap from ring 3 (TSS.rsp0).
pub fn set_kernel_stack(top: u64) {
    // SAFETY: single CPU, interrupts off in the kernel: nobody else touches
    // the TSS while we write one field of it.
    // (A plain store: this runs on every task switch.)
    unsafe { (*core::ptr::addr_of_mut!(TSS)).rsp[0] = top };
}
