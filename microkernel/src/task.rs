//! Tasks and the scheduler: round-robin over ready tasks, one running.
//!
//! A running task's registers live in the trap frame on the kernel stack;
//! switching tasks means saving that frame into the old task and loading
//! the new task's saved frame (and address space) in its place.

use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap::TrapFrame;
use crate::mem::kernel_space::{kernel_space, stack_top};
use crate::mem::paging::{AddressSpace, MapError, NO_EXECUTE, USER, WRITABLE};
use crate::mem::{frames, phys_to_virt};
use crate::{arch, kevent, kprintln};
use alloc::collections::VecDeque;
use alloc::string::String;
use ipc_abi::exit::GuestStatus;
use ipc_abi::layout::{PAGE_SIZE, USER_END, USER_STACK_PAGES, USER_STACK_TOP, USER_START};
use ipc_abi::log::Hex;
use kerncore::elf::{self, ElfError};
use spin::Mutex;

const RFLAGS_IF: u64 = 0x200;
const RFLAGS_RESERVED: u64 = 0x2;

pub struct Task {
    pub id: u64,
    pub name: String,
    pub space: AddressSpace,
    pub context: TrapFrame,
}

/// Why a task ended.
#[derive(Clone, Copy, Debug)]
pub enum ExitReason {
    Exit(u64),
    Fault {
        vector: u64,
        error: u64,
        rip: u64,
        addr: u64,
    },
}

#[derive(Debug)]
pub enum SpawnError {
    Elf(ElfError),
    Map(MapError),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::Elf(e) => write!(f, "bad ELF: {e}"),
            SpawnError::Map(e) => write!(f, "cannot map: {e:?}"),
        }
    }
}

struct Scheduler {
    ready: VecDeque<Task>,
    current: Option<Task>,
    next_id: u64,
}

static SCHED: Mutex<Scheduler> = Mutex::new(Scheduler {
    ready: VecDeque::new(),
    current: None,
    next_id: 1,
});

