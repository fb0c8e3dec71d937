//! The last step: switch to the kernel's page tables and stack and call its
//! entry point with the `BootInfo`.

use ipc_abi::boot::BootInfo;
use ipc_abi::layout::{PAGE_SIZE, PHYS_MAP_BASE};

const EFER_NXE: u64 = 1 << 11;

/// # Safety
/// `pml4` must map this code at identity, `info_addr` and the stack at
/// identity and at `PHYS_MAP_BASE`, and `entry` must be the kernel's entry
/// point in a loaded, executable segment. Boot services must be gone.
pub unsafe fn enter_kernel(
    info: BootInfo,
    info_addr: u64,
    pml4: u64,
    stack: u64,
    stack_pages: u64,
    entry: u64,
) -> ! {
    // SAFETY: `info_addr` has room for a BootInfo (caller) and is
    // identity-mapped; nothing else refers to it.
    unsafe { (info_addr as *mut BootInfo).write(info) };
    let info_virt = PHYS_MAP_BASE + info_addr;
    let stack_top = PHYS_MAP_BASE + stack + stack_pages * PAGE_SIZE;
    // SAFETY: interrupts go off for good (the kernel installs its own IDT);
    // NXE must be on before tables with no-execute bits are live; the
    // caller guarantees the tables map everything touched from here on.
    unsafe {
        core::arch::asm!("cli");
        let efer = x86::msr::rdmsr(x86::msr::IA32_EFER);
        x86::msr::wrmsr(x86::msr::IA32_EFER, efer | EFER_NXE);
        core::arch::asm!(
            "mov cr3, {pml4}",
            "mov rsp, {stack}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            pml4 = in(reg) pml4,
            stack = in(reg) stack_top,
            entry = in(reg) entry,
            in("rdi") info_virt,
            options(noreturn)
        )
    }
}
