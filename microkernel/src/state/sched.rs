//! Scheduling: fixed priorities, round robin within one, preemption by the
//! timer, deadlines for sleeps and timeouts, and the switch itself (saved
//! frame, FPU state, address space).

use crate::arch;
use crate::arch::trap::TrapFrame;
use crate::state::{Kernel, PRIORITIES};
use crate::task::{Task, TaskState};
use ipc_abi::syscall::SysError;
use kerncore::slab::Id;

// `ready_mask` has one bit per priority.
const _: () = assert!(PRIORITIES <= u32::BITS as usize);

/// What the CPU does next.
pub enum Next {
    Run(Id),
    /// Nothing is ready but something waits for a deadline: halt until the
    /// next tick.
    Idle,
    /// Every task has died.
    NoTasks,
    /// Tasks are alive but none is ready or can ever be woken by time.
    Deadlock,
}

impl Kernel {
    fn pick(&mut self) -> Option<Id> {
        let p = self.highest_ready()?;
        let id = self.ready[p].pop_front();
        if self.ready[p].is_empty() {
            self.ready_mask &= !(1 << p);
        }
        id
    }

    pub(super) fn highest_ready(&self) -> Option<usize> {
        (self.ready_mask != 0).then(|| (u32::BITS - 1 - self.ready_mask.leading_zeros()) as usize)
    }

    /// Takes `id` out of the ready queues, wherever it is.
    pub(super) fn unready(&mut self, id: Id) {
        for (p, q) in self.ready.iter_mut().enumerate() {
            q.retain(|&t| t != id);
            if q.is_empty() {
                self.ready_mask &= !(1 << p);
            }
        }
    }

    /// Chooses who runs next. The current task keeps the CPU unless it
    /// blocked, died or yielded, a higher-priority task became ready (it
    /// runs at once), or its slice ended with an equal-priority task ready.
    ///
    /// A task woken to run next (`wake_to_run_next`) runs at once when the
    /// current task blocked and nothing of higher priority is ready, like
    /// seL4's direct switch on IPC: a call goes straight to its server and
    /// a reply straight back, without a round through the ready queues.
    pub fn schedule(&mut self) -> Next {
        let preempt = core::mem::take(&mut self.preempt);
        let mut handoff = self.handoff.take();
        if let Some(c) = self.current {
            let t = self.task(c);
            if t.state == TaskState::Running {
                if let Some(h) = handoff.take() {
                    self.make_ready(h);
                }
                let t = self.task(c);
                let prio = t.priority;
                let highest = self.highest_ready();
                let higher_ready = highest.is_some_and(|p| p > prio);
                let slice_over = preempt && highest.is_some_and(|p| p >= prio);
                if !higher_ready && !slice_over {
                    return Next::Run(c);
                }
                self.make_ready(c);
            }
            self.current = None;
        }
        if let Some(h) = handoff {
            let prio = self.task(h).priority;
            if self.highest_ready().is_none_or(|p| prio >= p) {
                self.task_mut(h).state = TaskState::Running;
                self.current = Some(h);
                return Next::Run(h);
            }
            self.make_ready(h);
        }
        if let Some(n) = self.pick() {
            self.task_mut(n).state = TaskState::Running;
            self.current = Some(n);
            return Next::Run(n);
        }
        if self.alive_count() == 0 {
            return Next::NoTasks;
        }
        if self.tasks.iter().any(|(_, t)| t.state.deadline().is_some()) {
            Next::Idle
        } else {
            Next::Deadlock
        }
    }

    /// The current task's frame, if it simply goes on after this trap:
    /// what `schedule` would decide (nothing preempts it, it did not block),
    /// without the bookkeeping of a switch. Its FPU state, address space
    /// and frame are loaded already (it is the last task switched to).
    pub fn keeps_running(&mut self) -> Option<*const TrapFrame> {
        self.goes_on().map(|t| t.context.as_ptr().cast_const())
    }

    /// The current task, if it simply goes on after this trap (see
    /// `keeps_running`; the query fast path answers it in place).
    #[inline(always)]
    pub(super) fn goes_on(&mut self) -> Option<&mut Task> {
        if self.preempt || self.handoff.is_some() {
            return None;
        }
        let highest = self.highest_ready();
        let t = self.tasks.get_mut(self.current?)?;
        if highest.is_some_and(|p| p > t.priority)
            || t.state != TaskState::Running
            || !t.context.resumes_in_user_half()
        {
            return None;
        }
        Some(t)
    }

