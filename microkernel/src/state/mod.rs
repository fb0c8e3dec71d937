//! The kernel's state: every task and object, the ready queues, and the
//! rules that keep them consistent (reference counts, what a death
//! releases). One lock guards it all: the kernel is single-CPU and runs
//! with interrupts off, so the lock is only ever taken once per trap.
//!
//! `Kernel`'s fields are private to this module and its children, one per
//! concern: `ipc` (endpoints, notifications, object creation), `sched`
//! (ready queues, deadlines, the switch), `memory` (memory objects and
//! mappings), `irq` (interrupt bindings), `quota` (kernel-memory charges).
//! The rest of the kernel (syscall dispatch, the Linux personality, traps,
//! boot) changes the state only through their methods.

mod fastpath;
mod ipc;
mod irq;
mod memory;
mod querypath;
mod quota;
mod sched;

pub use quota::Charge;
pub use sched::Next;

use crate::arch::trap::Pushed;
use crate::mem::user::UserSpace;
use crate::object::{Endpoint, KCap, MemObject, Notification, Object};
use crate::task::{ExitReason, Task, TaskState};
use crate::{arch, kevent, kprintln};
use alloc::collections::VecDeque;
use ipc_abi::log::Hex;
use ipc_abi::syscall::SysError;
use kerncore::cap::Rights;
use kerncore::lifetime::{DeathQueue, Queued, Release};
use kerncore::slab::{Id, Slab};
use spin::Mutex;

pub const PRIORITIES: usize = 4;

pub struct Kernel {
    tasks: Slab<Task>,
    endpoints: Slab<Endpoint>,
    notifications: Slab<Notification>,
    memory: Slab<MemObject>,
    ready: [VecDeque<Id>; PRIORITIES],
    /// Bit `p` set when `ready[p]` is not empty (kept by `sched`).
    ready_mask: u32,
    current: Option<Id>,
    /// A task woken by IPC to run at once if the current task blocks in
    /// the same syscall (see `sched::wake_to_run_next`); ready but not in
    /// a ready queue.
    handoff: Option<Id>,
    /// Whose FPU state and address space are loaded in the CPU.
    fpu_owner: Option<Id>,
    next_serial: u64,
    /// Set by a timer tick: the running task's slice is over.
    preempt: bool,
    tsc_hz: u64,
    /// IRQ line bindings (see `irq`).
    irqs: [Option<irq::Binding>; ipc_abi::syscall::IRQ_LINES as usize],
    /// Deaths being handled (see `kill`).
    dying: DeathQueue<(Id, ExitReason)>,
    /// The first task, whose end decides the machine's status.
    supervisor: Option<Id>,
    /// How it ended.
    supervisor_exit: Option<ExitReason>,
    /// The message being moved (`ipc`): header then payload, read from
    /// the sender, then written to the receiver in one copy, within one
    /// syscall.
    message: [u8; ipc_abi::ipc::MSG_HEADER_BYTES + ipc_abi::ipc::MSG_MAX_BYTES],
    /// IPC syscalls the fast path took, and messages it handed over in
    /// registers (`fastpath`).
    ipc_fast: u64,
    ipc_in_registers: u64,
    /// Syscalls the query fast path answered (`querypath`).
    query_fast: u64,
    /// The capabilities of that message, resolved in the sender's table.
    message_caps: heapless::Vec<KCap, { ipc_abi::ipc::MSG_MAX_CAPS }>,
}

/// What a trap from ring 3 was: its vector, error code and RIP.
pub struct Trapped {
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
}

pub static KERNEL: Mutex<Kernel> = Mutex::new(Kernel {
    tasks: Slab::new(),
    endpoints: Slab::new(),
    notifications: Slab::new(),
    memory: Slab::new(),
    ready: [const { VecDeque::new() }; PRIORITIES],
    ready_mask: 0,
    current: None,
    handoff: None,
    fpu_owner: None,
    next_serial: 1,
    preempt: false,
    tsc_hz: 0,
    irqs: [None; ipc_abi::syscall::IRQ_LINES as usize],
    dying: DeathQueue::new(),
    supervisor: None,
    supervisor_exit: None,
    message: [0; ipc_abi::ipc::MSG_HEADER_BYTES + ipc_abi::ipc::MSG_MAX_BYTES],
    message_caps: heapless::Vec::new(),
    ipc_fast: 0,
    ipc_in_registers: 0,
    query_fast: 0,
});

impl Kernel {
    /// Sizes the tables whose bound is fixed (tasks, ready queues, the
    /// queue of deaths) once, at boot: they never grow or allocate later,
    /// so a task's life and death leaves the heap exactly as it was.
    fn reserve_tables(&mut self) {
        let n = ipc_abi::syscall::MAX_TASKS;
        self.tasks.reserve_total(n);
        for q in &mut self.ready {
            q.reserve(n);
        }
        let _ = self.dying.reserve(n);
    }

