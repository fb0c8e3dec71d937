//! The Linux-ABI personality under a real boot: a static Rust `std` program
//! with static glibc runs as a service and exits with its own code.

mod common;

use common::boot_manifest;
use ipc_abi::exit::GuestStatus;
use test_harness::qemu::Outcome;

#[test]
fn a_static_glibc_rust_program_runs_under_the_linux_personality() {
    let b = boot_manifest("linux");
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "expected a clean power-off"
    );
    let start = b.log.events_with("task.start", "name", "linuxhello").next();
    check!(
        b,
        start.is_some_and(|e| e.get("personality") == Some("linux")),
        "not started as a Linux task"
    );
    for line in [
        "[linuxhello] linuxhello: args=[\"linuxhello\", \"42\"]",
        "[linuxhello] linuxhello: squares[9999]=99980001 sum=499999500000 text_len=21",
        "[linuxhello] linuxhello: slept_at_least_30ms=true",
        "[linuxhello] linuxhello: thread_local_count=4",
        "[linuxhello:err] linuxhello: this line went to stderr",
        "[linuxhello] linuxhello: mmap_rw_ok=true",
        "[linuxhello] linuxhello: mprotect_wx_refused=true",
        "[linuxhello] linuxhello: mmap_wx_refused=true",
        "[linuxhello] linuxhello: unknown_is_enosys=true",
        "[linuxhello] linuxhello: memobj_survives_munmap=true",
    ] {
        check!(b, b.log.text.contains(line), "missing output line: {line}");
    }
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "linuxhello")
            .any(|e| e.get("reason") == Some("exit") && e.num("code") == Some(42)),
        "the program's exit code did not come through"
    );
    check!(
        b,
        b.log.events_with("linux.enosys", "nr", "400").count() == 1,
        "an unknown syscall must be logged exactly once"
    );
    let frames = b.log.first("sup.frames");
    check!(
        b,
        frames.is_some_and(|f| f.num("start") == f.num("end")),
        "the Linux task leaked frames"
    );
}

#[test]
fn llvm_19_compiles_inside_the_os_as_a_ring_3_linux_service() {
    let b = common::boot_manifest_with_memory("jit-selftest", "1G");
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "expected a clean power-off"
    );
    check!(
        b,
        b.log.text.contains("[jit] jit: LLVM 19."),
        "LLVM did not initialize"
    );
    for level in 0..=3 {
        let prefix = format!("[jit] jit: O{level}: object ");
        let line = b.log.text.lines().find(|l| l.starts_with(&prefix));
        check!(
            b,
            line.is_some_and(|l| l.contains("bytes, 2 functions")),
            "no object code at O{level}"
        );
    }
    check!(
        b,
        b.log.text.contains(
            "[jit] jit: bad IR refused: IR does not parse: app:1:22: error: expected type"
        ),
        "unparsable IR was not refused with LLVM's message"
    );
    check!(
        b,
        b.log
            .text
            .contains("[jit] jit: invalid IR refused: IR does not verify:"),
        "IR that does not verify was not refused"
    );
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "jit")
            .any(|e| e.get("reason") == Some("exit") && e.num("code") == Some(0)),
        "the JIT server did not finish its self-test"
    );
}

/// Every reproduction of the kernel-isolation issue that goes through the
/// Linux personality, then 100,000 random Linux syscalls: each attack is
/// refused with the right error, the kernel stays up, and every frame and
/// heap byte comes back.
#[test]
fn a_hostile_linux_program_cannot_crash_hang_or_drain_the_kernel() {
    let b = boot_manifest("hostile");
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "the kernel did not survive the hostile program"
    );
    let attacks: Vec<&str> = b
        .log
        .text
        .lines()
        .filter(|l| l.starts_with("[hostile] hostile: ") && l.contains('='))
        .filter(|l| !l.contains("fuzz calls="))
        .collect();
    check!(b, attacks.len() >= 18, "attacks missing: {attacks:?}");
    for a in &attacks {
        check!(b, a.contains("=refused"), "an attack was not refused: {a}");
    }
    check!(
        b,
        b.log.text.contains("[hostile] hostile: fuzz calls=")
            && b.log.text.lines().any(|l| l
                .strip_prefix("[hostile] hostile: fuzz calls=")
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n >= 90_000)),
        "the Linux fuzzer did not finish its calls"
    );
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "hostile")
            .any(|e| e.get("reason") == Some("exit") && e.num("code") == Some(0)),
        "the hostile program did not exit normally"
    );
    let f = b.log.first("sup.frames");
    check!(
        b,
        f.is_some_and(|f| f.num("start").is_some()
            && f.num("start") == f.num("end")
            && f.num("heap_start").is_some()
            && f.num("heap_start") == f.num("heap_end")),
        "frames or kernel heap leaked: {:?}",
        f.map(|f| f.fields.clone())
    );
}