/// Loads a static ELF into a fresh address space and queues it.
pub fn spawn(name: &str, image: &[u8]) -> Result<u64, SpawnError> {
    let plan = elf::plan(image, USER_START..USER_END).map_err(SpawnError::Elf)?;
    let mut space = AddressSpace::new_user(kernel_space()).map_err(SpawnError::Map)?;
    let result = (|| {
        for seg in &plan.segments {
            let mut flags = USER;
            if seg.writable {
                flags |= WRITABLE;
            }
            if !seg.executable {
                flags |= NO_EXECUTE;
            }
            for page in seg.page_range().step_by(PAGE_SIZE as usize) {
                let frame = frames::alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                copy_segment_page(image, seg, page, frame);
                space.map(page, frame, flags)?;
            }
        }
        for i in 1..=USER_STACK_PAGES {
            let frame = frames::alloc_zeroed().ok_or(MapError::OutOfMemory)?;
            space.map(
                USER_STACK_TOP - i * PAGE_SIZE,
                frame,
                USER | WRITABLE | NO_EXECUTE,
            )?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        space.destroy();
        return Err(SpawnError::Map(e));
    }
    let context = TrapFrame {
        rip: plan.entry,
        cs: USER_CS as u64,
        rflags: RFLAGS_IF | RFLAGS_RESERVED,
        // As if `_start` had been called: rsp + 8 is 16-byte aligned.
        rsp: USER_STACK_TOP - 8,
        ss: USER_DS as u64,
        ..TrapFrame::default()
    };
    let mut sched = SCHED.lock();
    let id = sched.next_id;
    sched.next_id += 1;
    kevent!(
        "task.start",
        id = id,
        name = name,
        entry = Hex(plan.entry),
        ring = 3u64
    );
    sched.ready.push_back(Task {
        id,
        name: name.into(),
        space,
        context,
    });
    Ok(id)
}

/// Copies the part of `seg`'s file bytes that falls into `page` into `frame`.
fn copy_segment_page(image: &[u8], seg: &elf::Segment, page: u64, frame: u64) {
    let file_start = seg.vaddr;
    let file_end = seg.vaddr + seg.file_size() as u64;
    let from = page.max(file_start);
    let to = (page + PAGE_SIZE).min(file_end);
    if from >= to {
        return;
    }
    let src_off = seg.file_range.0 + (from - file_start) as usize;
    let src = &image[src_off..src_off + (to - from) as usize];
    // SAFETY: `frame` is a fresh frame owned by the caller, reached through
    // the direct map; the copy stays within its 4 KiB.
    let dst = unsafe {
        core::slice::from_raw_parts_mut((phys_to_virt(frame) + (from - page)) as *mut u8, src.len())
    };
    dst.copy_from_slice(src);
}

/// Enters the first ready task; never returns.
pub fn start() -> ! {
    let frame = {
        let mut sched = SCHED.lock();
        let Some(task) = sched.ready.pop_front() else {
            shutdown_no_tasks();
        };
        let frame = task.context;
        // SAFETY: the task's space shares the kernel half, so the kernel
        // keeps running after the switch.
        unsafe { arch::load_cr3(task.space.pml4()) };
        sched.current = Some(task);
        frame
    };
    kevent!("boot.phase", phase = "user.enter", tsc = arch::rdtsc());
    // SAFETY: the frame was built by `spawn` for ring 3 in the address
    // space just loaded; the kernel stack is the one traps use.
    unsafe { arch::trap::enter_user(&frame, stack_top()) }
}

/// Runs `f` with the current task.
pub fn with_current<R>(f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    SCHED.lock().current.as_mut().map(f)
}

/// Gives the CPU to the next ready task, if any (round robin).
pub fn yield_current(frame: &mut TrapFrame) {
    let mut sched = SCHED.lock();
    let Some(next) = sched.ready.pop_front() else {
        return;
    };
    let mut prev = sched
        .current
        .replace(next)
        .expect("yield without a current task");
    prev.context = *frame;
    sched.ready.push_back(prev);
    switch_into(&sched, frame);
}

/// Ends the current task and switches to the next one; powers off when none
/// is left.
pub fn exit_current(frame: &mut TrapFrame, reason: ExitReason) {
    let mut sched = SCHED.lock();
    let task = sched.current.take().expect("exit without a current task");
    match reason {
        ExitReason::Exit(code) => {
            kevent!(
                "task.exit",
                id = task.id,
                name = task.name.as_str(),
                reason = "exit",
                code = code
            )
        }
        ExitReason::Fault {
            vector,
            error,
            rip,
            addr,
        } => {
            let name = crate::arch::idt::exception_name(vector);
            kprintln!(
                "kernel: task {} ({}) killed by {name} at rip {rip:#x} (addr {addr:#x}, error {error:#x})",
                task.id,
                task.name
            );
            kevent!(
                "task.exit",
                id = task.id,
                name = task.name.as_str(),
                reason = "fault",
                vector = vector,
                fault = name,
                error = Hex(error),
                rip = Hex(rip),
                addr = Hex(addr)
            )
        }
    }
    // SAFETY: the kernel's own space is always valid; the dying task's
    // tables are freed next, so they must not be live in CR3.
    unsafe { arch::load_cr3(kernel_space().pml4()) };
    task.space.destroy();
    let Some(next) = sched.ready.pop_front() else {
        drop(sched);
        shutdown_no_tasks();
    };
    sched.current = Some(next);
    switch_into(&sched, frame);
}

fn switch_into(sched: &Scheduler, frame: &mut TrapFrame) {
    let next = sched.current.as_ref().expect("switch without a task");
    *frame = next.context;
    // SAFETY: every task space shares the kernel half.
    unsafe { arch::load_cr3(next.space.pml4()) };
}

fn shutdown_no_tasks() -> ! {
    let f = frames::stats();
    kprintln!("kernel: the last task has exited; powering off");
    kevent!(
        "shutdown",
        status = GuestStatus::Success.name(),
        reason = "last-task-exited",
        frames_free = f.free
    );
    arch::stop(GuestStatus::Success)
}
