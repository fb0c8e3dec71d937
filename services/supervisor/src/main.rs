//! The supervisor, the first ring-3 task. It maps the initrd the kernel
//! gave it, reads the manifest, spawns every service with the capabilities
//! the manifest grants, runs the name service, and restarts services by
//! their policy. Every start, exit, restart and give-up is a structured
//! log event (`svc.*`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use initrd::manifest::{Capability, Personality, Service as Spec, StartPolicy};
use ipc_abi::cap::{Rights, Slot};
use ipc_abi::ipc::Message;
use ipc_abi::proto::names::{NamesProtocol, NamesReply, NamesRequest};
use ipc_abi::proto::{self, ClientFrame, ProtoError, ServerFrame, WireReply};
use ipc_abi::syscall::{self as abi, SpawnArgs, TICK_MS};
use rt::println;
use rt::sys::{self, Received};
use supervisor::policy::{self, Decision, Exit};
use supervisor::registry::{RegisterError, Registry};

rt::entry!(main);

/// Birth capabilities the kernel gives the supervisor.
const INITRD_SLOT: Slot = 0;
const IOPORTS_SLOT: Slot = 1;
const IRQ_SLOT: Slot = 2;
const DEVICE_MEMORY_SLOT: Slot = 3;
/// Where the initrd is mapped.
const INITRD_VADDR: u64 = 0x100_0000_0000;
/// Stack of a Linux-personality service (2 MiB; glibc and Rust `std`
/// expect more than a native service's 64 KiB).
const LINUX_STACK_PAGES: u64 = 512;
/// How often the loop wakes to check watchdogs.
const POLL_TICKS: u64 = 5;

struct Svc {
    spec: Spec,
    badge: u64,
    task: Option<Slot>,
    restarts: u32,
    /// Tick at which a pending restart is due.
    restart_at: Option<u64>,
    /// An `on-demand` service someone looked up: start it now.
    demanded: bool,
    /// It was demanded once (it starts on demand only once; after that
    /// its restart policy rules).
    asked: bool,
}

fn log(text: &str) {
    if sys::log_event(text).is_err() {
        println!("bad event: {text}");
    }
}

fn main() -> u64 {
    println!("supervisor: running in ring {}", sys::current_ring());
    let mapped = match rt::mem::map_read_only(INITRD_SLOT, INITRD_VADDR) {
        Ok(m) => m,
        Err(e) => {
            println!("cannot map the initrd: {e:?}");
            return 1;
        }
    };
    let image_bytes = initrd_bytes(mapped);
    let image = match initrd::Image::parse(image_bytes) {
        Ok(i) => i,
        Err(e) => {
            println!("initrd rejected: {e}");
            return 1;
        }
    };
    let manifest = match image.manifest() {
        Ok(m) => m,
        Err(e) => {
            println!("manifest rejected: {e}");
            return 1;
        }
    };
    let frames_at_start = sys::sys_info().frames_free;
    let (Ok(ep), Ok(deaths)) = (sys::endpoint_create(), sys::notification_create()) else {
        println!("cannot create the name service");
        return 1;
    };
    sys::notification_bind(deaths).expect("fresh notification");
    // Kernel heap in use once the supervisor's own objects exist: what
    // every service's life and death must leave as it was.
    let heap_at_start = sys::sys_info().heap_used;

    let mut services: Vec<Svc> = manifest
        .services
        .iter()
        .filter(|s| s.name != initrd::manifest::SUPERVISOR)
        .enumerate()
        .map(|(i, s)| Svc {
            spec: s.clone(),
            badge: i as u64 + 1,
            task: None,
            restarts: 0,
            restart_at: None,
            demanded: false,
            asked: false,
        })
        .collect();
    // Events, not lines: they would fall between the services' output.
    log(&format!("sup.starting services={}", services.len()));
    // A `shutdown_on_exit` service that ended for good: its status and name.
    let mut ending: Option<(u64, String)> = None;
    for s in services.iter_mut() {
        if s.spec.start == StartPolicy::Boot {
            start(&image, s, deaths, ep, &mut ending);
        }
    }

    let mut names = Registry::default();
    // A service's own name is its alone: no other service can register it,
    // not even while the service is dead and waiting to restart.
    for s in &services {
        names.reserve(&s.spec.name, s.badge);
    }
    let mut msg = Message::new();
    let mut have_reply = false;
    let mut exit_code = 0;
    let mut minted: Option<u64> = None;
    loop {
        let now = sys::sys_info().ticks;
        for s in services.iter_mut() {
            if core::mem::take(&mut s.demanded) {
                start(&image, s, deaths, ep, &mut ending);
            }
            if s.restart_at.is_some_and(|t| t <= now) {
                s.restart_at = None;
                s.restarts += 1;
                start(&image, s, deaths, ep, &mut ending);
            }
        }
        if let Some((code, name)) = ending.take() {
            log(&format!(
                "sup.shutdown code={code} cause=service-ended service={name}"
            ));
            stop_all(&mut services, &mut names);
            exit_code = code;
        }
        watchdog(&mut services);
        if services
            .iter()
            .all(|s| s.task.is_none() && s.restart_at.is_none())
        {
            if have_reply {
                let _ = sys::reply(&msg);
            }
            if let Some(m) = minted.take() {
                let _ = sys::cap_drop(m);
            }
            break;
        }
        let r = if have_reply {
            sys::reply_recv(ep, &mut msg, POLL_TICKS)
        } else {
            sys::recv(ep, &mut msg, POLL_TICKS)
        };
        have_reply = false;
        // A capability minted for the last reply has been copied into
        // the caller by now.
        if let Some(m) = minted.take() {
            let _ = sys::cap_drop(m);
        }
        match r {
            Ok(Received::Message) => {
                match serve(&mut msg, &mut services, &mut names, &mut minted) {
                    Served::Reply => have_reply = true,
                    Served::Shutdown(code, by) => {
                        let _ = sys::reply(&msg);
                        log(&format!(
                            "sup.shutdown code={code} cause=request service={by}"
                        ));
                        stop_all(&mut services, &mut names);
                        exit_code = code;
                    }
                }
            }
            Ok(Received::Notification) => {
                if let Some(end) = reap(&mut services, &mut names, false) {
                    ending = ending.or(Some(end));
                }
            }
            Err(_) => {}
        }
    }
    let end = sys::sys_info();
    log(&format!(
        "sup.frames start={frames_at_start} end={} heap_start={heap_at_start} heap_end={}",
        end.frames_free, end.heap_used
    ));
    log(&format!("sup.exit code={exit_code}"));
    exit_code
}

