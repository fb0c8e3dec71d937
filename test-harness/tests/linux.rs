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
        "[linuxhello] linuxhello: this line went to stderr",
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