    /// Loads `next` into the CPU (its FPU state and address space) and
    /// returns its frame, for the exit code to resume and the next trap to
    /// save into; `None` (nothing loaded) if its frame cannot be resumed:
    /// `sysret`/`iretq` to a non-canonical RIP would fault in ring 0.
    pub fn switch_to(&mut self, next: Id) -> Option<*const TrapFrame> {
        let load = self.fpu_owner != Some(next);
        let owner = self.fpu_owner.filter(|_| load);
        let frame = match owner.and_then(|o| self.tasks.get2_mut(o, next)) {
            Some((owner, next)) => switch_tasks(Some(owner), next, true),
            // No owner, or it is gone: nothing to save.
            None => switch_tasks(None, self.task(next), load),
        }?;
        self.fpu_owner = Some(next);
        Some(frame)
    }

    /// Wakes a blocked task with `result`, to run as soon as the current
    /// task blocks in this syscall (IPC: the server a call reached, the
    /// caller a reply answered), else to be queued like any woken task.
    pub fn wake_to_run_next(&mut self, id: Id, result: Result<u64, SysError>) {
        self.set_result(id, result);
        self.task_mut(id).state = TaskState::Ready;
        if let Some(earlier) = self.handoff.replace(id) {
            self.make_ready(earlier);
        }
    }

    /// The current task gives up its slice.
    pub fn yield_current(&mut self) {
        let c = self.current();
        self.task_mut(c).running_ticks = 0;
        self.make_ready(c);
    }

    /// Called on each timer tick taken from ring 3.
    pub fn on_tick(&mut self) {
        if let Some(c) = self.current {
            self.task_mut(c).running_ticks += 1;
        }
        self.preempt = true;
        self.wake_expired(arch::apic::ticks());
    }

    /// Wakes every task whose deadline has passed.
    pub fn wake_expired(&mut self, now: u64) {
        let expired: alloc::vec::Vec<Id> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state.deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| id)
            .collect();
        for id in expired {
            let state = self.task(id).state;
            self.cancel_wait(id, state);
            let result = match state {
                TaskState::Sleeping { .. } => Ok(0),
                _ => Err(SysError::TimedOut),
            };
            self.wake(id, result);
        }
    }

    /// Blocks the current task (its state already set) until woken.
    pub fn block_current(&mut self, state: TaskState) {
        let c = self.current();
        self.task_mut(c).block(state);
    }
}

/// A deadline `ticks` from now, or none for 0.
pub fn deadline(ticks: u64) -> Option<u64> {
    (ticks != 0).then(|| arch::apic::ticks().saturating_add(ticks))
}

/// The switch itself: if `load`, saves the FPU state of `owner` (the task
/// whose state the CPU holds, if it still exists) and loads `next`'s FPU
/// state, FS base and address space; then names `next`'s frame for the
/// next trap and returns it. `None`, with nothing saved or loaded, if the
/// frame cannot be resumed. The caller records `next` as the owner.
pub(super) fn switch_tasks(
    owner: Option<&mut Task>,
    next: &Task,
    load: bool,
) -> Option<*const TrapFrame> {
    if !next.context.resumes_in_user_half() {
        return None;
    }
    if load {
        let owner_fs_base = owner.map(|owner| {
            arch::fpu_save(&mut owner.fpu.0);
            owner.fs_base
        });
        arch::fpu_restore(&next.fpu.0);
        // (A write to an MSR: skipped when the base does not change, as
        // between two native tasks.)
        if owner_fs_base != Some(next.fs_base) {
            arch::set_fs_base(next.fs_base);
        }
        // SAFETY: every task space shares the kernel half.
        unsafe { arch::load_cr3(next.space().pml4()) };
    }
    let frame = next.context.as_ptr();
    // SAFETY: the frame is the task's own and lives as long as the task;
    // a task is only freed while another one is named here (or none
    // runs), since the exit code resumes this frame next.
    unsafe { arch::trap::set_user_context(frame) };
    Some(frame)
}
