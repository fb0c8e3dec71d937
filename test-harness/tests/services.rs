//! The microkernel core under real boots: IPC, capabilities, W^X, fault
//! isolation with restarts, the restart budget, the syscall fuzzer with the
//! frame-leak check, preemption with FPU state, and service swapping.

mod common;

use common::boot_manifest;
use ipc_abi::exit::GuestStatus;
use test_harness::qemu::{Boot, Outcome};

fn clean_exit(b: &Boot) {
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "expected a clean power-off"
    );
}

/// Every `test.check` passed, and each of `names` was among them.
fn checks_pass(b: &Boot, names: &[&str]) {
    let failed: Vec<_> = b
        .log
        .events_with("test.check", "ok", "no")
        .filter_map(|e| e.get("name"))
        .collect();
    check!(b, failed.is_empty(), "failed checks: {failed:?}");
    for n in names {
        check!(
            b,
            b.log
                .events_with("test.check", "name", n)
                .any(|e| e.get("ok") == Some("yes")),
            "check {n} missing"
        );
    }
}

#[test]
fn ipc_capabilities_wx_and_protocol_checks() {
    let b = boot_manifest("ipc");
    clean_exit(&b);
    checks_pass(
        &b,
        &[
            "ipc.ping_pong_100",
            "ipc.fast_path_took_the_ping_pong",
            "ipc.ping_pong_went_in_registers",
            "ipc.short_call_long_reply",
            "ipc.short_echo_edges",
            "ipc.echo_256",
            "ipc.cap_transfer",
            "cap.refused_without_send_right",
            "cap.passing_caps_needs_grant",
            "cap.restricted_cap_still_sends",
            "cap.stale_and_empty_slots_refused",
            "cap.wrong_kind_refused",
            "wx.rwx_mapping_refused",
            "wx.rw_mapping_allowed",
            "wx.rx_alias_of_rw_refused",
            "wx.rx_after_unmap_allowed",
            "wx.rw_alias_of_rx_refused",
            "wx.rights_of_the_cap_bound_the_mapping",
            "proto.version_mismatch_refused",
            "proto.malformed_gets_error_reply",
            "ipc.oversized_message_refused",
            "abi.linux_numbers_refused_for_native_tasks",
        ],
    );
    check!(
        b,
        b.log
            .events_with("test.done", "name", "ipc")
            .any(|e| e.get("ok") == Some("yes")),
        "ipc driver did not finish"
    );
    check!(
        b,
        b.log.events_with("svc.register", "name", "pong").count() == 1,
        "pong not registered once"
    );
}

/// (service, kernel vector, what else to check)
const FAULTS: &[(&str, Option<u64>)] = &[
    ("crash-null", Some(14)),
    ("crash-write-code", Some(14)),
    ("crash-ud", Some(6)),
    ("crash-gp", Some(13)),
    ("crash-de", Some(0)),
    ("crash-stack", Some(14)),
    ("crash-spin", None),
];

