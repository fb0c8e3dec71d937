//! The protocol of the test services (ping/pong, fault injection).

use super::Protocol;
use serde::{Deserialize, Serialize};

pub struct TestProtocol;

impl Protocol for TestProtocol {
    const ID: u32 = 2;
    const VERSION: u32 = 1;
    type Request<'a> = TestRequest<'a>;
    type Reply<'a> = TestReply<'a>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestRequest<'a> {
    Ping {
        n: u64,
    },
    Echo {
        data: &'a [u8],
    },
    /// Reply `Echoed` with `len` copies of `byte` (a short request with a
    /// long reply).
    Fill {
        byte: u8,
        len: u16,
    },
    /// Signal the notification passed as the message's capability.
    SignalMe {
        bits: u64,
    },
    /// Fault in the way the server was started to (never answered).
    Crash,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestReply<'a> {
    Pong { n: u64 },
    Echoed { data: &'a [u8] },
    Signalled,
}
