//! The name service, run by the supervisor: services register endpoints
//! under names, clients look them up. Every task gets a capability to it in
//! slot [`NAME_SERVICE_SLOT`], badged with the task's identity.

use super::Protocol;
use serde::{Deserialize, Serialize};

/// Where every task finds the name service.
pub const NAME_SERVICE_SLOT: u64 = 0;
/// Longest name.
pub const NAME_MAX: usize = 32;

pub struct NamesProtocol;

impl Protocol for NamesProtocol {
    const ID: u32 = 1;
    const VERSION: u32 = 1;
    type Request<'a> = NamesRequest<'a>;
    type Reply<'a> = NamesReply;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamesRequest<'a> {
    /// Registers the endpoint in the message's first capability.
    Register { name: &'a str },
    /// Finds a name; the endpoint comes back as the reply's capability.
    Lookup { name: &'a str },
    /// Stops every service and the supervisor, which exits with `code`
    /// (needs the `shutdown` capability in the manifest).
    Shutdown { code: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamesReply {
    Registered,
    /// Another live service holds the name.
    Taken,
    Found,
    NotFound,
    ShuttingDown,
}
