//! Short messages in registers: the wrappers for `CallShort` and
//! `ReplyRecvShort`, which every IPC caller uses through `rt` and
//! `proto`. A message of at most [`SHORT_MESSAGE_BYTES`] without
//! capabilities travels in registers as well as in its buffer; what comes
//! back in registers is stored into the buffer here, so callers see a
//! `Message` either way and the same results as `Call` and `ReplyRecv`.
//!
//! Registers (both syscalls, both directions): `rdx` the payload length,
//! `r10`, `r8`, `r9` the payload as little-endian words; `rsi` the badge
//! of a message received in registers.

use super::{RECV_IN_REGISTERS, RECV_MESSAGE, REPLY_IN_REGISTERS, SHORT_MESSAGE_BYTES, Sys, raw};
use crate::ipc::Message;
use core::arch::asm;

const WORDS: usize = SHORT_MESSAGE_BYTES / 8;
const _: () = assert!(WORDS == 3, "three payload registers");

/// `Call` on `ep` with `msg` as request and reply buffer: the raw result
/// (`0` or an error), the reply in `msg`.
#[inline]
pub fn call_message(ep: u64, msg: &mut Message) -> u64 {
    let ptr = msg as *mut Message as u64;
    let Some(words) = short_words(msg) else {
        // SAFETY: `msg` is a whole, writable Message for the duration of
        // the call, which is what `Call` reads and overwrites.
        return unsafe { raw::syscall2(Sys::Call as u64, ep, ptr) };
    };
    // SAFETY: as for `Call`; the registers hold a copy of the message.
    let out = unsafe { syscall_short(Sys::CallShort, ep, ptr, msg.len as u64, words) };
    if out.result == REPLY_IN_REGISTERS {
        store(msg, 0, &out);
        return 0;
    }
    out.result
}

/// `ReplyRecv` on `ep`: answers with `msg`, then receives into it; the raw
/// result (`RECV_MESSAGE`, `RECV_NOTIFICATION` or an error).
#[inline]
pub fn reply_recv_message(ep: u64, msg: &mut Message, timeout_ticks: u64) -> u64 {
    let ptr = msg as *mut Message as u64;
    let words = short_words(msg).filter(|_| timeout_ticks == 0);
    let Some(words) = words else {
        // SAFETY: `msg` is a whole, writable Message for the duration of
        // the call, which is what `ReplyRecv` reads and overwrites.
        return unsafe { raw::syscall4(Sys::ReplyRecv as u64, ep, ptr, timeout_ticks, 0) };
    };
    // SAFETY: as for `ReplyRecv`; the registers hold a copy of the reply.
    let out = unsafe { syscall_short(Sys::ReplyRecvShort, ep, ptr, msg.len as u64, words) };
    if out.result == RECV_IN_REGISTERS {
        store(msg, out.badge, &out);
        return RECV_MESSAGE;
    }
    out.result
}

/// The payload as words if `msg` may travel in registers.
fn short_words(msg: &Message) -> Option<[u64; WORDS]> {
    if msg.ncaps != 0 || msg.len as usize > SHORT_MESSAGE_BYTES {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(msg.data[8 * i..8 * i + 8].try_into().expect("8"));
    Some([word(0), word(1), word(2)])
}

/// What a short syscall left in the registers.
struct Returned {
    result: u64,
    badge: u64,
    len: u64,
    words: [u64; WORDS],
}

/// Stores a message that came back in registers into `msg`.
fn store(msg: &mut Message, badge: u64, out: &Returned) {
    // The kernel never puts more than SHORT_MESSAGE_BYTES in registers;
    // the bound keeps a wrong length from claiming bytes not written.
    msg.len = out.len.min(SHORT_MESSAGE_BYTES as u64) as u32;
    msg.ncaps = 0;
    msg.badge = badge;
    msg.data[0..8].copy_from_slice(&out.words[0].to_le_bytes());
    msg.data[8..16].copy_from_slice(&out.words[1].to_le_bytes());
    msg.data[16..24].copy_from_slice(&out.words[2].to_le_bytes());
}

/// # Safety
/// `ptr` must point to a whole, writable `Message` for the duration of
/// the call (the kernel may read or overwrite it).
unsafe fn syscall_short(n: Sys, ep: u64, ptr: u64, len: u64, w: [u64; WORDS]) -> Returned {
    let (result, badge, len_out, w0, w1, w2): (u64, u64, u64, u64, u64, u64);
    // SAFETY: `syscall` only transfers to the kernel; the caller vouches
    // for `ptr`; every register the kernel may change on return is an
    // output, and rcx/r11 are clobbered by the instruction.
    unsafe {
        asm!("syscall", inlateout("rax") n as u64 => result, in("rdi") ep,
             inlateout("rsi") ptr => badge, inlateout("rdx") len => len_out,
             inlateout("r10") w[0] => w0, inlateout("r8") w[1] => w1,
             inlateout("r9") w[2] => w2,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    Returned {
        result,
        badge,
        len: len_out,
        words: [w0, w1, w2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_messages_without_capabilities_go_in_registers() {
        let mut msg = Message::new();
        msg.len = 24;
        msg.data[..24].copy_from_slice(&core::array::from_fn::<u8, 24, _>(|i| i as u8 + 1));
        let words = short_words(&msg).expect("24 bytes fit");
        assert_eq!(words[0], u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(words[2] >> 56, 24);
        msg.len = 25;
        assert_eq!(short_words(&msg), None, "25 bytes do not");
        msg.len = 1;
        msg.ncaps = 1;
        assert_eq!(short_words(&msg), None, "capabilities never do");
    }

    #[test]
    fn a_message_from_registers_is_stored_whole_and_bounded() {
        let mut msg = Message::new();
        msg.ncaps = 3;
        let out = Returned {
            result: RECV_IN_REGISTERS,
            badge: 9,
            len: 10,
            words: [0x0807_0605_0403_0201, 0x0a09, 0],
        };
        store(&mut msg, out.badge, &out);
        assert_eq!((msg.len, msg.ncaps, msg.badge), (10, 0, 9));
        assert_eq!(&msg.data[..10], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let too_long = Returned { len: 1000, ..out };
        store(&mut msg, 0, &too_long);
        assert_eq!(msg.len as usize, SHORT_MESSAGE_BYTES);
    }
}
