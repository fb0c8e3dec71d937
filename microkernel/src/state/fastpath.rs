//! The IPC fast path: `Call` to a server that is already waiting, and
//! `ReplyRecv` answering a caller while no other caller is queued, move the
//! message and switch straight to the other side, without decoding a
//! `Request`, the ready queues or the scheduler (seL4's fastpath).
//!
//! It takes only the common case: a message without capabilities, a
//! partner of at least the priority of every ready task, and (for
//! `ReplyRecv`) no bound notification. It first checks everything the
//! general path would check, changing nothing; if any check fails it
//! returns `None` and the general path (`ipc.rs`) handles the syscall from
//! the start, with its errors. So a syscall's outcome never depends on
//! which path took it, only its cost does.
//!
//! Short messages (`CallShort`, `ReplyRecvShort`: at most
//! `SHORT_MESSAGE_BYTES`, no capabilities) are taken from the sender's
//! registers, and handed over in the receiver's registers when it waits in
//! one of those two syscalls: then no user memory is touched at all
//! (seL4's message registers). Otherwise the message moves between the
//! buffers through the same functions as on the general path.

use super::ipc::{read_counts, read_payload, write_message};
use super::sched::{deadline, switch_tasks};
use crate::arch::trap::TrapFrame;
use crate::mem::user::UserSpace;
use crate::object::{Endpoint, Object};
use crate::state::Kernel;
use crate::task::{Task, TaskState};
use ipc_abi::ipc::{Header, MSG_HEADER_BYTES};
use ipc_abi::syscall::{
    RECV_IN_REGISTERS, RECV_MESSAGE, REPLY_IN_REGISTERS, SHORT_MESSAGE_BYTES, Sys,
};
use kerncore::cap::Rights;
use kerncore::slab::{Id, Slab};

const CALL: u64 = Sys::Call as u64;
const CALL_SHORT: u64 = Sys::CallShort as u64;
const REPLY_RECV: u64 = Sys::ReplyRecv as u64;
const REPLY_RECV_SHORT: u64 = Sys::ReplyRecvShort as u64;

/// What the fast path works on, borrowed from the kernel field by field.
struct FastPath<'k> {
    tasks: &'k mut Slab<Task>,
    endpoints: &'k mut Slab<Endpoint>,
    message: &'k mut [u8],
    current: &'k mut Option<Id>,
    fpu_owner: &'k mut Option<Id>,
    ipc_in_registers: &'k mut u64,
    /// The highest priority with a ready task.
    highest: Option<usize>,
}

/// A message taken from its sender, without capabilities: in three words
/// (from registers), or staged in `Kernel::message` (from a buffer).
enum Body {
    Words { len: usize, words: [u64; 3] },
    Staged { len: usize },
}

impl Body {
    fn len(&self) -> usize {
        match *self {
            Body::Words { len, .. } | Body::Staged { len } => len,
        }
    }
}

/// Where a syscall's message is: in its buffer only, or (a `...Short`
/// syscall) in registers too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Buffer,
    Registers,
}

impl Kernel {
    /// Whether syscall `number` may take the fast path (checked first, so
    /// other syscalls pay a few comparisons).
    #[inline]
    pub fn has_fast_path(number: u64) -> bool {
        [CALL, CALL_SHORT, REPLY_RECV, REPLY_RECV_SHORT].contains(&number)
    }

    /// Takes the current task's syscall `number` (one that
    /// [`Kernel::has_fast_path`]) with its first three arguments (`rdi`,
    /// `rsi`, `rdx`) on the fast path if it can, switches to the partner
    /// and returns its frame to resume; `None` leaves the syscall,
    /// untouched, to the general path.
    pub fn ipc_fast_path(
        &mut self,
        number: u64,
        slot: u64,
        msg: u64,
        timeout: u64,
    ) -> Option<*const TrapFrame> {
        let me = self.current?;
        let next = match number {
            CALL => self.fast_call(me, slot, msg, Form::Buffer),
            CALL_SHORT => self.fast_call(me, slot, msg, Form::Registers),
            REPLY_RECV => self.fast_reply_recv(me, slot, msg, timeout, Form::Buffer),
            REPLY_RECV_SHORT => self.fast_reply_recv(me, slot, msg, 0, Form::Registers),
            _ => None,
        }?;
        self.ipc_fast += 1;
        Some(next)
    }

