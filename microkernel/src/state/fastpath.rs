//! The IPC fast path: `Call` to a server that is already waiting, and
//! `ReplyRecv` answering a caller while no other caller is queued, move the
//! message and switch straight to the other side, without decoding a
//! `Request`, the ready queues or the scheduler (seL4's fastpath).
//!
//! It takes only the common case: a message without capabilities, a
//! partner of at least the priority of every ready task, and (for
//! `ReplyRecv`) no pending notification. It first checks everything the
//! general path would check, changing nothing; if any check fails it
//! returns `None` and the general path (`ipc.rs`) handles the syscall from
//! the start, with its errors. So a syscall's outcome never depends on
//! which path took it, only its cost does. The message itself moves
//! through the same `deliver` as on the general path.

use super::sched::deadline;
use crate::object::{KCap, Object};
use crate::state::Kernel;
use crate::task::TaskState;
use ipc_abi::syscall::{RECV_MESSAGE, Sys};
use kerncore::cap::Rights;
use kerncore::slab::Id;

impl Kernel {
    /// Whether syscall `number` may take the fast path (checked before
    /// anything else, so other syscalls do not pay for it).
    pub fn has_fast_path(number: u64) -> bool {
        number == Sys::Call as u64 || number == Sys::ReplyRecv as u64
    }

    /// Takes the current task's syscall on the fast path if it can, and
    /// returns the task to run next (already current); `None` leaves the
    /// syscall, untouched, to the general path.
    pub fn ipc_fast_path(&mut self) -> Option<Id> {
        let me = self.current?;
        let (number, slot, msg, timeout) = {
            let c = &self.task(me).context;
            (c.rax, c.rdi, c.rsi, c.rdx)
        };
        let next = if number == Sys::Call as u64 {
            self.fast_call(me, slot, msg)
        } else if number == Sys::ReplyRecv as u64 {
            self.fast_reply_recv(me, slot, msg, timeout)
        } else {
            None
        }?;
        self.ipc_fast += 1;
        Some(next)
    }

    /// How many IPC syscalls the fast path took since boot.
    pub fn ipc_fast_path_count(&self) -> u64 {
        self.ipc_fast
    }

    fn fast_call(&mut self, me: Id, slot: u64, msg: u64) -> Option<Id> {
        let (ep, cap) = self.fast_endpoint(slot, Rights::SEND)?;
        let server = self.endpoints.get(ep)?.first_receiver()?;
        let TaskState::Receiving {
            msg: server_msg, ..
        } = self.task(server).state
        else {
            return None;
        };
        if !self.may_run_next(server) {
            return None;
        }
        // The reply will land in the caller's buffer: as on the general
        // path, it must be writable now.
        self.check_buffer(me, msg).ok()?;
        let out = self.read_message(me, msg, false).ok()?;
        // Checked; from here on nothing fails.
        let _ = self.endpoints.get_mut(ep)?.next_receiver();
        self.deliver(server, server_msg, &out, cap.badge);
        self.task_mut(server).reply_to = Some(me);
        self.set_result(server, Ok(RECV_MESSAGE));
        self.block_current(TaskState::AwaitingReply { server, msg });
        Some(self.run_now(server))
    }

    fn fast_reply_recv(&mut self, me: Id, slot: u64, msg: u64, timeout: u64) -> Option<Id> {
        let caller = self.task(me).reply_to?;
        let TaskState::AwaitingReply {
            server,
            msg: caller_msg,
        } = self.tasks.get(caller)?.state
        else {
            return None;
        };
        if server != me || !self.may_run_next(caller) {
            return None;
        }
        let (ep, _) = self.fast_endpoint(slot, Rights::RECV)?;
        let endpoint = self.endpoints.get(ep)?;
        // A queued caller or a bound notification is served at once by
        // the general path's receive; the fast path only blocks.
        if endpoint.has_senders() || self.task(me).bound.is_some() {
            return None;
        }
        self.check_buffer(me, msg).ok()?;
        let out = self.read_message(me, msg, false).ok()?;
        // The only step that can fail: it goes first, so failing changes
        // nothing.
        self.endpoints.get_mut(ep)?.enqueue_receiver(me).ok()?;
        self.task_mut(me).reply_to = None;
        self.deliver(caller, caller_msg, &out, 0);
        self.set_result(caller, Ok(0));
        self.block_current(TaskState::Receiving {
            endpoint: ep,
            msg,
            deadline: deadline(timeout),
        });
        Some(self.run_now(caller))
    }

    fn fast_endpoint(&self, slot: u64, need: Rights) -> Option<(Id, KCap)> {
        let cap = self.lookup(slot, need).ok()?;
        match cap.object {
            Object::Endpoint(id) => Some((id, cap)),
            _ => None,
        }
    }

    /// Whether `task`, blocked until now, may take the CPU at once: the
    /// scheduler would let it (nothing ready has a higher priority).
    fn may_run_next(&self, task: Id) -> bool {
        let prio = self.task(task).priority;
        self.highest_ready().is_none_or(|p| prio >= p)
    }

    /// Makes `next` (ready to run, not queued) the running task.
    fn run_now(&mut self, next: Id) -> Id {
        self.task_mut(next).state = TaskState::Running;
        self.current = Some(next);
        next
    }
}
