//! A server loop for one protocol: receives, answers `Hello`, decodes
//! requests, and answers undecodable messages with `Malformed` instead of
//! failing.

use crate::sys;
use ipc_abi::cap::Slot;
use ipc_abi::ipc::Message;
use ipc_abi::proto::{self, ClientFrame, ProtoError, Protocol, ServerFrame, WireReply};

/// What a handler answers: a reply and the capabilities to pass with it.
pub type Answer<'a, P> = Result<(<P as Protocol>::Reply<'a>, Option<Slot>), ProtoError>;

/// Serves `P` on `ep` forever. `handle` gets the badge of the caller, the
/// request, the capabilities that came with it, and a scratch buffer for
/// reply data that must outlive the request.
pub fn serve<P: Protocol>(
    ep: Slot,
    mut handle: impl for<'r> FnMut(u64, P::Request<'r>, &[u32], &'r mut [u8]) -> Answer<'r, P>,
) -> ! {
    let mut msg = Message::new();
    let mut scratch = [0u8; ipc_abi::ipc::MSG_MAX_BYTES];
    let mut have_reply = false;
    loop {
        let r = if have_reply {
            sys::reply_recv(ep, &mut msg, 0)
        } else {
            sys::recv(ep, &mut msg, 0)
        };
        if r.is_err() {
            have_reply = false;
            continue;
        }
        let badge = msg.badge;
        let caps: heapless_caps::Caps = heapless_caps::Caps::from(msg.received_caps());
        let reply_buf = Message::new();
        let mut out = reply_buf;
        let result: Result<(), proto::CallError> = {
            let frame = proto::decode_request::<P>(&msg);
            match frame {
                Ok(ClientFrame::Hello { .. }) => {
                    let w: WireReply<P::Reply<'_>> = Ok(ServerFrame::Welcome {
                        version: P::VERSION,
                    });
                    proto::encode(&mut out, &w, &[])
                }
                Ok(ClientFrame::Request(req)) => {
                    match handle(badge, req, caps.as_slice(), &mut scratch) {
                        Ok((reply, cap)) => {
                            let w: WireReply<P::Reply<'_>> = Ok(ServerFrame::Reply(reply));
                            match cap {
                                Some(c) => proto::encode(&mut out, &w, &[c]),
                                None => proto::encode(&mut out, &w, &[]),
                            }
                        }
                        Err(e) => proto::encode(&mut out, &WireReply::<P::Reply<'_>>::Err(e), &[]),
                    }
                }
                Err(e) => proto::encode(&mut out, &WireReply::<P::Reply<'_>>::Err(e), &[]),
            }
        };
        if result.is_err() {
            let _ = proto::encode(
                &mut out,
                &WireReply::<P::Reply<'_>>::Err(ProtoError::Malformed),
                &[],
            );
        }
        msg = out;
        have_reply = true;
    }
}

mod heapless_caps {
    use ipc_abi::ipc::MSG_MAX_CAPS;

    /// The capabilities of one request, copied out of the message.
    pub struct Caps {
        slots: [u32; MSG_MAX_CAPS],
        n: usize,
    }

    impl From<&[u32]> for Caps {
        fn from(s: &[u32]) -> Caps {
            let mut slots = [0; MSG_MAX_CAPS];
            let n = s.len().min(MSG_MAX_CAPS);
            slots[..n].copy_from_slice(&s[..n]);
            Caps { slots, n }
        }
    }

    impl Caps {
        pub fn as_slice(&self) -> &[u32] {
            &self.slots[..self.n]
        }
    }
}