    /// How many IPC syscalls the fast path took since boot, and in how
    /// many the message reached its receiver in registers.
    pub fn ipc_fast_path_counts(&self) -> (u64, u64) {
        (self.ipc_fast, self.ipc_in_registers)
    }

    /// The kernel's fields apart, so that both tasks, the endpoint and the
    /// staged message are each looked up once; `None` unless the running
    /// task `me`'s FPU state is the one in the CPU (as it is after any
    /// switch to it).
    #[inline(always)]
    fn fast_path_parts(&mut self, me: Id) -> Option<FastPath<'_>> {
        let highest = self.highest_ready();
        (self.fpu_owner == Some(me)).then_some(FastPath {
            tasks: &mut self.tasks,
            endpoints: &mut self.endpoints,
            message: &mut self.message,
            current: &mut self.current,
            fpu_owner: &mut self.fpu_owner,
            ipc_in_registers: &mut self.ipc_in_registers,
            highest,
        })
    }

    fn fast_call(&mut self, me: Id, slot: u64, msg: u64, form: Form) -> Option<*const TrapFrame> {
        let p = self.fast_path_parts(me)?;
        let cap = p.tasks.get(me)?.caps.check(slot, Rights::SEND).ok()?;
        let Object::Endpoint(ep) = cap.object else {
            return None;
        };
        let endpoint = p.endpoints.get_mut(ep)?;
        let server_id = endpoint.first_receiver()?;
        let (caller, server) = p.tasks.get2_mut(me, server_id)?;
        let TaskState::Receiving {
            msg: server_msg,
            in_registers,
            ..
        } = server.state
        else {
            return None;
        };
        if p.highest.is_some_and(|h| h > server.priority) || !server.context.resumes_in_user_half()
        {
            return None;
        }
        // The reply may land in the caller's buffer: as on the general
        // path, it must be writable now.
        caller.check_message_buffer(msg).ok()?;
        let body = take_message(caller, msg, form, p.message)?;
        // Checked; from here on nothing fails.
        let badge = cap.badge;
        if in_registers
            && hand_over(
                &mut server.context,
                RECV_IN_REGISTERS,
                badge,
                &body,
                p.message,
            )
        {
            *p.ipc_in_registers += 1;
        } else {
            let header = Header {
                len: stage(&body, p.message) as u32,
                badge,
                ..Header::default()
            };
            write_message(server.space(), server_msg, &header, p.message);
            server.set_result(Ok(RECV_MESSAGE));
        }
        let _ = endpoint.next_receiver();
        server.reply_to = Some(me);
        server.state = TaskState::Running;
        caller.block(TaskState::AwaitingReply {
            server: server_id,
            msg,
            in_registers: form == Form::Registers,
        });
        *p.current = Some(server_id);
        *p.fpu_owner = Some(server_id);
        switch_tasks(Some(caller), server, true)
    }

    fn fast_reply_recv(
        &mut self,
        me: Id,
        slot: u64,
        msg: u64,
        timeout: u64,
        form: Form,
    ) -> Option<*const TrapFrame> {
        let p = self.fast_path_parts(me)?;
        let server = p.tasks.get(me)?;
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
        let endpoint = p.endpoints.get_mut(ep)?;
        if endpoint.has_senders() {
            return None;
        }
        let (server, caller) = p.tasks.get2_mut(me, caller_id)?;
        let TaskState::AwaitingReply {
            server: answered_by,
            msg: caller_msg,
            in_registers,
        } = caller.state
        else {
            return None;
        };
        if answered_by != me
            || p.highest.is_some_and(|h| h > caller.priority)
            || !caller.context.resumes_in_user_half()
        {
            return None;
        }
        server.check_message_buffer(msg).ok()?;
        let body = take_message(server, msg, form, p.message)?;
        // The only step that can fail: it goes first, so failing changes
        // nothing.
        endpoint.enqueue_receiver(me).ok()?;
        if in_registers && hand_over(&mut caller.context, REPLY_IN_REGISTERS, 0, &body, p.message) {
            *p.ipc_in_registers += 1;
        } else {
            let header = Header {
                len: stage(&body, p.message) as u32,
                ..Header::default()
            };
            write_message(caller.space(), caller_msg, &header, p.message);
            caller.set_result(Ok(0));
        }
        server.reply_to = None;
        server.block(TaskState::Receiving {
            endpoint: ep,
            msg,
            deadline: deadline(timeout),
            in_registers: form == Form::Registers,
        });
        caller.state = TaskState::Running;
        *p.current = Some(caller_id);
        *p.fpu_owner = Some(caller_id);
        switch_tasks(Some(server), caller, true)
    }
}