/// The initrd's own bytes within its (page-rounded) mapping.
fn initrd_bytes(mapped: &'static [u8]) -> &'static [u8] {
    let total = mapped
        .get(initrd::format::OFF_TOTAL_LEN..initrd::format::OFF_TOTAL_LEN + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    mapped.get(..total as usize).unwrap_or(mapped)
}

/// Kills every service (none restarts) and collects their deaths.
fn stop_all(services: &mut [Svc], names: &mut Registry) {
    for s in services.iter_mut() {
        s.restart_at = None;
        if let Some(t) = s.task {
            let _ = sys::task_kill(t);
        }
    }
    let _ = reap(services, names, true);
}

/// Starts a service; a `shutdown_on_exit` one that cannot be started
/// ends the system (`ending`).
fn start(
    image: &initrd::Image<'_>,
    s: &mut Svc,
    deaths: Slot,
    name_service: Slot,
    ending: &mut Option<(u64, String)>,
) {
    spawn_service(image, s, deaths, name_service);
    if s.task.is_none() && s.spec.shutdown_on_exit && ending.is_none() {
        *ending = Some((Exit::NotStarted.status(), s.spec.name.clone()));
    }
}

fn spawn_service(image: &initrd::Image<'_>, s: &mut Svc, deaths: Slot, name_service: Slot) {
    let name = s.spec.name.as_str();
    let Some(file) = image.find(s.spec.file()) else {
        log(&format!(
            "svc.error name={name} msg=\"file {} missing\"",
            s.spec.file()
        ));
        return;
    };
    let mut args = String::new();
    for a in &s.spec.args {
        args.push_str(a);
        args.push('\0');
    }
    let spawn = SpawnArgs {
        image_slot: INITRD_SLOT,
        image_offset: file.offset as u64,
        image_len: file.data.len() as u64,
        name_ptr: name.as_ptr() as u64,
        name_len: name.len() as u64,
        args_ptr: args.as_ptr() as u64,
        args_len: args.len() as u64,
        death_slot: deaths,
        death_bits: 1 << (s.badge % 64),
        priority: s.spec.priority as u64,
        flags: match s.spec.personality {
            Personality::Linux => abi::SPAWN_LINUX,
            Personality::Native => 0,
        },
        stack_pages: match s.spec.personality {
            Personality::Linux => LINUX_STACK_PAGES,
            Personality::Native => 0,
        },
    };
    let task = match sys::task_spawn(&spawn) {
        Ok(t) => t,
        Err(e) => {
            log(&format!(
                "svc.error name={name} msg=\"spawn failed: {e:?}\""
            ));
            return;
        }
    };
    if let Err(e) = grant_birth_caps(task, s, name_service) {
        log(&format!(
            "svc.error name={name} msg=\"grant failed: {e:?}\""
        ));
        let _ = sys::task_kill(task);
        let _ = sys::cap_drop(task);
        return;
    }
    if let Err(e) = sys::task_start(task) {
        log(&format!(
            "svc.error name={name} msg=\"start failed: {e:?}\""
        ));
        let _ = sys::cap_drop(task);
        return;
    }
    s.task = Some(task);
    log(&format!("svc.start name={name} attempt={}", s.restarts + 1));
}

/// Slot 0: the name service, badged with the service's identity; then
/// what the manifest grants, in its order, each narrowed to exactly the
/// ports or line named.
fn grant_birth_caps(task: Slot, s: &Svc, name_service: Slot) -> sys::SysResult<()> {
    let minted = sys::cap_mint(name_service, s.badge)?;
    let client = sys::cap_derive(minted, Rights::SEND.union(Rights::GRANT));
    let _ = sys::cap_drop(minted);
    let client = client?;
    let granted = sys::task_grant(task, client);
    let _ = sys::cap_drop(client);
    granted?;
    for c in s
        .spec
        .capabilities
        .iter()
        .filter_map(|c| Capability::parse(c))
    {
        let (from, base, len) = match c {
            Capability::IoPorts { base, len } => (IOPORTS_SLOT, base as u64, len as u64),
            Capability::Irq { line } => (IRQ_SLOT, line as u64, 1),
            Capability::DeviceMemory => {
                let dm = sys::cap_derive(DEVICE_MEMORY_SLOT, Rights::ALL)?;
                let granted = sys::task_grant(task, dm);
                let _ = sys::cap_drop(dm);
                granted?;
                continue;
            }
            Capability::Shutdown => continue,
            Capability::Initrd => {
                let ro = sys::cap_derive(INITRD_SLOT, Rights::READ.union(Rights::GRANT))?;
                let granted = sys::task_grant(task, ro);
                let _ = sys::cap_drop(ro);
                granted?;
                continue;
            }
        };
        let narrow = sys::cap_narrow(from, base, len)?;
        let granted = sys::task_grant(task, narrow);
        let _ = sys::cap_drop(narrow);
        granted?;
    }
    Ok(())
}

/// Collects dead services, logs how they ended, and applies their policy.
/// Collects dead services and applies their restart policy; returns the
/// status and name of a `shutdown_on_exit` service that ended for good.
fn reap(services: &mut [Svc], names: &mut Registry, shutting_down: bool) -> Option<(u64, String)> {
    let mut ended = None;
    let now = sys::sys_info().ticks;
    for s in services.iter_mut() {
        let Some(task) = s.task else { continue };
        let Ok(st) = sys::task_status(task) else {
            continue;
        };
        if st.state != abi::TASK_DEAD {
            continue;
        }
        let _ = sys::cap_drop(task);
        s.task = None;
        for e in names.remove_owner(s.badge) {
            let _ = sys::cap_drop(e.slot);
        }
        let name = s.spec.name.as_str();
        let exit = match st.exit_kind {
            abi::EXIT_CODE => {
                log(&format!(
                    "svc.exit name={name} reason=exit code={}",
                    st.code
                ));
                Exit::Code(st.code)
            }
            abi::EXIT_FAULT => {
                log(&format!(
                    "svc.exit name={name} reason=fault vector={} addr={:#x} rip={:#x}",
                    st.vector, st.fault_addr, st.fault_rip
                ));
                Exit::Fault { vector: st.vector }
            }
            abi::EXIT_SIGNAL => {
                log(&format!(
                    "svc.exit name={name} reason=signal signal={}",
                    st.code
                ));
                Exit::Signal(st.code)
            }
            _ => {
                log(&format!("svc.exit name={name} reason=killed"));
                Exit::Killed
            }
        };
        if shutting_down {
            continue;
        }
        let decision = policy::decide(
            s.spec.restart,
            exit,
            s.restarts,
            s.spec.max_restarts,
            s.spec.backoff_ms,
        );
        if policy::ends_system(s.spec.shutdown_on_exit, decision) && ended.is_none() {
            ended = Some((exit.status(), s.spec.name.clone()));
        }
        match decision {
            Decision::Restart { after_ms } => {
                let ticks = (after_ms as u64).div_ceil(TICK_MS).max(1);
                s.restart_at = Some(now + ticks);
                log(&format!(
                    "svc.restart name={name} attempt={} after_ms={after_ms}",
                    s.restarts + 2
                ));
            }
            Decision::GiveUp { restarts } => log(&format!(
                "svc.give_up name={name} restarts={restarts} msg=\"restart budget of {} used up\"",
                s.spec.max_restarts
            )),
            Decision::Done => {}
        }
    }
    ended
}

/// Kills services that ran longer than their watchdog without blocking.
fn watchdog(services: &mut [Svc]) {
    for s in services.iter() {
        let (Some(limit), Some(task)) = (s.spec.watchdog_ms, s.task) else {
            continue;
        };
        let Ok(st) = sys::task_status(task) else {
            continue;
        };
        let ran_ms = st.running_ticks * TICK_MS;
        if st.state == abi::TASK_ALIVE && ran_ms > limit as u64 {
            log(&format!(
                "svc.watchdog name={} ran_ms={ran_ms} limit_ms={limit}",
                s.spec.name
            ));
            let _ = sys::task_kill(task);
        }
    }
}

enum Served {
    Reply,
    /// Asked by the service named.
    Shutdown(u64, String),
}

/// The capability a client gets for a looked-up endpoint: badged with
/// the client's identity (unless its server registered it badged), so the
/// server can tell its clients apart, and with SEND and GRANT only: a
/// client that could receive on it would take the server's messages.
fn client_cap(slot: u64, badge: u64) -> Option<u64> {
    let badged = sys::cap_mint(slot, badge).ok();
    let narrowed = sys::cap_derive(badged.unwrap_or(slot), Rights::SEND.union(Rights::GRANT));
    if let Some(b) = badged {
        let _ = sys::cap_drop(b);
    }
    narrowed.ok()
}

/// Answers one name-service message, leaving the reply in `msg`.
fn serve(
    msg: &mut Message,
    services: &mut [Svc],
    names: &mut Registry,
    minted_out: &mut Option<u64>,
) -> Served {
    let badge = msg.badge;
    let caps: Vec<u32> = msg.received_caps().to_vec();
    let caller = services.iter().find(|s| s.badge == badge);
    let caller_name = String::from(caller.map_or("?", |s| s.spec.name.as_str()));
    let caller_name = caller_name.as_str();
    let may_shutdown = caller.is_some_and(|s| {
        s.spec
            .capabilities
            .iter()
            .any(|c| Capability::parse(c) == Some(Capability::Shutdown))
    });
    let mut reply_cap = None;
    let mut shutdown = None;
    let answer: WireReply<NamesReply> = match proto::decode_request::<NamesProtocol>(msg) {
        Err(e) => Err(e),
        Ok(ClientFrame::Hello { .. }) => Ok(ServerFrame::Welcome {
            version: <NamesProtocol as proto::Protocol>::VERSION,
        }),
        Ok(ClientFrame::Request(NamesRequest::Register { name })) => match caps.first() {
            None => Err(ProtoError::MissingCapability),
            Some(&slot) => match names.register(name, badge, slot as u64) {
                Ok(old) => {
                    if let Some(old) = old {
                        let _ = sys::cap_drop(old);
                    }
                    log(&format!("svc.register name={name} by={caller_name}"));
                    Ok(ServerFrame::Reply(NamesReply::Registered))
                }
                Err(RegisterError::Taken) => Ok(ServerFrame::Reply(NamesReply::Taken)),
                Err(RegisterError::BadName) => Err(ProtoError::Malformed),
            },
        },
        Ok(ClientFrame::Request(NamesRequest::Lookup { name })) => match names.lookup(name) {
            Some(slot) => match client_cap(slot, badge) {
                Some(c) => {
                    reply_cap = Some(c);
                    *minted_out = Some(c);
                    Ok(ServerFrame::Reply(NamesReply::Found))
                }
                // The supervisor's own table is full: say so as a refusal
                // rather than hand out the server's receiving capability.
                None => Err(ProtoError::Denied),
            },
            None => {
                // An on-demand service nobody started yet: start it; the
                // caller retries until it has registered.
                if let Some(s) = services.iter_mut().find(|s| {
                    s.spec.name == name && s.spec.start == StartPolicy::OnDemand && !s.asked
                }) {
                    s.demanded = true;
                    s.asked = true;
                    log(&format!("svc.demand name={name} by={caller_name}"));
                }
                Ok(ServerFrame::Reply(NamesReply::NotFound))
            }
        },
        Ok(ClientFrame::Request(NamesRequest::Shutdown { code })) => {
            if may_shutdown {
                shutdown = Some(code);
                Ok(ServerFrame::Reply(NamesReply::ShuttingDown))
            } else {
                Err(ProtoError::Denied)
            }
        }
    };
    // Capabilities that came with a request we did not keep are dropped.
    let kept = matches!(answer, Ok(ServerFrame::Reply(NamesReply::Registered)));
    for (i, &c) in caps.iter().enumerate() {
        if !(kept && i == 0) {
            let _ = sys::cap_drop(c as u64);
        }
    }
    let caps_out: &[Slot] = match &reply_cap {
        Some(c) => core::slice::from_ref(c),
        None => &[],
    };
    if proto::encode(msg, &answer, caps_out).is_err() {
        let _ = proto::encode(
            msg,
            &WireReply::<NamesReply>::Err(ProtoError::Malformed),
            &[],
        );
    }
    match shutdown {
        Some(code) => Served::Shutdown(code, caller_name.into()),
        None => Served::Reply,
    }
}
