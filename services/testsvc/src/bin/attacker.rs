//! Native reproductions of the kernel-isolation issue, each a `test.check`
//! that fails without its fix. Slot 1 is a two-port I/O capability
//! (`ioports:0x70-0x71`), slot 2 the initrd (to spawn `victim`s), slot 3
//! device memory (to try to reach RAM and the kernel's devices with it).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::cap::Rights;
use ipc_abi::cap::Slot;
use ipc_abi::ipc::Message;
use ipc_abi::syscall::{EXIT_CODE, SpawnArgs, Sys, SysError, SysErrorOrUnknown};
use rt::sys;
use testsvc::check;

rt::entry!(main);

const PORTS: Slot = 1;
const INITRD: Slot = 2;
const DEVICE: Slot = 3;
const INITRD_VADDR: u64 = 0x100_0000_0000;

fn err(e: SysError) -> SysErrorOrUnknown {
    SysErrorOrUnknown::Known(e)
}

fn main() -> u64 {
    let Some(victim) = find_victim() else {
        rt::println!("attacker: no victim in the initrd");
        return 2;
    };
    let mut all = true;
    all &= io_range_overflow();
    all &= priority_ceiling(victim);
    all &= caps_in_messages_need_grant(victim);
    all &= an_abandoned_caller_is_answered(victim);
    all &= a_second_binding_replaces_the_first();
    all &= unstarted_tasks_are_reclaimed(victim);
    all &= mappings_are_bounded();
    all &= a_service_name_cannot_be_squatted();
    all &= lookups_never_hand_out_receive_rights();
    all &= device_memory_never_reaches_ram();
    testsvc::event!("attack.done ok={}", if all { "yes" } else { "no" });
    0
}

fn find_victim() -> Option<(u64, u64)> {
    testsvc::initrd_file(INITRD, INITRD_VADDR, "victim")
}

fn spawn(victim: (u64, u64), kind: &str, priority: u64) -> Result<Slot, SysErrorOrUnknown> {
    sys::task_spawn(&SpawnArgs {
        priority,
        ..testsvc::victim_spawn_args(INITRD, victim, kind)
    })
}

/// A port near 2^64 once wrapped past the capability's range check.
fn io_range_overflow() -> bool {
    let r = sys::raw_call(Sys::IoRead as u64, PORTS, u64::MAX - 3, 4, 0);
    check(
        "isolation.io_port_overflow_refused",
        r == Err(err(SysError::InvalidArgument)),
    )
}

/// A task spawns only at or below its own priority (it runs at 1).
fn priority_ceiling(victim: (u64, u64)) -> bool {
    let above = spawn(victim, "exit", 3);
    let at = spawn(victim, "exit", 1);
    let ok = above == Err(err(SysError::InvalidArgument)) && at.is_ok();
    if let Ok(t) = at {
        let _ = sys::cap_drop(t);
    }
    check("isolation.spawn_above_own_priority_refused", ok)
}

/// Sends and replies may pass only capabilities that carry GRANT.
fn caps_in_messages_need_grant(victim: (u64, u64)) -> bool {
    let ep = sys::endpoint_create().expect("endpoint");
    let ep2 = sys::endpoint_create().expect("endpoint");
    let no_grant = sys::cap_derive(ep2, Rights::SEND).expect("derive");
    // Nobody can receive on `dead_end`: a call that passes the checks
    // fails with PeerDied instead of blocking.
    let dead = sys::endpoint_create().expect("endpoint");
    let dead_end = sys::cap_derive(dead, Rights::SEND.union(Rights::GRANT)).expect("derive");
    let _ = sys::cap_drop(dead);
    let mut msg = Message::new();
    msg.caps[0] = no_grant as u32;
    msg.ncaps = 1;
    let send = sys::call_raw(dead_end, &mut msg);
    let mut ok = check(
        "isolation.send_of_a_cap_without_grant_refused",
        send == Err(err(SysError::MissingRights)),
    );
    // A reply too: the victim calls, the first reply passes a cap without
    // GRANT (refused, the caller still waits), the second a good one.
    let task = spawn(victim, "call", 1).expect("spawn");
    let parent = sys::cap_derive(ep, Rights::SEND.union(Rights::GRANT)).expect("derive");
    let _ = sys::task_grant(task, parent);
    let _ = sys::cap_drop(parent);
    let _ = sys::task_start(task);
    let mut got = Message::new();
    let received = sys::recv(ep, &mut got, 200).is_ok();
    for &c in got.received_caps() {
        let _ = sys::cap_drop(c as u64);
    }
    let mut bad = Message::new();
    bad.caps[0] = no_grant as u32;
    bad.ncaps = 1;
    let refused = sys::reply(&bad) == Err(err(SysError::MissingRights));
    let answered = sys::reply(&Message::new()).is_ok();
    ok &= check(
        "isolation.reply_of_a_cap_without_grant_refused",
        received && refused && answered && exit_code(task) == Some(0),
    );
    for s in [ep, ep2, no_grant, dead_end, task] {
        let _ = sys::cap_drop(s);
    }
    ok
}

