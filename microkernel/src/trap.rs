//! What the kernel does with each trap: syscalls, timer ticks, faults in
//! user tasks (the task dies, the kernel goes on) and faults in the kernel
//! itself (a full report, then the machine stops).

use crate::arch::apic::{self, SPURIOUS_VECTOR, TIMER_VECTOR};
use crate::arch::idt::exception_name;
use crate::arch::trap::{SYSCALL_VECTOR, TrapFrame};
use crate::mem::kernel_space;
use crate::task::{self, ExitReason};
use crate::{arch, kevent, kprintln, syscall};
use ipc_abi::exit::GuestStatus;
use ipc_abi::log::Hex;

const PAGE_FAULT: u64 = 14;

/// Called by the entry code with the saved context; whatever `frame` holds
/// on return is where the CPU goes next.
pub extern "C" fn dispatch(frame: &mut TrapFrame) {
    match frame.vector {
        SYSCALL_VECTOR => syscall::handle(frame),
        v if v < 32 => {
            if frame.came_from_user() {
                let addr = if v == PAGE_FAULT { arch::read_cr2() } else { 0 };
                let reason = ExitReason::Fault {
                    vector: v,
                    error: frame.error,
                    rip: frame.rip,
                    addr,
                };
                task::exit_current(frame, reason);
            } else {
                kernel_fault(frame)
            }
        }
        v if v == TIMER_VECTOR as u64 => {
            apic::on_tick();
            if frame.came_from_user() {
                task::yield_current(frame);
            }
        }
        v if v == SPURIOUS_VECTOR as u64 => {}
        v => {
            kevent!("irq.unexpected", vector = v);
            apic::eoi();
        }
    }
}

fn kernel_fault(f: &TrapFrame) -> ! {
    let cr2 = arch::read_cr2();
    let name = exception_name(f.vector);
    let guard = kernel_space::stack_guard();
    let stack_overflow = (guard..guard + ipc_abi::layout::PAGE_SIZE).contains(&cr2)
        && (f.vector == PAGE_FAULT || f.vector == 8);
    kprintln!(
        "\nkernel: CPU exception {} ({name}) in kernel mode",
        f.vector
    );
    if stack_overflow {
        kprintln!("kernel: the fault address is the kernel stack's guard page: stack overflow");
    }
    kprintln!(
        "  error {:#x}  rip {:#018x}  cs {:#x}  rflags {:#x}",
        f.error,
        f.rip,
        f.cs,
        f.rflags
    );
    kprintln!("  cr2 {cr2:#018x}  rsp {:#018x}  ss {:#x}", f.rsp, f.ss);
    kprintln!(
        "  rax {:#018x}  rbx {:#018x}  rcx {:#018x}  rdx {:#018x}",
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx
    );
    kprintln!(
        "  rsi {:#018x}  rdi {:#018x}  rbp {:#018x}  r8  {:#018x}",
        f.rsi,
        f.rdi,
        f.rbp,
        f.r8
    );
    kprintln!(
        "  r9  {:#018x}  r10 {:#018x}  r11 {:#018x}  r12 {:#018x}",
        f.r9,
        f.r10,
        f.r11,
        f.r12
    );
    kprintln!(
        "  r13 {:#018x}  r14 {:#018x}  r15 {:#018x}",
        f.r13,
        f.r14,
        f.r15
    );
    kevent!(
        "kernel.exception",
        vector = f.vector,
        name = name,
        error = Hex(f.error),
        rip = Hex(f.rip),
        cr2 = Hex(cr2),
        rsp = Hex(f.rsp),
        stack_overflow = if stack_overflow { "yes" } else { "no" },
        status = GuestStatus::KernelException.name()
    );
    arch::stop(GuestStatus::KernelException)
}