#[test]
fn each_fault_kills_only_its_task_and_the_restart_is_reachable_by_name() {
    let b = boot_manifest("crash");
    clean_exit(&b);
    let shutdown_at = b
        .log
        .events
        .iter()
        .position(|e| e.name == "sup.shutdown")
        .unwrap_or(usize::MAX);
    for (name, vector) in FAULTS {
        let exits: Vec<_> = b.log.events[..shutdown_at.min(b.log.events.len())]
            .iter()
            .filter(|e| e.name == "task.exit" && e.get("name") == Some(name))
            .collect();
        check!(
            b,
            exits.len() == 1,
            "{name}: expected exactly one death before shutdown, got {}",
            exits.len()
        );
        let e = exits[0];
        match vector {
            Some(v) => check!(
                b,
                e.get("reason") == Some("fault") && e.num("vector") == Some(*v),
                "{name}: expected a fault with vector {v}"
            ),
            None => {
                check!(
                    b,
                    e.get("reason") == Some("killed"),
                    "{name}: expected a kill"
                );
                check!(
                    b,
                    b.log.events_with("svc.watchdog", "name", name).count() == 1,
                    "{name}: no watchdog event"
                );
            }
        }
        let crash = b.log.events_with("test.crash", "name", name).next();
        check!(
            b,
            crash.is_some_and(|c| c.get("answered_before") == Some("yes")
                && c.get("peer_died") == Some("yes")
                && c.get("answered_after_restart") == Some("yes")),
            "{name}: the caller did not see PeerDied and then the restarted service"
        );
        check!(
            b,
            b.log.events_with("svc.restart", "name", name).count() == 1,
            "{name}: not restarted once"
        );
    }
    let write = b
        .log
        .events_with("task.exit", "name", "crash-write-code")
        .next()
        .unwrap();
    check!(
        b,
        write.num("error").is_some_and(|e| e & 0b11 == 0b11),
        "write to code is not a protection violation on write"
    );
    let stack = b
        .log
        .events_with("task.exit", "name", "crash-stack")
        .next()
        .unwrap();
    let guard = ipc_abi::layout::USER_STACK_TOP - (ipc_abi::layout::USER_STACK_PAGES + 1) * 4096;
    check!(
        b,
        stack
            .num("addr")
            .is_some_and(|a| (guard..guard + 4096).contains(&a)),
        "stack overflow did not fault in the guard page"
    );
    check!(
        b,
        b.log
            .events_with("test.done", "name", "crash")
            .any(|e| e.get("ok") == Some("yes")),
        "crash driver failed"
    );
}

#[test]
fn the_restart_budget_ends_with_a_give_up() {
    let b = boot_manifest("budget");
    clean_exit(&b);
    check!(
        b,
        b.log.events_with("svc.start", "name", "doomed").count() == 3,
        "expected 1 start + 2 restarts"
    );
    let delays: Vec<u64> = b
        .log
        .events_with("svc.restart", "name", "doomed")
        .filter_map(|e| e.num("after_ms"))
        .collect();
    check!(b, delays == [20, 40], "backoff did not double: {delays:?}");
    check!(
        b,
        b.log
            .events_with("svc.give_up", "name", "doomed")
            .any(|e| e.num("restarts") == Some(2)),
        "no give-up event"
    );
}

#[test]
fn the_syscall_fuzzer_leaves_the_kernel_up_and_leaks_no_frames_or_heap() {
    let b = boot_manifest("fuzz");
    clean_exit(&b);
    let done = b.log.first("fuzz.done");
    check!(
        b,
        done.is_some_and(|d| d.num("calls") == Some(100_000)
            && d.num("unknown_errors") == Some(0)
            && d.num("errors").unwrap_or(0) > 50_000),
        "fuzzer did not finish its calls, or got error codes the ABI does not define"
    );
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "fuzzer")
            .any(|e| e.get("reason") == Some("exit")),
        "the fuzzer did not exit normally"
    );
    // The fuzzer writes random bytes to the console; task lines must reach
    // it with every control character replaced.
    let dirty = b
        .log
        .text
        .lines()
        .filter(|l| l.starts_with('['))
        .find(|l| l.chars().any(|c| c.is_control() && c != '\t'));
    check!(
        b,
        dirty.is_none(),
        "a task put control characters on the console: {dirty:?}"
    );
    let frames = b.log.first("sup.frames");
    check!(
        b,
        frames.is_some_and(|f| f.num("start").is_some()
            && f.num("start") == f.num("end")
            && f.num("heap_start").is_some()
            && f.num("heap_start") == f.num("heap_end")),
        "free frames or kernel heap after the fuzzer differ from before: {:?}",
        frames.map(|f| f.fields.clone())
    );
    check!(
        b,
        b.log.events_with("task.start", "name", "victim").count() > 100,
        "the fuzzer spawned too few real tasks"
    );
}

