//! The IPC message: what `Call`, `Recv`, `Reply` and `ReplyRecv` read and
//! write in user memory. The kernel copies the 32-byte header plus `len`
//! bytes of `data`; bytes past `len` are left untouched.

/// Largest payload of one message.
pub const MSG_MAX_BYTES: usize = 1024;
/// Most capabilities one message can carry.
pub const MSG_MAX_CAPS: usize = 4;
/// Bytes before `data`.
pub const MSG_HEADER_BYTES: usize = 32;

#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Message {
    /// Payload bytes used in `data`.
    pub len: u32,
    /// Capabilities used in `caps`.
    pub ncaps: u32,
    /// On receive: the badge of the sender's endpoint capability (0 for a
    /// reply), or the notification bits for `RECV_NOTIFICATION`.
    pub badge: u64,
    /// On send: slots of the sender to pass (copied, rights kept); on
    /// receive: the slots they landed in.
    pub caps: [u32; MSG_MAX_CAPS],
    pub data: [u8; MSG_MAX_BYTES],
}

impl Message {
    pub const fn new() -> Message {
        Message {
            len: 0,
            ncaps: 0,
            badge: 0,
            caps: [0; MSG_MAX_CAPS],
            data: [0; MSG_MAX_BYTES],
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.data[..(self.len as usize).min(MSG_MAX_BYTES)]
    }

    pub fn received_caps(&self) -> &[u32] {
        &self.caps[..(self.ncaps as usize).min(MSG_MAX_CAPS)]
    }
}

impl Default for Message {
    fn default() -> Self {
        Self::new()
    }
}

const _: () = assert!(core::mem::offset_of!(Message, data) == MSG_HEADER_BYTES);
