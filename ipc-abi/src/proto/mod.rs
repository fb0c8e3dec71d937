//! Service protocols. Each protocol is a pair of Rust enums (request,
//! reply) encoded with postcard in the payload of an IPC message, behind a
//! small envelope:
//!
//! - the client's first message is `Hello { protocol, version }`, and the
//!   server answers `Welcome` or a `VersionMismatch`/`WrongProtocol` error;
//! - every reply is `Result<ServerFrame<Reply>, ProtoError>`, so a server
//!   answers a message it cannot decode with `Err(Malformed)` instead of
//!   failing.
//!
//! Capabilities travel beside the payload in the message's `caps`.

pub mod fs;
pub mod greeter;
pub mod jit;
pub mod names;
pub mod profiler;
pub mod test;

use crate::cap::Slot;
use crate::ipc::Message;
use crate::syscall::{SysError, SysErrorOrUnknown};
use serde::{Deserialize, Serialize};

/// One request/reply protocol.
pub trait Protocol {
    /// Distinguishes protocols in `Hello` (so a client cannot talk one
    /// protocol to a server of another).
    const ID: u32;
    const VERSION: u32;
    type Request<'a>: Serialize + Deserialize<'a>;
    type Reply<'a>: Serialize + Deserialize<'a>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame<T> {
    Hello { protocol: u32, version: u32 },
    Request(T),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame<T> {
    Welcome { version: u32 },
    Reply(T),
}

/// Protocol-level failures a server reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtoError {
    /// The payload did not decode as a request of this protocol.
    Malformed,
    WrongProtocol {
        server: u32,
        client: u32,
    },
    VersionMismatch {
        server: u32,
        client: u32,
    },
    /// The caller lacks the standing for this request.
    Denied,
    /// The request needs capabilities the message did not carry.
    MissingCapability,
}

/// Why a typed call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The kernel refused or the server died (`PeerDied`).
    Sys(SysErrorOrUnknown),
    /// The server answered with a protocol error.
    Proto(ProtoError),
    /// The request did not fit in a message.
    TooLarge,
    /// The reply did not decode.
    BadReply,
}

impl CallError {
    /// The server is gone (it died before or while handling the call):
    /// reconnecting may help.
    pub fn is_peer_died(&self) -> bool {
        self.is_unanswered()
            || *self == CallError::Sys(SysErrorOrUnknown::Known(SysError::PeerDied))
    }

    /// The server received the call and ended (or moved on) without
    /// answering: the request itself may have killed it, so sending it
    /// again may kill the next one too.
    pub fn is_unanswered(&self) -> bool {
        *self == CallError::Sys(SysErrorOrUnknown::Known(SysError::Unanswered))
    }
}

pub type WireReply<T> = Result<ServerFrame<T>, ProtoError>;

/// Encodes `value` as the payload of `msg`.
pub fn encode<T: Serialize>(msg: &mut Message, value: &T, caps: &[Slot]) -> Result<(), CallError> {
    let used = postcard::to_slice(value, &mut msg.data)
        .map_err(|_| CallError::TooLarge)?
        .len();
    if caps.len() > crate::ipc::MSG_MAX_CAPS {
        return Err(CallError::TooLarge);
    }
    msg.len = used as u32;
    msg.ncaps = caps.len() as u32;
    for (i, c) in caps.iter().enumerate() {
        msg.caps[i] = *c as u32;
    }
    Ok(())
}

/// Decodes a request payload (server side).
pub fn decode_request<'m, P: Protocol>(
    msg: &'m Message,
) -> Result<ClientFrame<P::Request<'m>>, ProtoError> {
    let frame: ClientFrame<P::Request<'m>> =
        postcard::from_bytes(msg.payload()).map_err(|_| ProtoError::Malformed)?;
    if let ClientFrame::Hello { protocol, version } = frame {
        if protocol != P::ID {
            return Err(ProtoError::WrongProtocol {
                server: P::ID,
                client: protocol,
            });
        }
        if version != P::VERSION {
            return Err(ProtoError::VersionMismatch {
                server: P::VERSION,
                client: version,
            });
        }
    }
    Ok(frame)
}

/// Decodes a reply payload (client side).
pub fn decode_reply<'m, P: Protocol>(
    msg: &'m Message,
) -> Result<ServerFrame<P::Reply<'m>>, CallError> {
    let r: WireReply<P::Reply<'m>> =
        postcard::from_bytes(msg.payload()).map_err(|_| CallError::BadReply)?;
    r.map_err(CallError::Proto)
}

