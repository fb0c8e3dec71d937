//! Trap entry and exit. Every way into the kernel (exception, interrupt,
//! `syscall`) saves the interrupted context as one [`TrapFrame`] and calls
//! [`crate::trap::dispatch`] (`syscall`: [`crate::trap::dispatch_syscall`]);
//! every way out restores the `TrapFrame` that returns (possibly another
//! task's), with `sysretq` when that frame was saved by `syscall` and
//! `iretq` otherwise.
//!
//! A trap from ring 3 saves the registers straight into the running task's
//! own frame (like seL4's TCB register area): `syscall` entry and the CPU's
//! interrupt entry (TSS.rsp0) both start pushing at the end of that frame,
//! which [`set_user_context`] names on every switch. The kernel then runs on
//! its one kernel stack and switches tasks by returning another task's
//! frame, so neither entry nor exit copies a frame. A trap taken in ring 0
//! (the kernel idling with interrupts on) keeps its frame on the kernel
//! stack. The kernel never blocks inside a trap.

use core::arch::global_asm;

/// Pseudo-vector for `syscall` entries (real vectors are 0..=255).
pub const SYSCALL_VECTOR: u64 = 0x100;

/// The interrupted context, in the order the entry code pushes it.
/// 16-byte aligned: the CPU aligns its stack pointer down to 16 before
/// pushing an interrupt frame, so the end of a task's frame (where
/// TSS.rsp0 points) must already be aligned for the pushes to fill it
/// exactly.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(16))]
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

/// A task's saved registers, at an address that never moves while the
/// task exists: trap entry writes them there from assembly while no Rust
/// reference to them exists (hence a raw allocation, not a `Box`, whose
/// uniqueness the compiler may rely on).
pub struct TaskFrame(core::ptr::NonNull<TrapFrame>);

impl TaskFrame {
    pub fn new(frame: TrapFrame) -> TaskFrame {
        TaskFrame(core::ptr::NonNull::from(alloc::boxed::Box::leak(
            alloc::boxed::Box::new(frame),
        )))
    }

    /// Where the entry code saves into while this task runs.
    pub fn as_ptr(&self) -> *mut TrapFrame {
        self.0.as_ptr()
    }
}

// SAFETY: it owns its allocation like a `Box` does; the kernel is one CPU
// and reaches tasks only under its lock.
unsafe impl Send for TaskFrame {}

impl core::ops::Deref for TaskFrame {
    type Target = TrapFrame;
    fn deref(&self) -> &TrapFrame {
        // SAFETY: the allocation lives until `drop`; the entry code writes
        // it only while the task runs in ring 3, when the kernel holds no
        // reference (it is not running).
        unsafe { self.0.as_ref() }
    }
}

impl core::ops::DerefMut for TaskFrame {
    fn deref_mut(&mut self) -> &mut TrapFrame {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { self.0.as_mut() }
    }
}

impl Drop for TaskFrame {
    fn drop(&mut self) {
        // SAFETY: made by `Box::leak` in `new` and freed only here.
        drop(unsafe { alloc::boxed::Box::from_raw(self.0.as_ptr()) });
    }
}

/// A frame the entry code just pushed, as handed to
/// [`crate::trap::dispatch`]: a task's own frame, or one on the kernel
/// stack (a trap in ring 0) or an IST stack.
#[repr(transparent)]
pub struct Pushed(*mut TrapFrame);

impl Pushed {
    pub fn as_ptr(&self) -> *mut TrapFrame {
        self.0
    }

    pub fn came_from_user(&self) -> bool {
        // SAFETY: as in `read`; one field read through the pointer.
        unsafe { (*self.0).came_from_user() }
    }

    /// A `syscall`'s number and first three arguments (`rax`, `rdi`,
    /// `rsi`, `rdx`), read without copying the frame.
    pub fn syscall_args(&self) -> [u64; 4] {
        // SAFETY: as in `read`; fields read through the pointer.
        unsafe {
            let f = self.0;
            [(*f).rax, (*f).rdi, (*f).rsi, (*f).rdx]
        }
    }

    /// A copy of what was saved.
    pub fn read(&self) -> TrapFrame {
        // SAFETY: the entry code passes the frame it has just filled;
        // nothing else refers to it while the kernel runs.
        unsafe { self.0.read() }
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

.macro push_registers
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
.endm

trap_common:
    push_registers
    mov rdi, rsp
    // From ring 3 the frame is the task's own (or an IST stack's): run the
    // kernel on the kernel stack. From ring 0 stay where we are.
    test qword ptr [rsp + 18 * 8], 3
    jz 1f
    mov rsp, [rip + {kernel_rsp}]
1:
    call {dispatch}
    mov rsp, rax
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
    mov rsp, [rip + {context_end}]
    push {user_ds}
    push [rip + {user_rsp}]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {syscall_vector}
    push_registers
    // Always from ring 3: the kernel runs on the kernel stack.
    mov rdi, rsp
    mov rsp, [rip + {kernel_rsp}]
    call {dispatch_syscall}
    mov rsp, rax
    jmp trap_return
"#,
    dispatch = sym crate::trap::dispatch,
    dispatch_syscall = sym crate::trap::dispatch_syscall,
    user_rsp = sym SYSCALL_USER_RSP,
    kernel_rsp = sym KERNEL_RSP,
    context_end = sym USER_CONTEXT_END,
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
/// Top of the kernel stack, where the kernel runs after any trap from
/// ring 3.
#[unsafe(no_mangle)]
static mut KERNEL_RSP: u64 = 0;
/// End of the running task's frame: where `syscall` entry starts pushing
/// (the CPU's interrupt entry uses the same address, from TSS.rsp0).
#[unsafe(no_mangle)]
static mut USER_CONTEXT_END: u64 = 0;

/// Address of the entry stub for `vector`.
pub fn stub_address(vector: u8) -> u64 {
    let base = core::ptr::addr_of!(trap_stubs) as u64;
    base + vector as u64 * 16
}

pub fn syscall_entry_address() -> u64 {
    syscall_entry as *const () as u64
}

/// Sets the kernel stack the kernel runs on after a trap from ring 3.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: single CPU, interrupts off: nothing reads it concurrently.
    unsafe {
        KERNEL_RSP = top;
        USER_CONTEXT_END = top;
    }
    super::gdt::set_kernel_stack(top);
}

/// Names the frame the next trap from ring 3 saves into: the task about to
/// run. Called on every switch.
///
/// # Safety
/// `frame` must stay allocated and untouched by Rust references until
/// another frame is named (the task's frame lives as long as the task, and
/// the kernel names the next task's frame before it frees a task).
pub unsafe fn set_user_context(frame: *mut TrapFrame) {
    let end = frame as u64 + core::mem::size_of::<TrapFrame>() as u64;
    // SAFETY: single CPU, interrupts off: nothing reads it concurrently.
    unsafe { USER_CONTEXT_END = end };
    super::gdt::set_kernel_stack(end);
}

/// Leaves the kernel into `frame` (a task's frame, named with
/// [`set_user_context`]).
///
/// # Safety
/// `frame` must describe a ring-3 context in the current address space
/// (user CS and SS, canonical user RIP and RSP, IF set), and the kernel
/// stack must have been set with [`set_kernel_stack`].
pub unsafe fn enter_user(frame: *const TrapFrame) -> ! {
    // SAFETY: `trap_return` pops exactly one TrapFrame from rsp and leaves
    // the kernel; nothing on the current stack is used again.
    unsafe {
        core::arch::asm!("mov rsp, {0}", "jmp {1}", in(reg) frame, sym trap_return, options(noreturn));
    }
}
