//! Scheduling: fixed priorities, round robin within one, preemption by the
//! timer, deadlines for sleeps and timeouts, and the switch itself (saved
//! frame, FPU state, address space).

use crate::arch;
use crate::arch::trap::TrapFrame;
use crate::state::{Kernel, PRIORITIES};
use crate::task::TaskState;
use ipc_abi::syscall::SysError;
use kerncore::slab::Id;

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
        (0..PRIORITIES)
            .rev()
            .find_map(|p| self.ready[p].pop_front())
    }

    fn highest_ready(&self) -> Option<usize> {
        (0..PRIORITIES).rev().find(|&p| !self.ready[p].is_empty())
    }

    /// Chooses who runs next. The current task keeps the CPU unless it
    /// blocked, died or yielded, a higher-priority task became ready (it
    /// runs at once), or its slice ended with an equal-priority task ready.
    pub fn schedule(&mut self) -> Next {
        let preempt = core::mem::take(&mut self.preempt);
        if let Some(c) = self.current {
            let t = self.task(c);
            if t.state == TaskState::Running {
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

    /// Loads `next` into the CPU: its registers into `frame`, its FPU state
    /// and its address space.
    pub fn switch_to(&mut self, next: Id, frame: &mut TrapFrame) {
        if self.fpu_owner != Some(next) {
            if let Some(prev) = self.fpu_owner
                && let Some(t) = self.tasks.get_mut(prev)
            {
                arch::fpu_save(&mut t.fpu.0);
            }
            let t = self.task(next);
            arch::fpu_restore(&t.fpu.0);
            arch::set_fs_base(t.fs_base);
            // SAFETY: every task space shares the kernel half.
            unsafe { arch::load_cr3(t.space().pml4()) };
            self.fpu_owner = Some(next);
        }
        *frame = self.task(next).context;
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
        let t = self.task_mut(c);
        t.state = state;
        t.running_ticks = 0;
    }
}

/// A deadline `ticks` from now, or none for 0.
pub fn deadline(ticks: u64) -> Option<u64> {
    (ticks != 0).then(|| arch::apic::ticks().saturating_add(ticks))
}
