//! The JIT service: registers `jit` with the name service and answers
//! `ipc_abi::proto::jit` requests. A request that fails (IR that does not
//! parse or verify, an unresolved symbol) gets LLVM's message back; the
//! server goes on.

use crate::llvm::Llvm;
use crate::orc;
use ipc_abi::cap::Rights;
use ipc_abi::ipc::Message;
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto::jit::*;
use ipc_abi::proto::{self, ClientFrame, ProtoError, ServerFrame, WireReply};
use rt::sys;
use std::time::Instant;

pub fn serve(llvm: &Llvm) -> ! {
    let ep = sys::endpoint_create().expect("endpoint");
    if let Err(e) = rt::names::register("jit", ep) {
        eprintln!("jit: cannot register: {e:?}");
        std::process::exit(2);
    }
    crate::native::log_event("jit.serving");
    let mut msg = Message::new();
    let mut reply = Message::new();
    let mut have_reply = false;
    loop {
        let r = if have_reply {
            msg = reply;
            sys::reply_recv(ep, &mut msg, 0)
        } else {
            sys::recv(ep, &mut msg, 0)
        };
        have_reply = r.is_ok();
        if !have_reply {
            continue;
        }
        let caps: Vec<u64> = msg.received_caps().iter().map(|&c| c as u64).collect();
        let answer = handle(llvm, &msg, &caps);
        for c in caps {
            let _ = sys::cap_drop(c);
        }
        let wire: WireReply<JitReply<'_>> = match &answer {
            Answer::Welcome => Ok(ServerFrame::Welcome { version: 1 }),
            Answer::Loaded(l, us) => Ok(ServerFrame::Reply(JitReply::Loaded {
                entry: l.entry,
                code_bytes: l.code_bytes,
                data_bytes: l.data_bytes,
                compile_us: *us,
            })),
            Answer::Failed(m) => Ok(ServerFrame::Reply(JitReply::Failed {
                message: m.as_str(),
            })),
            Answer::Error(e) => Err(*e),
        };
        reply = Message::new();
        if proto::encode(&mut reply, &wire, &[]).is_err() {
            let _ = proto::encode(
                &mut reply,
                &WireReply::<JitReply<'_>>::Err(ProtoError::Malformed),
                &[],
            );
        }
    }
}

enum Answer {
    Welcome,
    Loaded(orc::Linked, u64),
    Failed(String),
    Error(ProtoError),
}

fn handle(llvm: &Llvm, msg: &Message, caps: &[u64]) -> Answer {
    match proto::decode_request::<JitProtocol>(msg) {
        Err(e) => Answer::Error(e),
        Ok(ClientFrame::Hello { .. }) => Answer::Welcome,
        Ok(ClientFrame::Request(JitRequest::CrashIdle)) => crash("idle"),
        Ok(ClientFrame::Request(JitRequest::Load {
            ir_len,
            exports_len,
            level,
            crash: crash_at,
        })) => {
            let [package, code, data] = caps else {
                return Answer::Error(ProtoError::MissingCapability);
            };
            if level > 3 {
                return Answer::Error(ProtoError::Malformed);
            }
            let started = Instant::now();
            let result = load(
                llvm,
                (*package, *code, *data),
                ir_len,
                exports_len,
                level,
                crash_at,
            );
            if crash_at == Some(CrashPoint::BeforePublish) && result.is_ok() {
                crash("before-publish");
            }
            for base in [JIT_PACKAGE_BASE, APP_CODE_BASE, APP_DATA_BASE] {
                let _ = sys::mem_unmap(base);
            }
            match result {
                Ok(linked) => {
                    let us = started.elapsed().as_micros() as u64;
                    crate::native::log_event(&format!(
                        "jit.load level={level} code_bytes={} data_bytes={} guest_us={us}",
                        linked.code_bytes, linked.data_bytes
                    ));
                    Answer::Loaded(linked, us)
                }
                Err(m) => {
                    crate::native::log_event("jit.load_failed");
                    Answer::Failed(m)
                }
            }
        }
    }
}

/// Test only: dies the way a real bug would, with a fault the kernel
/// reports and the supervisor sees.
fn crash(point: &str) -> ! {
    crate::native::log_event(&format!("jit.crashing at={point}"));
    // SAFETY: not safe, on purpose: a write to address 0 kills this task.
    unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u64>(), 0) };
    unreachable!("the write to address 0 faulted")
}

fn load(
    llvm: &Llvm,
    caps: (u64, u64, u64),
    ir_len: u64,
    exports_len: u64,
    level: u8,
    crash_at: Option<CrashPoint>,
) -> Result<orc::Linked, String> {
    let rw = Rights::READ.union(Rights::WRITE);
    let pages = sys::mem_map(caps.0, JIT_PACKAGE_BASE, Rights::READ)
        .map_err(|e| format!("package: {e:?}"))?;
    let code_pages =
        sys::mem_map(caps.1, APP_CODE_BASE, rw).map_err(|e| format!("code region: {e:?}"))?;
    let data_pages =
        sys::mem_map(caps.2, APP_DATA_BASE, rw).map_err(|e| format!("data region: {e:?}"))?;
    let total = ir_len.checked_add(exports_len).ok_or("lengths overflow")?;
    if total > pages * PAGE_SIZE {
        return Err(format!(
            "package holds {} bytes, request says {total}",
            pages * PAGE_SIZE
        ));
    }
    // SAFETY: the package object was just mapped read-only at
    // JIT_PACKAGE_BASE with `pages` pages, and `total` fits inside; it
    // stays mapped until `handle` unmaps it after this function.
    let package =
        unsafe { std::slice::from_raw_parts(JIT_PACKAGE_BASE as *const u8, total as usize) };
    let (ir, table) = package.split_at(ir_len as usize);
    let exports: Vec<(String, u64)> = exports(table).map(|(n, a)| (n.to_string(), a)).collect();
    let during_compile = crash_at == Some(CrashPoint::DuringCompile);
    orc::link(
        llvm,
        ir,
        level,
        &exports,
        &mut || {
            if during_compile {
                crash("during-compile")
            }
        },
        (APP_CODE_BASE, code_pages * PAGE_SIZE),
        (APP_DATA_BASE, data_pages * PAGE_SIZE),
    )
}
