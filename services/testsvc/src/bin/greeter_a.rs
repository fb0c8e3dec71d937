//! Implementation A of the `greeter` service.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::proto::greeter::{GreeterProtocol, GreeterReply, GreeterRequest};
use rt::sys;

rt::entry!(main);

fn main() -> u64 {
    let ep = sys::endpoint_create().expect("endpoint");
    let _ = rt::names::register("greeter", ep);
    rt::server::serve::<GreeterProtocol>(ep, |_, GreeterRequest::Greet, _, _| {
        Ok((
            GreeterReply::Greeting {
                text: "hello",
                implementation: "A",
            },
            None,
        ))
    })
}