/// Waits for a task to end; its exit code.
fn exit_code(task: Slot) -> Option<u64> {
    for _ in 0..200 {
        if let Ok(s) = sys::task_status(task)
            && s.state == ipc_abi::syscall::TASK_DEAD
        {
            return (s.exit_kind == EXIT_CODE).then_some(s.code);
        }
        sys::sleep(1);
    }
    None
}

/// A server that receives again without answering its caller fails that
/// caller (it used to wait forever, even after the server died).
fn an_abandoned_caller_is_answered(victim: (u64, u64)) -> bool {
    let ep = sys::endpoint_create().expect("endpoint");
    let mut tasks = [0; 2];
    for t in tasks.iter_mut() {
        *t = spawn(victim, "call-wait", 1).expect("spawn");
        let parent = sys::cap_derive(ep, Rights::SEND.union(Rights::GRANT)).expect("derive");
        let _ = sys::task_grant(*t, parent);
        let _ = sys::cap_drop(parent);
        let _ = sys::task_start(*t);
    }
    let mut msg = Message::new();
    let mut ok = true;
    for _ in 0..2 {
        ok &= sys::recv(ep, &mut msg, 200).is_ok();
        for &c in msg.received_caps() {
            let _ = sys::cap_drop(c as u64);
        }
    }
    // The first caller was abandoned by the second Recv: it gets an error
    // (exits 1); the second gets its answer (exits 0).
    ok &= sys::reply(&Message::new()).is_ok();
    let codes = [exit_code(tasks[0]), exit_code(tasks[1])];
    for s in [ep, tasks[0], tasks[1]] {
        let _ = sys::cap_drop(s);
    }
    // Which of the two called first depends on the timer; one of each.
    check(
        "isolation.abandoned_caller_fails_instead_of_waiting",
        ok && codes.contains(&Some(0)) && codes.contains(&Some(1)),
    )
}

/// Binding a second notification lets go of the first.
fn a_second_binding_replaces_the_first() -> bool {
    let (n1, n2) = (
        sys::notification_create().expect("n"),
        sys::notification_create().expect("n"),
    );
    let ep = sys::endpoint_create().expect("endpoint");
    let bound = sys::notification_bind(n1).is_ok() && sys::notification_bind(n2).is_ok();
    let _ = sys::signal(n1, 1);
    let mut msg = Message::new();
    let first_is_unbound = sys::recv(ep, &mut msg, 3) == Err(err(SysError::TimedOut));
    let _ = sys::signal(n2, 2);
    let second_is_bound = sys::recv(ep, &mut msg, 3) == Ok(sys::Received::Notification);
    for s in [n1, n2, ep] {
        let _ = sys::cap_drop(s);
    }
    check(
        "isolation.second_binding_replaces_the_first",
        bound && first_is_unbound && second_is_bound,
    )
}

/// Spawned and dropped without a start, 2,000 times: each is reclaimed.
fn unstarted_tasks_are_reclaimed(victim: (u64, u64)) -> bool {
    let before = sys::sys_info();
    let mut ok = true;
    for _ in 0..2000 {
        match spawn(victim, "exit", 1) {
            Ok(t) => ok &= sys::cap_drop(t).is_ok(),
            Err(_) => ok = false,
        }
    }
    let after = sys::sys_info();
    check(
        "isolation.unstarted_tasks_reclaimed",
        ok && before.frames_free == after.frames_free && before.tasks == after.tasks,
    )
}

/// Mapping one object many times ends in OutOfMemory, not a kernel panic.
fn mappings_are_bounded() -> bool {
    let m = sys::mem_create(1).expect("object");
    let base = 0x300_0000_0000u64;
    let mut mapped = 0u64;
    let mut refused = false;
    for i in 0..1000u64 {
        match sys::mem_map(m, base + i * 0x2000, Rights::READ) {
            Ok(_) => mapped += 1,
            Err(e) => {
                refused = e == err(SysError::OutOfMemory);
                break;
            }
        }
    }
    for i in 0..mapped {
        let _ = sys::mem_unmap(base + i * 0x2000);
    }
    let _ = sys::cap_drop(m);
    check(
        "isolation.mappings_bounded",
        refused && mapped as usize == ipc_abi::syscall::MAX_MAPPINGS - 1,
    )
}

