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

use super::ipc::{read_counts, read_payload, write_message};
use super::sched::deadline;
use crate::mem::user::UserSpace;
use crate::object::Object;
use crate::state::Kernel;
use crate::task::TaskState;
use ipc_abi::ipc::Header;
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
        let highest = self.highest_ready();
        // The fields apart, so that both tasks, the endpoint and the staged
        // message are each looked up once.
        let Kernel {
            tasks,
            endpoints,
            message,
            current,
            ..
        } = self;
        let cap = tasks.get(me)?.caps.check(slot, Rights::SEND).ok()?;
        let Object::Endpoint(ep) = cap.object else {
            return None;
        };
        let endpoint = endpoints.get_mut(ep)?;
        let server_id = endpoint.first_receiver()?;
        let (caller, server) = tasks.get2_mut(me, server_id)?;
        let TaskState::Receiving {
            msg: server_msg, ..
        } = server.state
        else {
            return None;
        };
        if highest.is_some_and(|p| p > server.priority) {
            return None;
        }
        // The reply will land in the caller's buffer: as on the general
        // path, it must be writable now.
        caller.check_message_buffer(msg).ok()?;
        let len = read_plain(caller.space(), msg, message)?;
        // Checked; from here on nothing fails.
        let header = Header {
            len: len as u32,
            badge: cap.badge,
            ..Header::default()
        };
        write_message(server.space(), server_msg, &header, message);
        let _ = endpoint.next_receiver();
        server.reply_to = Some(me);
        server.set_result(Ok(RECV_MESSAGE));
        server.state = TaskState::Running;
        caller.block(TaskState::AwaitingReply {
            server: server_id,
            msg,
        });
        *current = Some(server_id);
        Some(server_id)
    }

    fn fast_reply_recv(&mut self, me: Id, slot: u64, msg: u64, timeout: u64) -> Option<Id> {
        let highest = self.highest_ready();
        let Kernel {
            tasks,
            endpoints,
            message,
            current,
            ..
        } = self;
        let server = tasks.get(me)?;
        let caller_id = server.reply_to?;
        // A bound notification or a queued caller is served at once by the
        // general path's receive; the fast path only blocks.
        if server.bound.is_some() {
            return None;
        }
        let cap = server.caps.check(slot, Rights::RECV).ok()?;
        let Object::Endpoint(ep) = cap.object else {
            return None;
        };
        let endpoint = endpoints.get_mut(ep)?;
        if endpoint.has_senders() {
            return None;
        }
        let (server, caller) = tasks.get2_mut(me, caller_id)?;
        let TaskState::AwaitingReply {
            server: answered_by,
            msg: caller_msg,
        } = caller.state
        else {
            return None;
        };
        if answered_by != me || highest.is_some_and(|p| p > caller.priority) {
            return None;
        }
        server.check_message_buffer(msg).ok()?;
        let len = read_plain(server.space(), msg, message)?;
        // The only step that can fail: it goes first, so failing changes
        // nothing.
        endpoint.enqueue_receiver(me).ok()?;
        let header = Header {
            len: len as u32,
            ..Header::default()
        };
        write_message(caller.space(), caller_msg, &header, message);
        server.reply_to = None;
        server.block(TaskState::Receiving {
            endpoint: ep,
            msg,
            deadline: deadline(timeout),
        });
        caller.set_result(Ok(0));
        caller.state = TaskState::Running;
        *current = Some(caller_id);
        Some(caller_id)
    }
}

/// The length of the message at `msg`, its payload staged in `staged`, if
/// it is valid and carries no capabilities (else the general path takes
/// it, and reports what is wrong).
fn read_plain(space: &UserSpace, msg: u64, staged: &mut [u8]) -> Option<usize> {
    let (len, ncaps) = read_counts(space, msg).ok()?;
    if ncaps != 0 {
        return None;
    }
    read_payload(space, msg, len, staged).ok()?;
    Some(len)
}