    /// Heap the object tables hold beyond their live entries (they grow
    /// and never shrink): left out of the heap-in-use figure `SysInfo`
    /// reports, so that figure returns to where it was once the objects
    /// of a task's life are gone.
    pub fn table_spare_bytes(&self) -> u64 {
        (self.tasks.spare_bytes()
            + self.endpoints.spare_bytes()
            + self.notifications.spare_bytes()
            + self.memory.spare_bytes()) as u64
    }

    // ---- boot and bookkeeping -------------------------------------------

    /// Records the TSC rate the loader measured.
    pub fn set_tsc_hz(&mut self, hz: u64) {
        self.tsc_hz = hz;
    }

    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }

    /// A fresh serial number for a task's logs.
    pub fn take_serial(&mut self) -> u64 {
        let s = self.next_serial;
        self.next_serial += 1;
        s
    }

    /// Makes `t` the first task (the supervisor), whose end decides the
    /// machine's status; sizes the fixed tables first.
    pub fn start_first_task(&mut self, t: Task) -> Id {
        self.reserve_tables();
        let id = self.tasks.insert(t);
        self.supervisor = Some(id);
        id
    }

    /// The supervisor's status once it has ended (0 while it has not).
    pub fn supervisor_status(&self) -> u64 {
        self.supervisor_exit.map_or(0, |r| r.status())
    }

    /// Tasks not yet dead.
    pub fn live_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().map(|(_, t)| t).filter(|t| t.alive())
    }

    /// Whether one more task record fits (`MAX_TASKS`, reserved at boot).
    pub fn has_room_for_task(&self) -> bool {
        self.tasks.len() < ipc_abi::syscall::MAX_TASKS
    }

    /// Adds a loaded task (not started); room was reserved at boot.
    pub fn insert_task(&mut self, t: Task) -> Id {
        self.tasks.insert(t)
    }

    pub fn memory_object(&self, id: Id) -> Option<&MemObject> {
        self.memory.get(id)
    }

    pub fn is_alive(&self, id: Id) -> bool {
        self.tasks.get(id).is_some_and(|t| t.alive())
    }

    pub fn task(&self, id: Id) -> &Task {
        self.tasks.get(id).expect("task id out of date")
    }

    pub fn task_mut(&mut self, id: Id) -> &mut Task {
        self.tasks.get_mut(id).expect("task id out of date")
    }

    pub fn current(&self) -> Id {
        self.current.expect("no current task")
    }

    /// Sets the value a blocked or current task sees in `rax`.
    pub fn set_result(&mut self, id: Id, result: Result<u64, SysError>) {
        self.task_mut(id).set_result(result);
    }

    pub fn make_ready(&mut self, id: Id) {
        let t = self.task_mut(id);
        t.state = TaskState::Ready;
        let prio = t.priority;
        self.ready[prio].push_back(id);
        self.ready_mask |= 1 << prio;
    }

    /// Wakes a blocked task with a result.
    pub fn wake(&mut self, id: Id, result: Result<u64, SysError>) {
        self.set_result(id, result);
        self.make_ready(id);
    }

    // ---- capabilities and reference counts -------------------------------

    /// Puts `cap` into `task`'s table, counting the new reference.
    pub fn grant(&mut self, task: Id, cap: KCap) -> Result<u32, SysError> {
        let slot = self
            .task_mut(task)
            .caps
            .insert(cap)
            .map_err(|_| SysError::TableFull)?;
        self.add_ref(cap);
        Ok(slot)
    }

    pub fn add_ref(&mut self, cap: KCap) {
        match cap.object {
            Object::Endpoint(id) => {
                if let Some(e) = self.endpoints.get_mut(id) {
                    e.add_ref(cap.rights.contains(Rights::RECV));
                }
            }
            Object::Notification(id) => {
                if let Some(n) = self.notifications.get_mut(id) {
                    n.add_ref();
                }
            }
            Object::Memory(id) => {
                if let Some(m) = self.memory.get_mut(id) {
                    m.add_ref();
                }
            }
            Object::Task(id) => {
                if let Some(t) = self.tasks.get_mut(id) {
                    t.refs.add();
                }
            }
            Object::IoPorts { .. } | Object::Irq { .. } | Object::DeviceMemory { .. } => {}
        }
    }

    /// Forgets one reference; frees the object when it was the last, and
    /// fails waiters that can no longer be served.
    pub fn drop_ref(&mut self, cap: KCap) {
        match cap.object {
            Object::Endpoint(id) => {
                let Some(e) = self.endpoints.get_mut(id) else {
                    return;
                };
                let dropped = e.drop_ref(cap.rights.contains(Rights::RECV));
                for s in dropped.unanswerable {
                    self.wake(s, Err(SysError::PeerDied));
                }
                if dropped.unreferenced {
                    let (charge, receivers) =
                        self.endpoints.remove(id).expect("checked").into_parts();
                    self.uncharge(charge);
                    for r in receivers {
                        self.wake(r, Err(SysError::PeerDied));
                    }
                }
            }
            Object::Notification(id) => {
                let Some(n) = self.notifications.get_mut(id) else {
                    return;
                };
                if n.drop_ref() {
                    let (charge, waiter, bound) =
                        self.notifications.remove(id).expect("checked").into_parts();
                    self.uncharge(charge);
                    if let Some(b) = bound.and_then(|t| self.tasks.get_mut(t)) {
                        b.bound = None;
                    }
                    if let Some(w) = waiter {
                        self.wake(w, Err(SysError::PeerDied));
                    }
                }
            }
            Object::Memory(id) => self.drop_memory_ref(id),
            Object::Task(id) => {
                let Some(t) = self.tasks.get_mut(id) else {
                    return;
                };
                let phase = t.phase();
                match t.refs.drop(phase) {
                    Release::Reap => self.reap(id),
                    Release::ReclaimUnstarted => self.kill(id, ExitReason::Killed),
                    Release::Keep => {}
                }
            }
            Object::IoPorts { .. } | Object::Irq { .. } | Object::DeviceMemory { .. } => {}
        }
    }

    pub fn drop_memory_ref(&mut self, id: Id) {
        if self.memory.get_mut(id).is_some_and(|m| m.drop_ref()) {
            let m = self.memory.remove(id).expect("checked");
            self.free_memory(m);
        }
    }

    /// A capability of the current task, checked for kind-independent rights.
    pub fn lookup(&self, slot: u64, need: Rights) -> Result<KCap, SysError> {
        self.task(self.current())
            .caps
            .check(slot, need)
            .map_err(|e| match e {
                kerncore::cap::CapError::MissingRights { .. } => SysError::MissingRights,
                _ => SysError::InvalidCap,
            })
    }

    // ---- death -------------------------------------------------------------

    /// Ends a task: logs why, fails everyone waiting on it, releases all it
    /// holds, and signals its death notification. Deaths it causes (a
    /// not-started task whose last capability it held) are queued and
    /// handled in turn here, never by recursion, so a chain of them cannot
    /// overflow the kernel stack.
    pub fn kill(&mut self, id: Id, reason: ExitReason) {
        if !self.tasks.get(id).is_some_and(|t| t.alive()) {
            return;
        }
        match self.dying.push((id, reason)) {
            Queued::Behind => {}
            // Cannot queue it: end it now (the queue was sized at boot for
            // every task, so this does not happen in practice).
            Queued::NoRoom => self.kill_one(id, reason),
            Queued::Outermost => {
                while let Some((t, r)) = self.dying.next() {
                    self.kill_one(t, r);
                    self.dying.done();
                }
            }
        }
    }

    fn kill_one(&mut self, id: Id, reason: ExitReason) {
        if !self.tasks.get(id).is_some_and(|t| t.alive()) {
            return;
        }
        // Held while its capabilities are dropped, so that dropping one
        // naming itself cannot free the record under us.
        self.task_mut(id).refs.begin_death();
        crate::personality::on_exit(self, id);
        self.log_exit(id, reason);
        if self.supervisor == Some(id) {
            self.supervisor_exit = Some(reason);
        }
        let old_state = self.task(id).state;
        {
            let t = self.task_mut(id);
            t.state = TaskState::Dead;
            t.exit = Some(reason);
        }
        self.unready(id);
        if self.handoff == Some(id) {
            self.handoff = None;
        }
        self.cancel_wait(id, old_state);
        // The caller it was serving will never get an answer.
        if let Some(caller) = self.task_mut(id).reply_to.take()
            && self.awaits_reply_from(caller, id)
        {
            self.wake(caller, Err(SysError::Unanswered));
        }
        if let Some(n) = self.task_mut(id).bound.take()
            && let Some(n) = self.notifications.get_mut(n)
        {
            n.unbind(id);
        }
        self.irq_release(id);
        let caps: alloc::vec::Vec<KCap> = self.task_mut(id).caps.drain().collect();
        for c in caps {
            self.drop_ref(c);
        }
        if self.fpu_owner == Some(id) {
            // SAFETY: the kernel's own space maps everything the kernel
            // uses; the dying space must not stay live while it is freed.
            unsafe { arch::load_cr3(crate::mem::kernel_space::kernel_space().pml4()) };
            self.fpu_owner = None;
        }
        self.release_memory(id);
        if let Some((n, bits)) = self.task_mut(id).death.take() {
            self.signal(n, bits);
            self.drop_ref(crate::object::cap(Object::Notification(n), Rights::NONE));
        }
        if self.current == Some(id) {
            self.current = None;
        }
        if self.task_mut(id).refs.end_death() == Release::Reap {
            self.reap(id);
        }
    }

    /// Takes a task that was blocked in `state` out of whatever it waited
    /// on. The one way a wait ends early: death, timeout, or a bound
    /// notification that answers a `Recv` in the endpoint's place.
    pub fn cancel_wait(&mut self, id: Id, state: TaskState) {
        match state {
            TaskState::Sending { endpoint, .. } | TaskState::Receiving { endpoint, .. } => {
                if let Some(e) = self.endpoints.get_mut(endpoint) {
                    e.cancel(id);
                }
            }
            TaskState::AwaitingReply { server, .. } => {
                if let Some(s) = self.tasks.get_mut(server)
                    && s.reply_to == Some(id)
                {
                    s.reply_to = None;
                }
            }
            TaskState::Waiting { notification, .. } => {
                if let Some(n) = self.notifications.get_mut(notification) {
                    n.cancel(id);
                }
            }
            TaskState::NotStarted
            | TaskState::Ready
            | TaskState::Running
            | TaskState::Sleeping { .. }
            | TaskState::Dead => {}
        }
    }

    /// Frees a dead task's record once nothing names it, and gives its
    /// spawner back what the record cost.
    fn reap(&mut self, id: Id) {
        if let Some(t) = self.tasks.remove(id) {
            self.uncharge(t.charge);
        }
    }

    /// Unmaps memory objects and frees the task's own pages.
    fn release_memory(&mut self, id: Id) {
        let mappings = core::mem::take(&mut self.task_mut(id).mappings);
        let Some(mut space) = self.task_mut(id).space.take() else {
            return;
        };
        // The objects' frames are not the task's: unmap them first so that
        // `destroy` frees only the task's own pages.
        for m in &mappings {
            space.unmap(m.range, |_| {});
        }
        space.destroy();
        for m in mappings {
            self.drop_memory_ref(m.object);
        }
    }

    fn log_exit(&self, id: Id, reason: ExitReason) {
        let t = self.task(id);
        let name = t.name.as_str();
        match reason {
            ExitReason::Exit(code) => kevent!(
                "task.exit",
                id = t.serial,
                name = name,
                reason = "exit",
                code = code,
                tsc = arch::rdtsc()
            ),
            ExitReason::Signal(signal) => {
                kprintln!(
                    "kernel: task {} ({name}) killed by signal {signal}",
                    t.serial
                );
                kevent!(
                    "task.exit",
                    id = t.serial,
                    name = name,
                    reason = "signal",
                    signal = signal,
                    tsc = arch::rdtsc()
                )
            }
            ExitReason::Killed => {
                kevent!(
                    "task.exit",
                    id = t.serial,
                    name = name,
                    reason = "killed",
                    tsc = arch::rdtsc()
                )
            }
            ExitReason::Fault {
                vector,
                error,
                rip,
                addr,
            } => {
                let fault = crate::arch::idt::exception_name(vector);
                kprintln!(
                    "kernel: task {} ({name}) killed by {fault} at rip {rip:#x} (addr {addr:#x}, error {error:#x})",
                    t.serial
                );
                kevent!(
                    "task.exit",
                    id = t.serial,
                    name = name,
                    reason = "fault",
                    vector = vector,
                    fault = fault,
                    error = Hex(error),
                    rip = Hex(rip),
                    addr = Hex(addr),
                    tsc = arch::rdtsc()
                )
            }
        }
    }

    /// True when `caller` is blocked in `Call`, received by `server`.
    pub fn awaits_reply_from(&self, caller: Id, server: Id) -> bool {
        matches!(
            self.tasks.get(caller).map(|c| c.state),
            Some(TaskState::AwaitingReply { server: s, .. }) if s == server
        )
    }

    /// Number of tasks not yet dead.
    pub fn alive_count(&self) -> usize {
        self.tasks.iter().filter(|(_, t)| t.alive()).count()
    }

    /// For a trap from ring 3 other than a syscall: makes sure the current
    /// task's frame holds what the entry code pushed (it does already,
    /// unless the trap came on an IST stack), and returns what dispatching
    /// needs of it.
    pub fn save_current(&mut self, pushed: &Pushed) -> Trapped {
        let t = self.task_mut(self.current());
        if t.context.as_ptr() != pushed.as_ptr() {
            *t.context = pushed.read();
        }
        let c = &t.context;
        Trapped {
            vector: c.vector,
            error: c.error,
            rip: c.rip,
        }
    }

    pub fn space_of(&self, id: Id) -> &UserSpace {
        self.task(id).space()
    }
}
