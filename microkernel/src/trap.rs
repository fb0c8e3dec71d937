//! What the kernel does with each trap: syscalls, timer ticks, faults in
//! user tasks (the task dies, the kernel goes on) and faults in the kernel
//! itself (a full report, then the machine stops). Every trap from ring 3
//! ends by choosing who runs next.

use crate::arch::apic::{self, SPURIOUS_VECTOR, TIMER_VECTOR};
use crate::arch::idt::exception_name;
use crate::arch::trap::{Pushed, TrapFrame};
use crate::mem::kernel_space;
use crate::state::Next;
use crate::state::{KERNEL, Kernel};
use crate::task::ExitReason;
use crate::{arch, kevent, kprintln, syscall};
use ipc_abi::exit::GuestStatus;
use ipc_abi::log::Hex;

const PAGE_FAULT: u64 = 14;

/// Called by the entry code of exceptions and interrupts with the frame it
/// pushed; returns the frame to resume: the same one after a trap in ring
/// 0, the next task's after a trap from ring 3. (`syscall` goes to
/// [`dispatch_syscall`].)
pub extern "C" fn dispatch(pushed: Pushed) -> *const TrapFrame {
    if !pushed.came_from_user() {
        kernel_trap(&pushed.read());
        return pushed.as_ptr();
    }
    let mut k = KERNEL.lock();
    on_exception_or_interrupt(&mut k, &pushed);
    if let Some(frame) = k.keeps_running() {
        return frame;
    }
    run_next(k)
}

/// Called by `syscall` entry with the running task's own frame (`syscall`
/// never uses an IST stack: nothing to save, and the fast paths read it
/// where it is); returns the frame to resume. A function of its own, apart
/// from [`dispatch`], so that the fast paths pay for nothing else.
pub extern "C" fn dispatch_syscall(pushed: Pushed) -> *const TrapFrame {
    let mut k = KERNEL.lock();
    let [number, a0, a1, a2] = pushed.syscall_args();
    if let Some(frame) = k.query_fast_path(number, a0) {
        return frame;
    }
    if Kernel::has_fast_path(number)
        && let Some(frame) = k.ipc_fast_path(number, a0, a1, a2)
    {
        return frame;
    }
    general_syscall(k)
}

/// A syscall the fast paths left: the general path, then whoever runs next.
#[inline(never)]
fn general_syscall(mut k: spin::MutexGuard<'static, Kernel>) -> *const TrapFrame {
    syscall::handle(&mut k);
    if let Some(frame) = k.keeps_running() {
        return frame;
    }
    run_next(k)
}

/// A trap from ring 3 other than a syscall: a fault kills the task; ticks
/// and device interrupts are counted and forwarded.
fn on_exception_or_interrupt(k: &mut Kernel, pushed: &Pushed) {
    let crate::state::Trapped { vector, error, rip } = k.save_current(pushed);
    match vector {
        v if v < 32 => {
            let addr = if v == PAGE_FAULT { arch::read_cr2() } else { 0 };
            let me = k.current();
            k.kill(
                me,
                ExitReason::Fault {
                    vector: v,
                    error,
                    rip,
                    addr,
                },
            );
        }
        v if v == TIMER_VECTOR as u64 => {
            apic::on_tick();
            k.on_tick();
        }
        v if v == SPURIOUS_VECTOR as u64 => {}
        v if irq_line(v).is_some() => {
            k.on_irq(irq_line(v).expect("checked"));
            apic::eoi();
        }
        v => {
            kevent!("irq.unexpected", vector = v);
            apic::eoi();
        }
    }
}

/// Picks the next task and loads it, idling (interrupts on, lock released)
/// while nothing is ready; returns its frame.
pub fn run_next(mut k: spin::MutexGuard<'static, Kernel>) -> *const TrapFrame {
    loop {
        match k.schedule() {
            Next::Run(id) => {
                if let Some(frame) = k.switch_to(id) {
                    return frame;
                }
                // Its RIP is not a canonical user address: it dies of the
                // #GP that `sysret`/`iretq` would have raised in ring 0.
                let rip = k.task(id).context.rip;
                k.kill(
                    id,
                    ExitReason::Fault {
                        vector: 13,
                        error: 0,
                        rip,
                        addr: 0,
                    },
                );
            }
            Next::Idle => {
                drop(k);
                arch::wait_for_interrupt();
                k = KERNEL.lock();
                k.wake_expired(apic::ticks());
            }
            Next::NoTasks => {
                let f = crate::mem::frames::stats();
                // The supervisor's status is the machine's (its services'
                // outcome: `cargo xtask run` exits with it).
                let code = k.supervisor_status();
                let status = if code == 0 {
                    GuestStatus::Success
                } else {
                    GuestStatus::SupervisorFailed
                };
                kprintln!("kernel: the last task has exited; powering off");
                kevent!(
                    "shutdown",
                    status = status.name(),
                    reason = "last-task-exited",
                    supervisor_code = code,
                    frames_free = f.free
                );
                arch::stop(status)
            }
            Next::Deadlock => {
                kprintln!(
                    "kernel: every live task is blocked with nothing that could wake it; stopping"
                );
                for t in k.live_tasks() {
                    kprintln!("kernel:   task {} ({}) is {:?}", t.serial, t.name, t.state);
                }
                kevent!(
                    "kernel.deadlock",
                    tasks = k.alive_count(),
                    status = GuestStatus::Deadlock.name()
                );
                arch::stop(GuestStatus::Deadlock)
            }
        }
    }
}

/// The IRQ line behind a vector, if it is one.
fn irq_line(vector: u64) -> Option<u8> {
    let base = arch::ioapic::IRQ_VECTOR_BASE as u64;
    (base..base + ipc_abi::syscall::IRQ_LINES)
        .contains(&vector)
        .then(|| (vector - base) as u8)
}

/// A trap taken in ring 0: the timer or a device while the kernel idles
/// (the only time interrupts are on in ring 0, and the kernel lock is free
/// then), or a fault.
fn kernel_trap(frame: &TrapFrame) {
    match frame.vector {
        v if v == TIMER_VECTOR as u64 => apic::on_tick(),
        v if v == SPURIOUS_VECTOR as u64 => {}
        v if v < 32 => kernel_fault(frame),
        v => {
            if let Some(line) = irq_line(v) {
                KERNEL.lock().on_irq(line);
            }
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
