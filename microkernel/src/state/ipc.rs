//! Synchronous IPC on endpoints (call, receive, reply) and notifications.
//!
//! A call rendezvouses with a receiver: the kernel copies the message (a
//! header, `len` payload bytes, and copies of up to four capabilities) from
//! the caller's buffer into the receiver's, and the caller waits until the
//! receiver replies into the caller's buffer. Buffers are checked when a
//! task blocks, so a copy into a blocked task cannot fail later.

use super::sched::deadline;
use crate::mem::user::UserSpace;
use crate::object::{Endpoint, KCap, Notification, Object, cap};
use crate::state::Kernel;
use crate::task::TaskState;
use crate::usercopy::UserSlice;
use ipc_abi::ipc::{
    CAPS_AT, Header, LEN_AT, MSG_HEADER_BYTES, MSG_MAX_BYTES, MSG_MAX_CAPS, NCAPS_AT,
};
use ipc_abi::syscall::{RECV_MESSAGE, RECV_NOTIFICATION, SysError};
use kerncore::cap::Rights;
use kerncore::ipc::Signalled;
use kerncore::slab::Id;

// `read_counts` reads both counts as one little-endian word.
const _: () = assert!(NCAPS_AT == LEN_AT + 4);

/// The payload length and capability count of the message at `msg`, one
/// read (the rest of the header is read only for capabilities; the badge
/// is the kernel's to set).
pub(super) fn read_counts(space: &UserSpace, msg: u64) -> Result<(usize, usize), SysError> {
    let counts = UserSlice::read_value::<[u8; 8]>(space, msg + LEN_AT as u64)?;
    let counts = u64::from_le_bytes(counts);
    let (len, ncaps) = (counts as u32 as usize, (counts >> 32) as usize);
    if len > MSG_MAX_BYTES || ncaps > MSG_MAX_CAPS {
        return Err(SysError::MessageTooLong);
    }
    Ok((len, ncaps))
}

/// Reads the `len` payload bytes of the message at `msg` into `staged`
/// after its header's room (`Kernel::message`).
pub(super) fn read_payload(
    space: &UserSpace,
    msg: u64,
    len: usize,
    staged: &mut [u8],
) -> Result<(), SysError> {
    if len == 0 {
        return Ok(());
    }
    UserSlice::new(msg + MSG_HEADER_BYTES as u64, len as u64)?
        .read(space, &mut staged[MSG_HEADER_BYTES..][..len])
}

/// Writes `header` and the payload staged after it (`header.len` bytes)
/// into the buffer at `msg`, in one copy. The buffer was checked writable
/// when its task blocked and cannot have changed since (only its blocked
/// owner changes its address space), so this cannot fail.
pub(super) fn write_message(space: &UserSpace, msg: u64, header: &Header, staged: &mut [u8]) {
    staged[..MSG_HEADER_BYTES].copy_from_slice(&header.to_bytes());
    let bytes = &staged[..MSG_HEADER_BYTES + header.len as usize];
    let _ = UserSlice::new(msg, bytes.len() as u64).and_then(|s| s.write(space, bytes));
}

/// A message read from its sender: it is in `Kernel::message`
/// (`len` bytes) and its capabilities, resolved, in `Kernel::message_caps`
/// (one message moves at a time, under the kernel lock, so nothing of a
/// kilobyte is cleared or copied around per call).
struct Outgoing {
    len: usize,
}

impl Kernel {
    fn check_buffer(&mut self, task: Id, msg: u64) -> Result<(), SysError> {
        self.task_mut(task).check_message_buffer(msg)
    }

    fn read_message(&mut self, task: Id, msg: u64, may_grant: bool) -> Result<Outgoing, SysError> {
        let space = self.tasks.get(task).expect("task id out of date").space();
        let (len, ncaps) = read_counts(space, msg)?;
        if ncaps > 0 && !may_grant {
            return Err(SysError::MissingRights);
        }
        read_payload(space, msg, len, &mut self.message)?;
        let mut slots = [0u32; MSG_MAX_CAPS];
        if ncaps > 0 {
            let mut bytes = [0u8; 4 * MSG_MAX_CAPS];
            UserSlice::new(msg + CAPS_AT as u64, 4 * ncaps as u64)?
                .read(space, &mut bytes[..4 * ncaps])?;
            for (slot, b) in slots.iter_mut().zip(bytes.chunks_exact(4)) {
                *slot = u32::from_le_bytes(b.try_into().expect("4 bytes"));
            }
        }
        self.message_caps.clear();
        for &slot in &slots[..ncaps] {
            // Like `TaskGrant`: only a capability that carries GRANT may be
            // handed to another task.
            let cap = self
                .task(task)
                .caps
                .check(slot as u64, Rights::GRANT)
                .map_err(|e| match e {
                    kerncore::cap::CapError::MissingRights { .. } => SysError::MissingRights,
                    _ => SysError::InvalidCap,
                })?;
            let _ = self.message_caps.push(cap);
        }
        Ok(Outgoing { len })
    }

