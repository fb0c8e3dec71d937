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

/// Where the header's fields sit in a [`Message`] (asserted below): the
/// kernel reads and writes them by these offsets, never by its own.
pub const LEN_AT: usize = 0;
pub const NCAPS_AT: usize = 4;
pub const BADGE_AT: usize = 8;
pub const CAPS_AT: usize = 16;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(Message, len) == LEN_AT);
    assert!(offset_of!(Message, ncaps) == NCAPS_AT);
    assert!(offset_of!(Message, badge) == BADGE_AT);
    assert!(offset_of!(Message, caps) == CAPS_AT);
    assert!(CAPS_AT + 4 * MSG_MAX_CAPS == MSG_HEADER_BYTES);
    assert!(offset_of!(Message, data) == MSG_HEADER_BYTES);
    assert!(size_of::<Message>() == MSG_HEADER_BYTES + MSG_MAX_BYTES);
};

/// A message's header as bytes in user memory, decoded. What it says is
/// unchecked: `len` and `ncaps` may exceed their maxima.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub ncaps: u32,
    pub badge: u64,
    pub caps: [u32; MSG_MAX_CAPS],
}

impl Header {
    pub fn from_bytes(b: &[u8; MSG_HEADER_BYTES]) -> Header {
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let mut badge = [0u8; 8];
        badge.copy_from_slice(&b[BADGE_AT..BADGE_AT + 8]);
        Header {
            len: u32_at(LEN_AT),
            ncaps: u32_at(NCAPS_AT),
            badge: u64::from_le_bytes(badge),
            caps: core::array::from_fn(|i| u32_at(CAPS_AT + 4 * i)),
        }
    }

    pub fn to_bytes(&self) -> [u8; MSG_HEADER_BYTES] {
        let mut b = [0u8; MSG_HEADER_BYTES];
        b[LEN_AT..LEN_AT + 4].copy_from_slice(&self.len.to_le_bytes());
        b[NCAPS_AT..NCAPS_AT + 4].copy_from_slice(&self.ncaps.to_le_bytes());
        b[BADGE_AT..BADGE_AT + 8].copy_from_slice(&self.badge.to_le_bytes());
        for (i, c) in self.caps.iter().enumerate() {
            b[CAPS_AT + 4 * i..CAPS_AT + 4 * i + 4].copy_from_slice(&c.to_le_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_puts_fields_where_message_has_them() {
        let h = Header {
            len: 0x0102_0304,
            ncaps: 3,
            badge: 0x1122_3344_5566_7788,
            caps: [9, 8, 7, 6],
        };
        let b = h.to_bytes();
        assert_eq!(Header::from_bytes(&b), h);
        assert_eq!(&b[LEN_AT..LEN_AT + 4], &0x0102_0304u32.to_le_bytes());
        assert_eq!(
            &b[BADGE_AT..BADGE_AT + 8],
            &0x1122_3344_5566_7788u64.to_le_bytes()
        );
        assert_eq!(&b[CAPS_AT + 12..CAPS_AT + 16], &6u32.to_le_bytes());
    }
}