/// Two spinners, each filling every vector register with its own
/// pattern, preempt each other; each finds its registers intact. Under
/// `-cpu max` (AVX) the kernel saves them with `xsave`, and the spinners
/// use the full YMM registers: a kernel saving only SSE state (`fxsave`)
/// would hand one spinner's upper halves to the other.
#[test]
fn preemption_keeps_each_tasks_avx_registers_and_sleep_sleeps() {
    let b = boot_manifest("sched");
    clean_exit(&b);
    let fpu = b.log.first("cpu.fpu");
    check!(
        b,
        fpu.is_some_and(|e| e.get("save") == Some("xsave")
            && e.get("avx") == Some("on")
            && e.num("bytes").is_some_and(|n| (832..=1024).contains(&n))),
        "the kernel did not enable AVX state (xsave) on a CPU that has it: {fpu:?}"
    );
    for id in ["1", "2"] {
        let spin = b.log.events_with("test.spin", "id", id).next();
        check!(
            b,
            spin.is_some_and(|s| s.get("registers") == Some("ymm")
                && s.get("intact") == Some("yes")
                && s.num("preempted").unwrap_or(0) > 0),
            "spinner {id} was not preempted, did not use AVX, or lost its YMM registers: {spin:?}"
        );
    }
    checks_pass(&b, &["sched.sleep_lasts"]);
}

#[test]
fn one_kernel_boots_two_implementations_of_one_service() {
    for (manifest, implementation) in [("swap-a", "A"), ("swap-b", "B")] {
        let b = boot_manifest(manifest);
        clean_exit(&b);
        check!(
            b,
            b.log
                .events("test.greeting")
                .any(|e| e.get("implementation") == Some(implementation)),
            "{manifest}: expected greeter implementation {implementation}"
        );
    }
}

#[test]
fn a_driver_gets_exactly_its_ports_and_irq_line_and_takes_interrupts() {
    let b = boot_manifest("irq");
    clean_exit(&b);
    checks_pass(
        &b,
        &[
            "io.port_outside_grant_refused",
            "irq.line_outside_grant_refused",
            "irq.bind",
            "irq.rtc_five_interrupts",
        ],
    );
}

/// At least 1,000 deaths of every kind in one boot (exit, each fault,
/// killed running, killed in `Recv` and awaiting a reply, dying with
/// capabilities sent and received, a capability to itself among them,
/// never started): the kernel survives and gets back every frame and
/// every heap byte.
#[test]
fn a_thousand_deaths_of_every_kind_leak_nothing() {
    let b = boot_manifest("death");
    clean_exit(&b);
    let d = b.log.first("death.done");
    check!(
        b,
        d.is_some_and(|d| d.num("deaths").is_some_and(|n| n >= 1000)
            && d.num("failures") == Some(0)
            && d.num("kinds").is_some_and(|k| k >= 12)),
        "the deaths did not all go as they must: {:?}",
        d.map(|d| d.fields.clone())
    );
    check!(
        b,
        d.is_some_and(|d| d.num("frames_before").is_some()
            && d.num("frames_before") == d.num("frames_after")
            && d.num("heap_before").is_some()
            && d.num("heap_before") == d.num("heap_after")
            && d.num("tasks_before") == d.num("tasks_after")),
        "deaths leaked frames, kernel heap or tasks: {:?}",
        d.map(|d| d.fields.clone())
    );
}

/// Native reproductions of the kernel-isolation issue, each a check that
/// fails without its fix (see `services/testsvc/src/bin/attacker.rs`).
#[test]
fn native_reproductions_of_the_isolation_holes_are_refused() {
    let b = boot_manifest("isolation");
    clean_exit(&b);
    checks_pass(
        &b,
        &[
            "isolation.io_port_overflow_refused",
            "isolation.spawn_above_own_priority_refused",
            "isolation.send_of_a_cap_without_grant_refused",
            "isolation.reply_of_a_cap_without_grant_refused",
            "isolation.abandoned_caller_fails_instead_of_waiting",
            "isolation.second_binding_replaces_the_first",
            "isolation.unstarted_tasks_reclaimed",
            "isolation.mappings_bounded",
            "isolation.service_name_not_squatted",
            "isolation.lookup_gives_no_receive_right",
            "isolation.device_memory_never_reaches_ram",
        ],
    );
    check!(
        b,
        b.log
            .first("attack.done")
            .is_some_and(|e| e.get("ok") == Some("yes")),
        "the attacker did not finish"
    );
}
