//! The JIT service: registers `jit` with the name service and answers
//! `ipc_abi::proto::jit` requests. A request that fails (IR that does not
//! parse or verify, an unresolved symbol) gets LLVM's message back; the
//! server goes on.
//!
//! It serves one app at a time and keeps that app's code and data regions
//! mapped, so that after replying to a `Load` it can compile a higher tier
//! while the app runs and publish each function with one atomic store into
//! its dispatch slot.

use crate::llvm::Llvm;
use crate::orc;
use ipc_abi::cap::Rights;
use ipc_abi::ipc::Message;
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto::jit::*;
use ipc_abi::proto::{self, ClientFrame, ProtoError, ServerFrame, WireReply};
use rt::sys;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The app being served.
struct App {
    regions: orc::Regions,
    ir: Vec<u8>,
    exports: Vec<(String, u64)>,
    globals: Vec<(String, u64)>,
}

pub fn serve(llvm: &Llvm) -> ! {
    let ep = sys::endpoint_create().expect("endpoint");
    if let Err(e) = rt::names::register("jit", ep) {
        eprintln!("jit: cannot register: {e:?}");
        std::process::exit(2);
    }
    crate::native::log_event("jit.serving");
    let mut msg = Message::new();
    let mut app: Option<App> = None;
    loop {
        if sys::recv(ep, &mut msg, 0).is_err() {
            continue;
        }
        let caps: Vec<u64> = msg.received_caps().iter().map(|&c| c as u64).collect();
        let (answer, tier_up) = handle(llvm, &msg, &caps, &mut app);
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
        let mut reply = Message::new();
        if proto::encode(&mut reply, &wire, &[]).is_err() {
            let _ = proto::encode(
                &mut reply,
                &WireReply::<JitReply<'_>>::Err(ProtoError::Malformed),
                &[],
            );
        }
        let _ = sys::reply(&reply);
        if let (Some(level), Some(app)) = (tier_up, app.as_mut()) {
            tier_up_all(llvm, app, level);
        }
    }
}

enum Answer {
    Welcome,
    Loaded(orc::Linked, u64),
    Failed(String),
    Error(ProtoError),
}

/// Stores `address` into dispatch slot `index`: the one write that makes
/// new code visible to the app.
fn publish(index: usize, address: u64) {
    let slot = (APP_DATA_BASE + 8 * index as u64) as *const AtomicU64;
    // SAFETY: the data region is mapped read-write here while the app is
    // served, slots are 8-byte aligned and lie in its first
    // APP_SLOT_BYTES; the app only ever loads them.
    unsafe { (*slot).store(address, Ordering::Release) };
}

fn tier_up_all(llvm: &Llvm, app: &mut App, level: u8) {
    let started = Instant::now();
    let linked = orc::link(
        llvm,
        &app.ir,
        level,
        &app.exports,
        &mut || {},
        &mut app.regions,
        Some(&app.globals),
    );
    match linked {
        Ok(l) => {
            for (i, (_, address)) in l.functions.iter().enumerate() {
                publish(i, *address);
            }
            crate::native::log_event(&format!(
                "jit.publish level={level} functions={} code_bytes={} guest_us={}",
                l.functions.len(),
                l.code_bytes,
                started.elapsed().as_micros()
            ));
        }
        Err(_) => crate::native::log_event("jit.tier_up_failed"),
    }
}

fn handle(llvm: &Llvm, msg: &Message, caps: &[u64], app: &mut Option<App>) -> (Answer, Option<u8>) {
    match proto::decode_request::<JitProtocol>(msg) {
        Err(e) => (Answer::Error(e), None),
        Ok(ClientFrame::Hello { .. }) => (Answer::Welcome, None),
        Ok(ClientFrame::Request(JitRequest::CrashIdle)) => crash("idle"),
        Ok(ClientFrame::Request(JitRequest::Load {
            ir_len,
            exports_len,
            level,
            crash: crash_at,
            tier_up,
        })) => {
            let [package, code, data] = caps else {
                return (Answer::Error(ProtoError::MissingCapability), None);
            };
            if level > 3 || tier_up.is_some_and(|t| t > 3) {
                return (Answer::Error(ProtoError::Malformed), None);
            }
            // A new app (or a reload) replaces the one served before.
            *app = None;
            for base in [JIT_PACKAGE_BASE, APP_CODE_BASE, APP_DATA_BASE] {
                let _ = sys::mem_unmap(base);
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
            let _ = sys::mem_unmap(JIT_PACKAGE_BASE);
            match result {
                Ok((linked, served)) => {
                    if crash_at == Some(CrashPoint::BeforePublish) {
                        crash("before-publish");
                    }
                    for (i, (_, address)) in linked.functions.iter().enumerate() {
                        publish(i, *address);
                    }
                    let us = started.elapsed().as_micros() as u64;
                    crate::native::log_event(&format!(
                        "jit.load level={level} functions={} code_bytes={} data_bytes={} guest_us={us}",
                        linked.functions.len(),
                        linked.code_bytes,
                        linked.data_bytes
                    ));
                    *app = Some(served);
                    (Answer::Loaded(linked, us), tier_up)
                }
                Err(m) => {
                    crate::native::log_event("jit.load_failed");
                    (Answer::Failed(m), None)
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
) -> Result<(orc::Linked, App), String> {
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
    let mut regions = orc::Regions::new(
        (APP_CODE_BASE, code_pages * PAGE_SIZE),
        (APP_DATA_BASE, data_pages * PAGE_SIZE),
    );
    let during_compile = crash_at == Some(CrashPoint::DuringCompile);
    let linked = orc::link(
        llvm,
        ir,
        level,
        &exports,
        &mut || {
            if during_compile {
                crash("during-compile")
            }
        },
        &mut regions,
        None,
    )?;
    let globals = linked.globals.clone();
    Ok((
        linked,
        App {
            regions,
            ir: ir.to_vec(),
            exports,
            globals,
        },
    ))
}
