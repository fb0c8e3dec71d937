//! A service that tries to take over another app's JIT session. It looks
//! up `jit` like any client, checks that its capability cannot receive
//! (which would let it take the JIT's requests), then asks the JIT to
//! compile until the app has loaded its program (answers turn from "no
//! program loaded" to a refusal), and tries to load a program of its own
//! over the app's. Each outcome is a `intruder.result` event; exit 0 when
//! every attempt was refused. Run it above the app's priority: once its
//! compile is refused it tries the load at once, before the app can end
//! and shut the system down (the app still needs the JIT for its next
//! function, and the JIT serves requests in order).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::ipc::Message;
use ipc_abi::proto::jit::{JitProtocol, JitReply, JitRequest};
use ipc_abi::proto::{CallError, ProtoError, call};
use ipc_abi::syscall::{SysError, SysErrorOrUnknown};
use rt::sys;

extern crate alloc;

rt::entry!(main);

/// How many "no program loaded" answers before giving up, a tick apart.
const MAX_POLLS: u32 = 10_000;

fn report(what: &str, refused: bool) -> bool {
    let _ = sys::log_event(&alloc::format!(
        "intruder.result what={what} refused={}",
        refused as u8
    ));
    refused
}

fn main() -> u64 {
    let Ok(jit) = rt::names::connect_wait::<JitProtocol>("jit", 10_000) else {
        rt::println!("intruder: no jit");
        return 2;
    };
    let mut ok = true;
    let mut msg = Message::new();
    let recv = sys::recv(jit, &mut msg, 1);
    ok &= report(
        "recv-on-jit-endpoint",
        recv == Err(SysErrorOrUnknown::Known(SysError::MissingRights)),
    );

    let compile = JitRequest::Compile {
        function: 0,
        level: 0,
        then: None,
        crash: None,
        profile: None,
    };
    let mut polls = 0;
    let compiled = loop {
        match call::<JitProtocol>(jit, &mut msg, &compile, &[]) {
            Ok(JitReply::Failed { .. }) if polls < MAX_POLLS => {
                polls += 1;
                sys::sleep(1);
            }
            other => break other,
        }
    };
    ok &= report(
        "compile-in-app-session",
        compiled == Err(CallError::Proto(ProtoError::Denied)),
    );

    let caps: [u64; 3] = core::array::from_fn(|_| sys::mem_create(1).expect("memory"));
    let load = JitRequest::Load {
        ir_len: 1,
        exports_len: 0,
        functions_len: 0,
        resolver: 0,
        resume: false,
        counters: false,
    };
    let loaded = call::<JitProtocol>(jit, &mut msg, &load, &caps);
    ok &= report(
        "load-over-app-session",
        loaded == Err(CallError::Proto(ProtoError::Denied)),
    );
    u64::from(!ok)
}