/// `jit` is a manifest service's name: nobody else may register it, even
/// while that service is not running.
/// A server that registers its endpoint with every right (raw, not
/// through `rt::names::register`, which narrows it) still hands its
/// clients only SEND and GRANT: the supervisor narrows what `Lookup`
/// gives out.
fn lookups_never_hand_out_receive_rights() -> bool {
    use ipc_abi::proto::names::{NAME_SERVICE_SLOT, NamesProtocol, NamesReply, NamesRequest};
    let ep = sys::endpoint_create().expect("endpoint");
    let mut msg = Message::new();
    let registered = ipc_abi::proto::call::<NamesProtocol>(
        NAME_SERVICE_SLOT,
        &mut msg,
        &NamesRequest::Register { name: "attacker" },
        &[ep],
    );
    let ok = matches!(registered, Ok(NamesReply::Registered))
        && match rt::names::lookup("attacker") {
            Ok(Some(client)) => {
                let rights = sys::cap_info(client).map(|(_, r)| r);
                let _ = sys::cap_drop(client);
                rights.is_ok_and(|r| {
                    !r.contains(Rights::RECV) && r.contains(Rights::SEND.union(Rights::GRANT))
                })
            }
            _ => false,
        };
    let _ = sys::cap_drop(ep);
    check("isolation.lookup_gives_no_receive_right", ok)
}

fn a_service_name_cannot_be_squatted() -> bool {
    let ep = sys::endpoint_create().expect("endpoint");
    sys::sleep(5);
    let r = rt::names::register("jit", ep);
    let _ = sys::cap_drop(ep);
    check(
        "isolation.service_name_not_squatted",
        matches!(r, Ok(ipc_abi::proto::names::NamesReply::Taken)),
    )
}

/// Device memory and DMA: RAM, the kernel's interrupt controllers,
/// addresses past the CPU's reach, unaligned or overflowing ranges are
/// refused; DMA memory is bounded, never executable, and only DMA memory
/// reveals a physical address.
fn device_memory_never_reaches_ram() -> bool {
    let invalid = Err(err(SysError::InvalidArgument));
    let device = |phys: u64, pages: u64| sys::mem_device(DEVICE, phys, pages);
    let mut ok = true;
    // Low RAM, the first 16 MiB, all of the first 4 GiB (RAM and the
    // kernel lie there), past the physical limit, unaligned, overflowing.
    for (what, phys, pages) in [
        ("low-ram", 0, 1),
        ("first-16m", 0x10_0000, 4096),
        ("first-4g", 0, 65536),
        ("past-limit", 1 << 52, 1),
        ("unaligned", 0xfe00_0001, 1),
        ("wraps", !0xfff_u64, 2),
        ("zero-pages", 0xfe00_0000, 0),
        ("local-apic", 0xfee0_0000, 1),
        ("io-apic", 0xfec0_0000, 1),
    ] {
        let r = device(phys, pages);
        if r != invalid {
            rt::println!("attacker: device memory {what}: {r:?}");
            ok = false;
        }
    }
    // A DMA object: bounded, mapped writable but never executable, its
    // physical address told; ordinary memory's is not.
    ok &= sys::mem_dma(DEVICE, 0) == invalid;
    ok &= sys::mem_dma(DEVICE, ipc_abi::syscall::MAX_DMA_PAGES + 1) == invalid;
    ok &= sys::mem_dma(PORTS, 1) == Err(err(SysError::WrongKind));
    match sys::mem_dma(DEVICE, 2) {
        Ok(dma) => {
            let phys = sys::mem_phys(dma);
            ok &= phys.is_ok_and(|p| p != 0 && p % 4096 == 0);
            // Its capability carries no EXEC, and the kernel would refuse
            // an executable mapping of DMA memory even with one.
            ok &= matches!(
                sys::mem_map(dma, 0x300_0000_0000, Rights::READ.union(Rights::EXEC)),
                Err(SysErrorOrUnknown::Known(
                    SysError::MissingRights | SysError::WritableAndExecutable
                ))
            );
            let _ = sys::cap_drop(dma);
        }
        Err(e) => {
            rt::println!("attacker: no DMA memory: {e:?}");
            ok = false;
        }
    }
    let plain = sys::mem_create(1).expect("memory");
    ok &= sys::mem_phys(plain) == invalid;
    let _ = sys::cap_drop(plain);
    // Narrowing device memory stays page-aligned and inside.
    ok &= sys::cap_narrow(DEVICE, 0x1000, 0x800) == invalid;
    ok &= sys::cap_narrow(DEVICE, !0xfff_u64, 0x2000) == invalid;
    check("isolation.device_memory_never_reaches_ram", ok)
}