/// `Call` on `ep` with `msg` as both request and reply buffer.
pub fn raw_call(ep: Slot, msg: &mut Message) -> Result<(), CallError> {
    let r = crate::syscall::call_message(ep, msg);
    SysError::from_raw(r).map(|_| ()).map_err(CallError::Sys)
}

/// Says hello and checks the server speaks `P` at our version.
pub fn connect<P: Protocol>(ep: Slot, msg: &mut Message) -> Result<(), CallError> {
    encode(
        msg,
        &ClientFrame::<P::Request<'_>>::Hello {
            protocol: P::ID,
            version: P::VERSION,
        },
        &[],
    )?;
    raw_call(ep, msg)?;
    match decode_reply::<P>(msg)? {
        ServerFrame::Welcome { .. } => Ok(()),
        ServerFrame::Reply(_) => Err(CallError::BadReply),
    }
}

/// Sends one typed request and decodes the reply, which borrows `msg`.
/// Capabilities the reply carries are in `msg.received_caps()`.
pub fn call<'m, P: Protocol>(
    ep: Slot,
    msg: &'m mut Message,
    request: &P::Request<'_>,
    caps: &[Slot],
) -> Result<P::Reply<'m>, CallError> {
    encode(msg, &ClientFrame::Request(request), caps)?;
    raw_call(ep, msg)?;
    match decode_reply::<P>(msg)? {
        ServerFrame::Reply(r) => Ok(r),
        ServerFrame::Welcome { .. } => Err(CallError::BadReply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::test::{TestProtocol, TestReply, TestRequest};

    #[test]
    fn requests_round_trip_and_hello_checks_version() {
        let mut msg = Message::new();
        encode(
            &mut msg,
            &ClientFrame::Request(TestRequest::Echo { data: b"abc" }),
            &[3],
        )
        .unwrap();
        assert_eq!(msg.ncaps, 1);
        assert_eq!(
            decode_request::<TestProtocol>(&msg),
            Ok(ClientFrame::Request(TestRequest::Echo { data: b"abc" }))
        );
        encode(
            &mut msg,
            &ClientFrame::<TestRequest<'_>>::Hello {
                protocol: TestProtocol::ID,
                version: 99,
            },
            &[],
        )
        .unwrap();
        assert_eq!(
            decode_request::<TestProtocol>(&msg),
            Err(ProtoError::VersionMismatch {
                server: TestProtocol::VERSION,
                client: 99
            })
        );
        encode(
            &mut msg,
            &ClientFrame::<TestRequest<'_>>::Hello {
                protocol: 77,
                version: 1,
            },
            &[],
        )
        .unwrap();
        assert!(matches!(
            decode_request::<TestProtocol>(&msg),
            Err(ProtoError::WrongProtocol { .. })
        ));
    }

    #[test]
    fn garbage_is_malformed_not_a_crash() {
        let mut msg = Message::new();
        msg.data[..5].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff]);
        msg.len = 5;
        assert_eq!(
            decode_request::<TestProtocol>(&msg),
            Err(ProtoError::Malformed)
        );
        msg.len = 0;
        assert_eq!(
            decode_request::<TestProtocol>(&msg),
            Err(ProtoError::Malformed)
        );
    }

    #[test]
    fn replies_round_trip() {
        let mut msg = Message::new();
        let reply: WireReply<TestReply<'_>> = Ok(ServerFrame::Reply(TestReply::Pong { n: 7 }));
        encode(&mut msg, &reply, &[]).unwrap();
        assert_eq!(
            decode_reply::<TestProtocol>(&msg),
            Ok(ServerFrame::Reply(TestReply::Pong { n: 7 }))
        );
        let err: WireReply<TestReply<'_>> = Err(ProtoError::Denied);
        encode(&mut msg, &err, &[]).unwrap();
        assert_eq!(
            decode_reply::<TestProtocol>(&msg),
            Err(CallError::Proto(ProtoError::Denied))
        );
    }

    #[test]
    fn oversized_requests_are_refused_before_sending() {
        let mut msg = Message::new();
        let big = [0u8; crate::ipc::MSG_MAX_BYTES + 1];
        assert_eq!(
            encode(
                &mut msg,
                &ClientFrame::Request(TestRequest::Echo { data: &big }),
                &[]
            ),
            Err(CallError::TooLarge)
        );
    }
}
