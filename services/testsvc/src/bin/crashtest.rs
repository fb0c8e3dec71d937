//! The fault-isolation driver: for each `crashy` service named in its
//! arguments, checks that it answers, makes it crash while we are blocked
//! in `call` (we must get `PeerDied`), then reaches the restarted instance
//! by name and checks that it answers again.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::ipc::Message;
use ipc_abi::proto;
use ipc_abi::proto::test::{TestProtocol, TestReply, TestRequest};
use rt::sys;
use testsvc::check;

rt::entry!(main);

fn main() -> u64 {
    let mut all = true;
    for name in rt::args() {
        all &= one(name);
    }
    testsvc::event!("test.done name=crash ok={}", if all { "yes" } else { "no" });
    let _ = rt::names::shutdown(0);
    0
}

fn ping(ep: u64, msg: &mut Message, n: u64) -> bool {
    proto::call::<TestProtocol>(ep, msg, &TestRequest::Ping { n }, &[])
        == Ok(TestReply::Pong { n: n + 1 })
}

fn one(name: &str) -> bool {
    let mut msg = Message::new();
    let Ok(ep) = rt::names::connect_wait::<TestProtocol>(name, 300) else {
        return check(name, false);
    };
    let before = ping(ep, &mut msg, 1);
    let crash = proto::call::<TestProtocol>(ep, &mut msg, &TestRequest::Crash, &[]).map(drop);
    let peer_died = matches!(crash, Err(e) if e.is_peer_died());
    let _ = sys::cap_drop(ep);
    let again = match rt::names::connect_wait::<TestProtocol>(name, 500) {
        Ok(ep2) => ping(ep2, &mut msg, 7),
        Err(_) => false,
    };
    testsvc::event!(
        "test.crash name={name} answered_before={} peer_died={} answered_after_restart={}",
        yn(before),
        yn(peer_died),
        yn(again)
    );
    if !peer_died {
        rt::println!("{name}: crash call returned {crash:?}");
    }
    before && peer_died && again
}

fn yn(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
