//! A task's lifetime, free of hardware so that it is tested on the host:
//! how many capabilities name it, what the kernel must do when the last
//! one goes (reap a dead task's record, reclaim a task nobody can ever
//! start), the guard that keeps a dying task's record while its own
//! capabilities are dropped (one of them may name itself), and the queue
//! that handles deaths caused by a death in turn instead of by recursion.
//! The kernel (`microkernel/src/state/mod.rs`) does the tearing down.

use alloc::collections::{TryReserveError, VecDeque};

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    NotStarted,
    Alive,
    Dead,
}

/// What the kernel must do after a reference to a task went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Something still names it, or it still runs.
    Keep,
    /// Dead and named by nothing: free its record.
    Reap,
    /// Never started and named by nothing: nobody can ever start it, so
    /// kill it (which then reaps it).
    ReclaimUnstarted,
}

/// The references to one task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskRefs {
    /// Capabilities naming it, plus one while it is being torn down.
    count: usize,
    dying: bool,
}

impl TaskRefs {
    pub fn add(&mut self) {
        self.count += 1;
    }

    /// Forgets one capability's reference to a task in `phase`.
    pub fn drop(&mut self, phase: Phase) -> Release {
        self.count -= 1;
        match (self.count, phase) {
            (0, Phase::Dead) => Release::Reap,
            (0, Phase::NotStarted) => Release::ReclaimUnstarted,
            _ => Release::Keep,
        }
    }

    /// A death begins: the guard reference keeps the record while the
    /// task's own capabilities (maybe one to itself) are dropped.
    pub fn begin_death(&mut self) {
        self.count += 1;
        self.dying = true;
    }

    /// The death is done: drops the guard; `Reap` when nothing else names
    /// the task.
    pub fn end_death(&mut self) -> Release {
        self.dying = false;
        self.count -= 1;
        if self.count == 0 {
            Release::Reap
        } else {
            Release::Keep
        }
    }

    /// Capabilities naming it (the guard included while it dies).
    pub fn count(&self) -> usize {
        self.count
    }
}

/// Deaths waiting to be handled. Ending a task drops its capabilities,
/// which may end others (a never-started task whose last capability it
/// held); those are queued here and handled by the outermost death, in
/// order, so a chain of them cannot overflow the kernel stack.
#[derive(Debug)]
pub struct DeathQueue<T> {
    queue: VecDeque<T>,
}

/// What [`DeathQueue::push`] says the caller must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    /// First in line: handle it and every death it causes ([`DeathQueue::next`]).
    Outermost,
    /// Another death is being handled and will get to it.
    Behind,
    /// The queue could not grow: handle it at once.
    NoRoom,
}

impl<T: Copy> DeathQueue<T> {
    pub const fn new() -> DeathQueue<T> {
        DeathQueue {
            queue: VecDeque::new(),
        }
    }

    /// Room for `n` deaths at once (done at boot, for every task there
    /// can be).
    pub fn reserve(&mut self, n: usize) -> Result<(), TryReserveError> {
        self.queue.try_reserve(n)
    }

    pub fn push(&mut self, death: T) -> Queued {
        let outermost = self.queue.is_empty();
        if self.queue.try_reserve(1).is_err() {
            return Queued::NoRoom;
        }
        self.queue.push_back(death);
        if outermost {
            Queued::Outermost
        } else {
            Queued::Behind
        }
    }

    /// The death to handle now; it stays queued (so that deaths it causes
    /// queue behind it) until [`DeathQueue::done`].
    pub fn next(&self) -> Option<T> {
        self.queue.front().copied()
    }

    /// The death [`DeathQueue::next`] gave is handled.
    pub fn done(&mut self) {
        self.queue.pop_front();
    }
}

impl<T: Copy> Default for DeathQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_reference_to_a_dead_task_reaps_it() {
        let mut r = TaskRefs::default();
        r.add();
        r.add();
        assert_eq!(r.drop(Phase::Dead), Release::Keep);
        assert_eq!(r.drop(Phase::Dead), Release::Reap);
    }

    #[test]
    fn last_reference_to_a_task_nobody_started_reclaims_it() {
        let mut r = TaskRefs::default();
        r.add();
        assert_eq!(r.drop(Phase::NotStarted), Release::ReclaimUnstarted);
    }

    #[test]
    fn a_running_task_is_kept_when_unnamed() {
        let mut r = TaskRefs::default();
        r.add();
        assert_eq!(r.drop(Phase::Alive), Release::Keep);
    }

    #[test]
    fn a_dying_task_naming_itself_is_not_reaped_under_its_own_death() {
        let mut r = TaskRefs::default();
        r.add(); // its capability to itself
        r.begin_death();
        // Its capabilities are dropped while it dies (phase already Dead).
        assert_eq!(r.drop(Phase::Dead), Release::Keep);
        assert_eq!(r.end_death(), Release::Reap);
    }

    #[test]
    fn a_dead_task_still_named_waits_for_its_last_reference() {
        let mut r = TaskRefs::default();
        r.add(); // its parent's capability
        r.begin_death();
        assert_eq!(r.end_death(), Release::Keep);
        assert_eq!(r.count(), 1);
        assert_eq!(r.drop(Phase::Dead), Release::Reap);
    }

    #[test]
    fn deaths_caused_by_a_death_queue_behind_it_in_order() {
        let mut q = DeathQueue::new();
        assert_eq!(q.push(1), Queued::Outermost);
        // Handling 1 causes 2 and 3.
        assert_eq!(q.next(), Some(1));
        assert_eq!(q.push(2), Queued::Behind);
        assert_eq!(q.push(3), Queued::Behind);
        q.done();
        assert_eq!(q.next(), Some(2));
        q.done();
        assert_eq!(q.next(), Some(3));
        q.done();
        assert_eq!(q.next(), None);
        assert_eq!(q.push(4), Queued::Outermost);
    }
}