    /// Delivers `out` into `to`'s buffer (already checked writable). Caps
    /// that do not fit in the receiver's table are dropped, and `ncaps`
    /// says how many arrived.
    fn deliver(&mut self, to: Id, msg: u64, out: &Outgoing, badge: u64) {
        let mut header = Header {
            len: out.len as u32,
            badge,
            ..Header::default()
        };
        for i in 0..self.message_caps.len() {
            let cap = self.message_caps[i];
            if let Ok(slot) = self.grant(to, cap) {
                header.caps[header.ncaps as usize] = slot;
                header.ncaps += 1;
            }
        }
        let space = self.tasks.get(to).expect("task id out of date").space();
        write_message(space, msg, &header, &mut self.message);
    }

    fn endpoint_cap(&self, slot: u64, need: Rights) -> Result<(Id, KCap), SysError> {
        let cap = self.lookup(slot, need)?;
        match cap.object {
            Object::Endpoint(id) => Ok((id, cap)),
            _ => Err(SysError::WrongKind),
        }
    }

    pub fn call(&mut self, slot: u64, msg: u64) -> Result<(), SysError> {
        let me = self.current();
        let (ep, cap) = self.endpoint_cap(slot, Rights::SEND)?;
        self.check_buffer(me, msg)?;
        let may_grant = cap.rights.contains(Rights::GRANT);
        let out = self.read_message(me, msg, may_grant)?;
        let receiver = self.endpoints.get_mut(ep).and_then(|e| e.next_receiver());
        match receiver {
            Some(r) => {
                let TaskState::Receiving { msg: rmsg, .. } = self.task(r).state else {
                    unreachable!("a queued receiver is receiving")
                };
                self.deliver(r, rmsg, &out, cap.badge);
                self.task_mut(r).reply_to = Some(me);
                self.wake_to_run_next(r, Ok(RECV_MESSAGE));
                self.block_current(TaskState::AwaitingReply {
                    server: r,
                    msg,
                    in_registers: false,
                });
            }
            None => {
                let e = self.endpoints.get_mut(ep).expect("looked up");
                if !e.answerable() {
                    return Err(SysError::PeerDied);
                }
                e.enqueue_sender(me).map_err(|_| SysError::OutOfMemory)?;
                self.block_current(TaskState::Sending {
                    endpoint: ep,
                    msg,
                    badge: cap.badge,
                    may_grant,
                });
            }
        }
        Ok(())
    }

    /// Receives on an endpoint; on success the result is set when the task
    /// is woken (or immediately if something is pending).
    /// `in_registers`: a short message may come in registers (the task
    /// waits in `ReplyRecvShort`; only the fast path does that).
    pub fn recv(
        &mut self,
        slot: u64,
        msg: u64,
        timeout: u64,
        in_registers: bool,
    ) -> Result<Option<u64>, SysError> {
        let me = self.current();
        let (ep, _) = self.endpoint_cap(slot, Rights::RECV)?;
        self.check_buffer(me, msg)?;
        // A caller received earlier and not answered never will be: fail
        // it now rather than leave it blocked forever.
        if let Some(abandoned) = self.task_mut(me).reply_to.take()
            && self.awaits_reply_from(abandoned, me)
        {
            self.wake(abandoned, Err(SysError::Unanswered));
        }
        if let Some(bits) = self.take_bound_bits(me) {
            self.write_notification(me, msg, bits);
            return Ok(Some(RECV_NOTIFICATION));
        }
        let sender = self.endpoints.get_mut(ep).and_then(|e| e.next_sender());
        if let Some(s) = sender {
            let TaskState::Sending {
                msg: smsg,
                badge,
                may_grant,
                ..
            } = self.task(s).state
            else {
                unreachable!("a queued sender is sending")
            };
            // The message is read again now (another task sharing its page
            // may have changed it since the call), under the same rights.
            match self.read_message(s, smsg, may_grant) {
                Ok(out) => {
                    self.deliver(me, msg, &out, badge);
                    self.task_mut(me).reply_to = Some(s);
                    self.task_mut(s).state = TaskState::AwaitingReply {
                        server: me,
                        msg: smsg,
                        in_registers: false,
                    };
                    return Ok(Some(RECV_MESSAGE));
                }
                Err(e) => self.wake(s, Err(e)),
            }
        }
        self.endpoints
            .get_mut(ep)
            .expect("looked up")
            .enqueue_receiver(me)
            .map_err(|_| SysError::OutOfMemory)?;
        self.block_current(TaskState::Receiving {
            endpoint: ep,
            msg,
            deadline: deadline(timeout),
            in_registers,
        });
        Ok(None)
    }

