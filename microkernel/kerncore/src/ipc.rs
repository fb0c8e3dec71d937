//! The IPC objects' state machines, free of hardware so that they are
//! tested on the host: an [`Endpoint`]'s queues of callers and receivers
//! and a [`Notification`]'s bits, waiter and bound task, each with its
//! reference counts. The kernel (`microkernel/src/ipc.rs`) moves messages
//! and wakes tasks; these types decide who waits where, and each has one
//! way to end a wait early (`cancel`), used for deaths, timeouts and
//! bound notifications alike.
//!
//! `C` is what the object's creator paid for it (the kernel's `Charge`),
//! handed back by `into_charge` when the object is freed.

use crate::slab::Id;
use alloc::collections::TryReserveError;
use alloc::collections::VecDeque;

/// A wait queue could not grow (the kernel heap is exhausted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull;

impl From<TryReserveError> for QueueFull {
    fn from(_: TryReserveError) -> QueueFull {
        QueueFull
    }
}

/// Waiters room is made for when an endpoint is created, so that a
/// server's first `Recv` does not grow the heap.
pub const ENDPOINT_INITIAL_WAITERS: usize = 4;

/// A rendezvous point for `Call` and `Recv`.
#[derive(Debug)]
pub struct Endpoint<C> {
    charge: C,
    /// Capabilities naming it.
    refs: usize,
    /// Of those, the ones with RECV: when none is left nobody can ever
    /// answer, so callers are turned away.
    recv_refs: usize,
    /// Callers waiting for a receiver, first come first served.
    senders: VecDeque<Id>,
    /// Receivers waiting for a caller.
    receivers: VecDeque<Id>,
}

/// What dropping a reference to an endpoint left behind.
#[derive(Debug, PartialEq, Eq)]
pub struct EndpointDrop {
    /// Callers that can never be answered now (the last receiving
    /// capability went): they have left the queue and must be failed.
    pub unanswerable: VecDeque<Id>,
    /// Nothing names the endpoint any more: free it.
    pub unreferenced: bool,
}

impl<C> Endpoint<C> {
    /// A new endpoint with no references yet.
    pub fn new(charge: C) -> Result<Endpoint<C>, QueueFull> {
        let mut senders = VecDeque::new();
        let mut receivers = VecDeque::new();
        senders.try_reserve(ENDPOINT_INITIAL_WAITERS)?;
        receivers.try_reserve(ENDPOINT_INITIAL_WAITERS)?;
        Ok(Endpoint {
            charge,
            refs: 0,
            recv_refs: 0,
            senders,
            receivers,
        })
    }

    pub fn add_ref(&mut self, can_receive: bool) {
        self.refs += 1;
        if can_receive {
            self.recv_refs += 1;
        }
    }

    pub fn drop_ref(&mut self, can_receive: bool) -> EndpointDrop {
        self.refs -= 1;
        if can_receive {
            self.recv_refs -= 1;
        }
        let unanswerable = if self.recv_refs == 0 {
            core::mem::take(&mut self.senders)
        } else {
            VecDeque::new()
        };
        EndpointDrop {
            unanswerable,
            unreferenced: self.refs == 0,
        }
    }

    /// Whether some capability could still receive a call.
    pub fn answerable(&self) -> bool {
        self.recv_refs > 0
    }

    /// Queues a caller until a receiver comes.
    pub fn enqueue_sender(&mut self, task: Id) -> Result<(), QueueFull> {
        self.senders.try_reserve(1)?;
        self.senders.push_back(task);
        Ok(())
    }

    pub fn next_sender(&mut self) -> Option<Id> {
        self.senders.pop_front()
    }

    /// Queues a receiver until a caller comes.
    #[inline]
    pub fn enqueue_receiver(&mut self, task: Id) -> Result<(), QueueFull> {
        if self.receivers.len() == self.receivers.capacity() {
            self.receivers.try_reserve(1)?;
        }
        self.receivers.push_back(task);
        Ok(())
    }

    #[inline]
    pub fn next_receiver(&mut self) -> Option<Id> {
        self.receivers.pop_front()
    }

    /// The receiver `next_receiver` would take, left queued.
    #[inline]
    pub fn first_receiver(&self) -> Option<Id> {
        self.receivers.front().copied()
    }

    /// Whether a caller is queued.
    #[inline]
    pub fn has_senders(&self) -> bool {
        !self.senders.is_empty()
    }

