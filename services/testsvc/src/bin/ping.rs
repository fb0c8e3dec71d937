//! The IPC test driver: ping-pong, payloads, capability transfer, rights
//! and stale-slot refusals, W^X on memory objects (also across aliases),
//! protocol version checks and malformed messages. Each result is a
//! `test.check` event; then it shuts the system down.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::cap::Rights;
use ipc_abi::ipc::Message;
use ipc_abi::proto::test::{TestProtocol, TestReply, TestRequest};
use ipc_abi::proto::{self, CallError, ClientFrame, ProtoError, Protocol};
use ipc_abi::syscall::SysError;
use rt::sys::{self, err};
use testsvc::check;

rt::entry!(main);

fn main() -> u64 {
    let Ok(ep) = rt::names::connect_wait::<TestProtocol>("pong", 200) else {
        check("ipc.connect", false);
        return 1;
    };
    let mut msg = Message::new();
    let mut all = true;

    let mut n = 0;
    let mut ok = true;
    let before = sys::sys_info();
    for _ in 0..100 {
        match proto::call::<TestProtocol>(ep, &mut msg, &TestRequest::Ping { n }, &[]) {
            Ok(TestReply::Pong { n: m }) if m == n + 1 => n = m,
            _ => ok = false,
        }
    }
    all &= check("ipc.ping_pong_100", ok && n == 100);
    // Each round: this task's `Call` reaches pong waiting in `ReplyRecv`,
    // and pong's `ReplyRecv` answers with no other caller queued: both
    // take the kernel's fast path, and both messages (a few bytes, no
    // capabilities, so `CallShort` and `ReplyRecvShort`) go in registers.
    let after = sys::sys_info();
    let fast = after.ipc_fast_path - before.ipc_fast_path;
    let in_registers = after.ipc_in_registers - before.ipc_in_registers;
    all &= check("ipc.fast_path_took_the_ping_pong", fast >= 200);
    all &= check("ipc.ping_pong_went_in_registers", in_registers >= 200);
    // `CapInfo` on a live slot and on slots past the table: the kernel's
    // query fast path answers all of them, as the general path would.
    let before = sys::sys_info();
    let mut answers = true;
    for _ in 0..50 {
        answers &= matches!(sys::cap_info(ep), Ok((Some(ipc_abi::cap::ObjectKind::Endpoint), r)) if r.contains(Rights::SEND));
        answers &= sys::cap_info(200).err() == Some(err(SysError::InvalidCap));
        answers &= sys::cap_info(u64::MAX).err() == Some(err(SysError::InvalidCap));
    }
    let queries = sys::sys_info().query_fast_path - before.query_fast_path;
    all &= check("cap.info_answers", answers);
    all &= check("cap.info_took_the_query_fast_path", queries >= 100);
    // A short request whose reply is too long for registers: the reply
    // lands in the buffer.
    let filled =
        proto::call::<TestProtocol>(ep, &mut msg, &TestRequest::Fill { byte: 7, len: 300 }, &[]);
    all &= check(
        "ipc.short_call_long_reply",
        matches!(filled, Ok(TestReply::Echoed { data }) if data.len() == 300 && data.iter().all(|&b| b == 7)),
    );
    // Echoes of 0 to 24 bytes: messages on both sides of the 24-byte
    // edge of registers (the encoding adds a few bytes).
    let data: [u8; 24] = core::array::from_fn(|i| 0xa0 + i as u8);
    let mut edges = true;
    for len in 0..=data.len() {
        let echoed = proto::call::<TestProtocol>(
            ep,
            &mut msg,
            &TestRequest::Echo { data: &data[..len] },
            &[],
        );
        edges &= matches!(echoed, Ok(TestReply::Echoed { data: d }) if d == &data[..len]);
    }
    all &= check("ipc.short_echo_edges", edges);

    let payload: [u8; 256] = core::array::from_fn(|i| i as u8);
    let echoed =
        proto::call::<TestProtocol>(ep, &mut msg, &TestRequest::Echo { data: &payload }, &[]);
    all &= check(
        "ipc.echo_256",
        matches!(echoed, Ok(TestReply::Echoed { data }) if data == payload),
    );

    let note = sys::notification_create().expect("notification");
    let r = proto::call::<TestProtocol>(
        ep,
        &mut msg,
        &TestRequest::SignalMe { bits: 0b101 },
        &[note],
    );
    let got = sys::wait(note, 100);
    all &= check(
        "ipc.cap_transfer",
        r == Ok(TestReply::Signalled) && got == Ok(0b101),
    );

    let no_send = sys::cap_derive(ep, Rights::NONE).expect("derive");
    let r = proto::call::<TestProtocol>(no_send, &mut msg, &TestRequest::Ping { n: 1 }, &[]);
    all &= check(
        "cap.refused_without_send_right",
        r == Err(CallError::Sys(err(SysError::MissingRights))),
    );

    let no_grant = sys::cap_derive(ep, Rights::SEND).expect("derive");
    let r = proto::call::<TestProtocol>(
        no_grant,
        &mut msg,
        &TestRequest::SignalMe { bits: 1 },
        &[note],
    );
    all &= check(
        "cap.passing_caps_needs_grant",
        r == Err(CallError::Sys(err(SysError::MissingRights))),
    );
    let r = proto::call::<TestProtocol>(no_grant, &mut msg, &TestRequest::Ping { n: 1 }, &[]);
    all &= check(
        "cap.restricted_cap_still_sends",
        r == Ok(TestReply::Pong { n: 2 }),
    );

    let stale = sys::cap_derive(ep, Rights::SEND).expect("derive");
    sys::cap_drop(stale).expect("drop");
    let r =
        proto::call::<TestProtocol>(stale, &mut msg, &TestRequest::Ping { n: 1 }, &[]).map(drop);
    let empty =
        proto::call::<TestProtocol>(120, &mut msg, &TestRequest::Ping { n: 1 }, &[]).map(drop);
    let huge =
        proto::call::<TestProtocol>(u64::MAX, &mut msg, &TestRequest::Ping { n: 1 }, &[]).map(drop);
    all &= check(
        "cap.stale_and_empty_slots_refused",
        [r, empty, huge]
            .iter()
            .all(|r| *r == Err(CallError::Sys(err(SysError::InvalidCap)))),
    );
    let r = proto::call::<TestProtocol>(note, &mut msg, &TestRequest::Ping { n: 1 }, &[]);
    all &= check(
        "cap.wrong_kind_refused",
        r == Err(CallError::Sys(err(SysError::WrongKind))),
    );

    all &= wx_checks();

    let bad = proto::encode(
        &mut msg,
        &ClientFrame::<TestRequest<'_>>::Hello {
            protocol: TestProtocol::ID,
            version: 99,
        },
        &[],
    )
    .and_then(|()| proto::raw_call(ep, &mut msg))
    .and_then(|()| proto::decode_reply::<TestProtocol>(&msg).map(drop));
    all &= check(
        "proto.version_mismatch_refused",
        bad == Err(CallError::Proto(ProtoError::VersionMismatch {
            server: 1,
            client: 99,
        })),
    );

    msg.data[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    msg.len = 4;
    msg.ncaps = 0;
    let garbage = proto::raw_call(ep, &mut msg)
        .and_then(|()| proto::decode_reply::<TestProtocol>(&msg).map(drop));
    let after = proto::call::<TestProtocol>(ep, &mut msg, &TestRequest::Ping { n: 41 }, &[]);
    all &= check(
        "proto.malformed_gets_error_reply",
        garbage == Err(CallError::Proto(ProtoError::Malformed))
            && after == Ok(TestReply::Pong { n: 42 }),
    );

    let linux_write = sys::raw_call(1, 1, 0, 0, 0);
    all &= check(
        "abi.linux_numbers_refused_for_native_tasks",
        linux_write == Err(err(SysError::NoSuchSyscall)),
    );

    msg.len = 5000;
    let r = sys::call_raw(ep, &mut msg);
    all &= check(
        "ipc.oversized_message_refused",
        r == Err(err(SysError::MessageTooLong)),
    );

    testsvc::event!("test.done name=ipc ok={}", if all { "yes" } else { "no" });
    let _ = rt::names::shutdown(0);
    0
}