    pub fn reply(&mut self, msg: u64) -> Result<(), SysError> {
        let me = self.current();
        let caller = self.task(me).reply_to.ok_or(SysError::NoReplyPending)?;
        if !self.awaits_reply_from(caller, me) {
            self.task_mut(me).reply_to = None;
            return Err(SysError::PeerDied);
        }
        // A bad reply leaves the caller waiting for a good one.
        let out = self.read_message(me, msg, true)?;
        self.task_mut(me).reply_to = None;
        let TaskState::AwaitingReply { msg: cmsg, .. } = self.task(caller).state else {
            unreachable!("checked above")
        };
        self.deliver(caller, cmsg, &out, 0);
        self.wake_to_run_next(caller, Ok(0));
        Ok(())
    }

    // ---- creation ----------------------------------------------------------

    pub fn endpoint_create(&mut self) -> Result<u64, SysError> {
        let me = self.current();
        let charge = self.charge(me, core::mem::size_of::<Endpoint>() as u64 * 2 + 64)?;
        let Ok(endpoint) = Endpoint::new(Some(charge)) else {
            self.uncharge(Some(charge));
            return Err(SysError::OutOfMemory);
        };
        let Ok(id) = self.endpoints.try_insert(endpoint) else {
            self.uncharge(Some(charge));
            return Err(SysError::OutOfMemory);
        };
        self.grant_created(me, Object::Endpoint(id))
    }

    /// Gives `task` the one capability (all rights) to an object it just
    /// created. It is the only reference: if it cannot be granted, one
    /// reference taken and dropped frees the object and its charge.
    fn grant_created(&mut self, task: Id, object: Object) -> Result<u64, SysError> {
        let c = cap(object, Rights::ALL);
        self.grant(task, c).map(u64::from).inspect_err(|_| {
            self.add_ref(c);
            self.drop_ref(c);
        })
    }

    pub fn notification_create(&mut self) -> Result<u64, SysError> {
        let me = self.current();
        let charge = self.charge(me, core::mem::size_of::<Notification>() as u64 * 2)?;
        let note = Notification::new(Some(charge));
        let Ok(id) = self.notifications.try_insert(note) else {
            self.uncharge(Some(charge));
            return Err(SysError::OutOfMemory);
        };
        self.grant_created(me, Object::Notification(id))
    }

    // ---- notifications -----------------------------------------------------

    pub fn signal(&mut self, n: Id, bits: u64) {
        let Some(note) = self.notifications.get_mut(n) else {
            return;
        };
        match note.signal(bits) {
            Signalled::Waiter(w, bits) => self.wake(w, Ok(bits)),
            Signalled::Bound(b) => {
                let state = self.tasks.get(b).map(|t| t.state);
                if let Some(state @ TaskState::Receiving { msg, .. }) = state {
                    let note = self.notifications.get_mut(n).expect("present");
                    let bits = note.take_bits().unwrap_or(0);
                    self.cancel_wait(b, state);
                    self.write_notification(b, msg, bits);
                    self.wake(b, Ok(RECV_NOTIFICATION));
                }
            }
            Signalled::Pending => {}
        }
    }

    fn take_bound_bits(&mut self, task: Id) -> Option<u64> {
        let n = self.task(task).bound?;
        self.notifications.get_mut(n)?.take_bits()
    }

    fn write_notification(&self, task: Id, msg: u64, bits: u64) {
        let header = Header {
            badge: bits,
            ..Header::default()
        }
        .to_bytes();
        let _ = UserSlice::new(msg, MSG_HEADER_BYTES as u64)
            .and_then(|s| s.write(self.space_of(task), &header));
    }

    fn notification_cap(&self, slot: u64, need: Rights) -> Result<Id, SysError> {
        match self.lookup(slot, need)?.object {
            Object::Notification(id) => Ok(id),
            _ => Err(SysError::WrongKind),
        }
    }

    pub fn signal_slot(&mut self, slot: u64, bits: u64) -> Result<(), SysError> {
        let n = self.notification_cap(slot, Rights::SIGNAL)?;
        self.signal(n, bits);
        Ok(())
    }

    pub fn wait(&mut self, slot: u64, timeout: u64) -> Result<Option<u64>, SysError> {
        let n = self.notification_cap(slot, Rights::WAIT)?;
        let me = self.current();
        let note = self
            .notifications
            .get_mut(n)
            .expect("capability keeps it alive");
        match note.wait(me) {
            Ok(Some(bits)) => Ok(Some(bits)),
            Err(_) => Err(SysError::InvalidArgument),
            Ok(None) => {
                self.block_current(TaskState::Waiting {
                    notification: n,
                    deadline: deadline(timeout),
                });
                Ok(None)
            }
        }
    }

    pub fn bind(&mut self, slot: u64) -> Result<(), SysError> {
        let n = self.notification_cap(slot, Rights::WAIT)?;
        let me = self.current();
        let note = self
            .notifications
            .get_mut(n)
            .expect("capability keeps it alive");
        note.bind(me).map_err(|_| SysError::InvalidArgument)?;
        // One bound notification per task: the one bound before lets go.
        if let Some(old) = self.task_mut(me).bound.replace(n)
            && old != n
            && let Some(o) = self.notifications.get_mut(old)
        {
            o.unbind(me);
        }
        Ok(())
    }
}