    /// Ends `task`'s wait here, whichever side it waits on.
    pub fn cancel(&mut self, task: Id) {
        self.senders.retain(|&t| t != task);
        self.receivers.retain(|&t| t != task);
    }

    /// Frees the endpoint: what its creator paid, and the receivers still
    /// waiting (to be failed).
    pub fn into_parts(self) -> (C, VecDeque<Id>) {
        (self.charge, self.receivers)
    }
}

/// A word of event bits.
#[derive(Debug)]
pub struct Notification<C> {
    charge: C,
    refs: usize,
    bits: u64,
    /// A task blocked in `Wait` on it.
    waiter: Option<Id>,
    /// The task it is bound to (its `Recv` also returns for these bits).
    bound: Option<Id>,
}

/// Who a signal reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signalled {
    /// The task waiting on it, woken with these bits (now cleared).
    Waiter(Id, u64),
    /// The bound task: if it is receiving, it takes the bits with
    /// [`Notification::take_bits`] and is woken.
    Bound(Id),
    /// Nobody: the bits wait for the next `Wait` or `Recv`.
    Pending,
}

/// `Wait` on a notification another task already waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyWaited;

/// `bind` of a notification bound to another task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundElsewhere;

impl<C> Notification<C> {
    pub fn new(charge: C) -> Notification<C> {
        Notification {
            charge,
            refs: 0,
            bits: 0,
            waiter: None,
            bound: None,
        }
    }

    pub fn add_ref(&mut self) {
        self.refs += 1;
    }

    /// Forgets a reference; true when it was the last.
    pub fn drop_ref(&mut self) -> bool {
        self.refs -= 1;
        self.refs == 0
    }

    pub fn signal(&mut self, bits: u64) -> Signalled {
        self.bits |= bits;
        if let Some(w) = self.waiter.take() {
            return Signalled::Waiter(w, core::mem::take(&mut self.bits));
        }
        match self.bound {
            Some(b) => Signalled::Bound(b),
            None => Signalled::Pending,
        }
    }

    /// The pending bits, cleared; `None` when there are none.
    pub fn take_bits(&mut self) -> Option<u64> {
        (self.bits != 0).then(|| core::mem::take(&mut self.bits))
    }

    /// `Wait`: the pending bits at once, or `None` and `task` waits.
    pub fn wait(&mut self, task: Id) -> Result<Option<u64>, AlreadyWaited> {
        if let Some(bits) = self.take_bits() {
            return Ok(Some(bits));
        }
        if self.waiter.is_some() {
            return Err(AlreadyWaited);
        }
        self.waiter = Some(task);
        Ok(None)
    }

    /// Ends `task`'s wait here.
    pub fn cancel(&mut self, task: Id) {
        if self.waiter == Some(task) {
            self.waiter = None;
        }
    }

    pub fn bind(&mut self, task: Id) -> Result<(), BoundElsewhere> {
        if self.bound.is_some_and(|b| b != task) {
            return Err(BoundElsewhere);
        }
        self.bound = Some(task);
        Ok(())
    }

    pub fn unbind(&mut self, task: Id) {
        if self.bound == Some(task) {
            self.bound = None;
        }
    }

