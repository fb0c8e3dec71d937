//! A trivial protocol with two implementations in the tree, to show that
//! a service is swapped by changing the initrd, not the kernel.

use super::Protocol;
use serde::{Deserialize, Serialize};

pub struct GreeterProtocol;

impl Protocol for GreeterProtocol {
    const ID: u32 = 3;
    const VERSION: u32 = 1;
    type Request<'a> = GreeterRequest;
    type Reply<'a> = GreeterReply<'a>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GreeterRequest {
    Greet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GreeterReply<'a> {
    Greeting {
        text: &'a str,
        implementation: &'a str,
    },
}
