//! Asks whatever `greeter` the initrd carries for a greeting, logs which
//! implementation answered, and shuts the system down.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::ipc::Message;
use ipc_abi::proto;
use ipc_abi::proto::greeter::{GreeterProtocol, GreeterReply, GreeterRequest};

rt::entry!(main);

fn main() -> u64 {
    let mut msg = Message::new();
    let code = match rt::names::connect_wait::<GreeterProtocol>("greeter", 200) {
        Ok(ep) => match proto::call::<GreeterProtocol>(ep, &mut msg, &GreeterRequest::Greet, &[]) {
            Ok(GreeterReply::Greeting {
                text,
                implementation,
            }) => {
                rt::println!("greeter {implementation} says: {text}");
                testsvc::event!("test.greeting implementation={implementation}");
                0
            }
            Err(e) => {
                rt::println!("greet failed: {e:?}");
                1
            }
        },
        Err(e) => {
            rt::println!("no greeter: {e:?}");
            1
        }
    };
    let _ = rt::names::shutdown(code);
    code
}