/// W^X: never writable and executable at once in one address space, not
/// even through two mappings of one object.
fn wx_checks() -> bool {
    const A: u64 = 0x200_0000_0000;
    const B: u64 = 0x200_1000_0000;
    let rw = Rights::READ.union(Rights::WRITE);
    let rx = Rights::READ.union(Rights::EXEC);
    let m = sys::mem_create(2).expect("memory object");
    let mut all = true;
    all &= check(
        "wx.rwx_mapping_refused",
        sys::mem_map(m, A, rw.union(Rights::EXEC)) == Err(err(SysError::WritableAndExecutable)),
    );
    all &= check("wx.rw_mapping_allowed", sys::mem_map(m, A, rw) == Ok(2));
    all &= check(
        "wx.rx_alias_of_rw_refused",
        sys::mem_map(m, B, rx) == Err(err(SysError::WritableAndExecutable)),
    );
    all &= check("wx.unmap", sys::mem_unmap(A).is_ok());
    all &= check("wx.rx_after_unmap_allowed", sys::mem_map(m, B, rx) == Ok(2));
    all &= check(
        "wx.rw_alias_of_rx_refused",
        sys::mem_map(m, A, rw) == Err(err(SysError::WritableAndExecutable)),
    );
    let ro = sys::cap_derive(m, Rights::READ).expect("derive");
    all &= check(
        "wx.rights_of_the_cap_bound_the_mapping",
        sys::mem_map(ro, 0x200_2000_0000, rw) == Err(err(SysError::MissingRights)),
    );
    all
}