    /// Frees the notification: what its creator paid, the task still
    /// waiting (to be failed) and the task it was bound to.
    pub fn into_parts(self) -> (C, Option<Id>, Option<Id>) {
        (self.charge, self.waiter, self.bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Slab;

    fn ids(n: usize) -> Vec<Id> {
        let mut s = Slab::new();
        (0..n).map(|i| s.insert(i)).collect()
    }

    #[test]
    fn callers_and_receivers_are_served_in_order() {
        let t = ids(3);
        let mut e = Endpoint::new(()).unwrap();
        e.add_ref(true);
        e.enqueue_sender(t[0]).unwrap();
        e.enqueue_sender(t[1]).unwrap();
        assert_eq!(e.next_sender(), Some(t[0]));
        assert_eq!(e.next_sender(), Some(t[1]));
        assert_eq!(e.next_sender(), None);
        e.enqueue_receiver(t[2]).unwrap();
        assert_eq!(e.next_receiver(), Some(t[2]));
    }

    #[test]
    fn cancel_takes_a_task_off_either_queue_only() {
        let t = ids(3);
        let mut e = Endpoint::new(()).unwrap();
        e.enqueue_sender(t[0]).unwrap();
        e.enqueue_sender(t[1]).unwrap();
        e.enqueue_receiver(t[2]).unwrap();
        e.cancel(t[0]);
        e.cancel(t[2]);
        assert_eq!(e.next_sender(), Some(t[1]));
        assert_eq!(e.next_sender(), None);
        assert_eq!(e.next_receiver(), None);
    }

    #[test]
    fn last_receiving_capability_turns_callers_away() {
        let t = ids(2);
        let mut e = Endpoint::new(()).unwrap();
        e.add_ref(true); // server
        e.add_ref(false); // client
        e.enqueue_sender(t[0]).unwrap();
        e.enqueue_sender(t[1]).unwrap();
        assert!(e.answerable());
        let d = e.drop_ref(true);
        assert_eq!(d.unanswerable, VecDeque::from(vec![t[0], t[1]]));
        assert!(!d.unreferenced);
        assert!(!e.answerable());
        assert_eq!(e.next_sender(), None);
        let d = e.drop_ref(false);
        assert!(d.unreferenced && d.unanswerable.is_empty());
    }

    #[test]
    fn dropping_a_send_capability_keeps_callers() {
        let t = ids(1);
        let mut e = Endpoint::new(()).unwrap();
        e.add_ref(true);
        e.add_ref(false);
        e.enqueue_sender(t[0]).unwrap();
        let d = e.drop_ref(false);
        assert!(d.unanswerable.is_empty() && !d.unreferenced);
        assert_eq!(e.next_sender(), Some(t[0]));
    }

    #[test]
    fn freed_endpoint_returns_charge_and_waiting_receivers() {
        let t = ids(1);
        let mut e = Endpoint::new(7u32).unwrap();
        e.add_ref(true);
        e.enqueue_receiver(t[0]).unwrap();
        assert!(e.drop_ref(true).unreferenced);
        let (charge, receivers) = e.into_parts();
        assert_eq!(charge, 7);
        assert_eq!(receivers, VecDeque::from(vec![t[0]]));
    }

    #[test]
    fn signal_wakes_the_waiter_with_all_pending_bits() {
        let t = ids(1);
        let mut n = Notification::new(());
        assert_eq!(n.signal(0b01), Signalled::Pending);
        assert_eq!(n.wait(t[0]), Ok(Some(0b01)));
        assert_eq!(n.wait(t[0]), Ok(None));
        assert_eq!(n.signal(0b10), Signalled::Waiter(t[0], 0b10));
        assert_eq!(n.take_bits(), None);
    }

    #[test]
    fn a_second_waiter_is_refused_and_cancel_frees_the_place() {
        let t = ids(2);
        let mut n = Notification::new(());
        assert_eq!(n.wait(t[0]), Ok(None));
        assert_eq!(n.wait(t[1]), Err(AlreadyWaited));
        n.cancel(t[1]); // not the waiter: no effect
        assert_eq!(n.signal(1), Signalled::Waiter(t[0], 1));
        assert_eq!(n.wait(t[0]), Ok(None));
        n.cancel(t[0]);
        assert_eq!(n.signal(4), Signalled::Pending);
        assert_eq!(n.wait(t[1]), Ok(Some(4)));
    }

    #[test]
    fn bound_task_is_reached_when_nobody_waits() {
        let t = ids(2);
        let mut n = Notification::new(());
        n.bind(t[0]).unwrap();
        assert_eq!(n.bind(t[1]), Err(BoundElsewhere));
        assert_eq!(n.bind(t[0]), Ok(()));
        assert_eq!(n.signal(8), Signalled::Bound(t[0]));
        assert_eq!(n.take_bits(), Some(8));
        n.unbind(t[1]); // not bound to it: no effect
        assert_eq!(n.signal(1), Signalled::Bound(t[0]));
        n.unbind(t[0]);
        assert_eq!(n.signal(2), Signalled::Pending);
        assert_eq!(n.take_bits(), Some(3));
        n.bind(t[1]).unwrap();
        let (_, waiter, bound) = n.into_parts();
        assert_eq!((waiter, bound), (None, Some(t[1])));
    }

    #[test]
    fn notification_references_count_to_zero() {
        let mut n = Notification::new(());
        n.add_ref();
        n.add_ref();
        assert!(!n.drop_ref());
        assert!(n.drop_ref());
    }
}
