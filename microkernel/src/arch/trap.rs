//! Trap entry and exit. Every way into the kernel (exception, interrupt,
//! `syscall`) saves the interrupted context as one [`TrapFrame`] on the
//! kernel stack and calls [`crate::trap::dispatch`]; every way out restores
//! a `TrapFrame` (possibly another task's), with `sysretq` when that frame
//! was saved by `syscall` and `iretq` otherwise.
//!
//! One kernel stack serves all traps (the kernel never blocks inside a
//! trap; it switches tasks by switching the saved frame, like seL4).

use core::arch::global_asm;

/// Pseudo-vector for `syscall` entries (real vectors are 0..=255).
pub const SYSCALL_VECTOR: u64 = 0x100;

/// The interrupted context, in the order the entry code pushes it.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    pub fn came_from_user(&self) -> bool {
        self.cs & 3 == 3
    }

    /// Whether returning to this context lands on a canonical lower-half
    /// address (user tasks' RIP and RSP).
    pub fn resumes_in_user_half(&self) -> bool {
        self.rip < 1 << 47 && self.rsp < 1 << 47
    }
}

// Exception vectors for which the CPU pushes an error code.
global_asm!(
    r#"
    .section .text
    .global trap_stubs
    .balign 16
trap_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    push vec
    .else
    push 0
    push vec
    .endif
    jmp trap_common
    .set vec, vec + 1
    .endr

trap_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    cld
    mov rdi, rsp
    call {dispatch}
    .global trap_return
trap_return:
    // A context saved by `syscall` goes back with `sysretq` (RCX = RIP,
    // R11 = RFLAGS, as the instruction defines), unless its RIP is not a
    // canonical lower-half address: sysret would then fault in ring 0.
    cmp qword ptr [rsp + 15 * 8], {syscall_vector}
    jne 2f
    mov rax, [rsp + 17 * 8]
    shr rax, 47
    jnz 2f
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    mov rcx, [rsp + 16]
    mov r11, [rsp + 32]
    mov rsp, [rsp + 40]
    sysretq
2:
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq

    .global syscall_entry
syscall_entry:
    mov [rip + {user_rsp}], rsp
    mov rsp, [rip + {kernel_rsp}]
    push {user_ds}
    push [rip + {user_rsp}]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {syscall_vector}
    jmp trap_common
"#,
    dispatch = sym crate::trap::dispatch,
    user_rsp = sym SYSCALL_USER_RSP,
    kernel_rsp = sym SYSCALL_KERNEL_RSP,
    user_ds = const super::gdt::USER_DS as u64,
    user_cs = const super::gdt::USER_CS as u64,
    syscall_vector = const SYSCALL_VECTOR,
);

unsafe extern "C" {
    static trap_stubs: [u8; 256 * 16];
    fn syscall_entry();
    fn trap_return() -> !;
}

/// Scratch for the user stack pointer during `syscall` entry (single CPU).
#[unsafe(no_mangle)]
static mut SYSCALL_USER_RSP: u64 = 0;
/// Top of the kernel stack, loaded on `syscall` entry.
#[unsafe(no_mangle)]
static mut SYSCALL_KERNEL_RSP: u64 = 0;

/// Address of the entry stub for `vector`.
pub fn stub_address(vector: u8) -> u64 {
    let base = core::ptr::addr_of!(trap_stubs) as u64;
    base + vector as u64 * 16
}

pub fn syscall_entry_address() -> u64 {
    syscall_entry as *const () as u64
}

/// Sets the stack every entry from ring 3 starts on (TSS.rsp0 and the
/// `syscall` path).
pub fn set_kernel_stack(top: u64) {
    super::gdt::set_kernel_stack(top);
    // SAFETY: single CPU, interrupts off: nothing reads it concurrently.
    unsafe { SYSCALL_KERNEL_RSP = top };
}

/// Leaves the kernel into `frame`, on a fresh kernel stack whose top is
/// `stack_top`.
///
/// # Safety
/// `frame` must describe a ring-3 context in the current address space
/// (user CS and SS, canonical user RIP and RSP, IF set), and `stack_top`
/// must be the kernel stack set with [`set_kernel_stack`].
pub unsafe fn enter_user(frame: &TrapFrame, stack_top: u64) -> ! {
    let at = stack_top - core::mem::size_of::<TrapFrame>() as u64;
    // SAFETY: the frame slot is inside the kernel stack, which nothing else
    // uses at this point (we never return to the caller), and `trap_return`
    // pops exactly one TrapFrame from rsp.
    unsafe {
        (at as *mut TrapFrame).write(*frame);
        core::arch::asm!("mov rsp, {0}", "jmp {1}", in(reg) at, sym trap_return, options(noreturn));
    }
}