/// The message `task` sends if it is valid and carries no capabilities
/// (else the general path takes it, and reports what is wrong): a short
/// message from the registers (`rdx`, `r10`, `r8`, `r9`), any other from
/// the buffer at `msg`, its payload staged in `staged` after the header's
/// room.
#[inline(always)]
fn take_message(task: &Task, msg: u64, form: Form, staged: &mut [u8]) -> Option<Body> {
    if form == Form::Registers {
        let c = &task.context;
        let len = usize::try_from(c.rdx).ok()?;
        return (len <= SHORT_MESSAGE_BYTES).then_some(Body::Words {
            len,
            words: [c.r10, c.r8, c.r9],
        });
    }
    take_from_buffer(task, msg, staged)
}

/// `take_message` from a buffer (out of line: the register case is the
/// one to keep small).
#[inline(never)]
fn take_from_buffer(task: &Task, msg: u64, staged: &mut [u8]) -> Option<Body> {
    let space: &UserSpace = task.space();
    let (len, ncaps) = read_counts(space, msg).ok()?;
    if ncaps != 0 {
        return None;
    }
    read_payload(space, msg, len, staged).ok()?;
    Some(Body::Staged { len })
}

/// Stages a message's payload in `staged` (if it is not there yet) for a
/// copy into a buffer; returns its length.
fn stage(body: &Body, staged: &mut [u8]) -> usize {
    if let Body::Words { len, words } = *body {
        let payload = &mut staged[MSG_HEADER_BYTES..][..SHORT_MESSAGE_BYTES];
        for (bytes, w) in payload.chunks_exact_mut(8).zip(words) {
            bytes.copy_from_slice(&w.to_le_bytes());
        }
        return len;
    }
    body.len()
}

/// Puts a short message into a waiting task's registers with `result`,
/// the way `ipc_abi::syscall::short` reads them back; `false` if it is
/// too long for them. Bytes past its length are zero (the staging buffer
/// may hold an earlier message's, the sender's registers anything).
#[inline]
fn hand_over(frame: &mut TrapFrame, result: u64, badge: u64, body: &Body, staged: &[u8]) -> bool {
    let len = body.len();
    if len > SHORT_MESSAGE_BYTES {
        return false;
    }
    let word = |i: usize| {
        let w = match *body {
            Body::Words { words, .. } => words[i],
            Body::Staged { .. } => {
                let at = MSG_HEADER_BYTES + 8 * i;
                u64::from_le_bytes(staged[at..at + 8].try_into().expect("8 bytes"))
            }
        };
        // Only the message's own bytes: the rest is zeroed.
        match len.saturating_sub(8 * i) {
            0 => 0,
            n @ 1..=7 => w & ((1 << (8 * n)) - 1),
            _ => w,
        }
    };
    frame.rax = result;
    frame.rsi = badge;
    frame.rdx = len as u64;
    frame.r10 = word(0);
    frame.r8 = word(1);
    frame.r9 = word(2);
    true
}
