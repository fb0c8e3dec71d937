//! Boots real images under QEMU and asserts on the structured log: the
//! normal path to ring 3, kernel faults, and every bad boot input the
//! loader or kernel must refuse.

mod common;

use common::{boot, default_esp};
use ipc_abi::exit::GuestStatus;
use test_harness::qemu::Outcome;

#[test]
fn supervisor_runs_in_ring_3_and_the_machine_powers_off_cleanly() {
    let b = boot(&default_esp());
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "expected a clean power-off"
    );
    for phase in [
        "loader.entry",
        "loader.exit",
        "kernel.entry",
        "kernel.ready",
        "user.enter",
    ] {
        check!(
            b,
            b.log.phase_tsc(phase).is_some(),
            "boot phase {phase} missing"
        );
    }
    // OVMF clears the screen with terminal control sequences; the console
    // the user sees and the saved log hold only text.
    check!(
        b,
        !b.log.text.contains('\x1b') && b.log.text.contains("BdsDxe"),
        "the console log holds terminal control sequences (or no firmware line)"
    );
    let tsc = |p| b.log.phase_tsc(p).unwrap();
    check!(
        b,
        tsc("loader.entry") < tsc("loader.exit")
            && tsc("loader.exit") < tsc("kernel.entry")
            && tsc("kernel.entry") < tsc("kernel.ready")
            && tsc("kernel.ready") < tsc("user.enter"),
        "boot phases out of order"
    );
    let start = b.log.events_with("task.start", "name", "supervisor").next();
    check!(
        b,
        start.is_some_and(|e| e.get("ring") == Some("3")),
        "supervisor not started in ring 3"
    );
    check!(
        b,
        b.log
            .text
            .contains("[supervisor] supervisor: running in ring 3"),
        "supervisor did not print from ring 3"
    );
    let exit = b.log.events_with("task.exit", "name", "supervisor").next();
    check!(
        b,
        exit.is_some_and(|e| e.get("reason") == Some("exit") && e.get("code") == Some("0")),
        "supervisor did not exit 0"
    );
    let timer = b.log.first("timer");
    check!(
        b,
        timer.is_some_and(|e| e.num("ticks").unwrap_or(0) >= 2),
        "LAPIC timer did not tick"
    );
    check!(b, b.log.first("shutdown").is_some(), "no shutdown event");
}

fn with_cmdline(cmdline: &str) -> test_harness::qemu::Boot {
    let mut esp = default_esp();
    esp.cmdline = Some(cmdline.into());
    boot(&esp)
}

#[test]
fn kernel_page_fault_is_reported_and_stops_the_machine() {
    let b = with_cmdline("selftest=kernel-page-fault");
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::KernelException),
        "wrong exit"
    );
    let e = b.log.first("kernel.exception");
    check!(
        b,
        e.is_some_and(|e| e.num("vector") == Some(14)
            && e.get("name") == Some("page_fault")
            && e.num("cr2") == Some(0x0bad_0000_0000)
            && e.num("rip").is_some_and(|rip| rip >= 0xffff_ffff_8000_0000)),
        "page-fault report incomplete"
    );
    check!(
        b,
        b.log.text.contains("rax 0x") && b.log.text.contains("r15 0x"),
        "registers not printed"
    );
    check!(
        b,
        b.log.first("task.start").is_none(),
        "the supervisor ran after a kernel fault"
    );
}

#[test]
fn kernel_stack_overflow_is_caught_on_the_double_fault_stack() {
    let b = with_cmdline("selftest=kernel-stack-overflow");
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::KernelException),
        "wrong exit"
    );
    let e = b.log.first("kernel.exception");
    check!(
        b,
        e.is_some_and(|e| e.num("vector") == Some(8) && e.get("stack_overflow") == Some("yes")),
        "stack overflow not reported as a double fault on the guard page"
    );
}

#[test]
fn kernel_invalid_opcode_is_reported() {
    let b = with_cmdline("selftest=kernel-invalid-opcode");
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::KernelException),
        "wrong exit"
    );
    let e = b.log.first("kernel.exception");
    check!(
        b,
        e.is_some_and(|e| e.num("vector") == Some(6)),
        "#UD not reported"
    );
}

#[test]
fn kernel_panic_is_reported_with_its_message() {
    let b = with_cmdline("selftest=kernel-panic");
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::KernelPanic),
        "wrong exit"
    );
    let e = b.log.first("kernel.panic");
    check!(
        b,
        e.is_some_and(|e| e.get("msg") == Some("selftest asked for a panic")
            && e.get("file").is_some_and(|f| f.ends_with("selftest.rs"))),
        "panic report incomplete"
    );
}

fn loader_error(b: &test_harness::qemu::Boot, reason: &str, needle: &str) {
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::LoaderError),
        "expected the loader to refuse"
    );
    let e = b.log.first("loader.error");
    check!(
        b,
        e.is_some_and(
            |e| e.get("reason") == Some(reason) && e.get("msg").is_some_and(|m| m.contains(needle))
        ),
        "expected loader.error reason={reason} mentioning {needle:?}"
    );
    check!(
        b,
        b.log.phase_tsc("kernel.entry").is_none(),
        "the kernel was entered anyway"
    );
}

#[test]
fn missing_kernel_is_refused_by_the_loader() {
    let mut esp = default_esp();
    esp.kernel = None;
    loader_error(&boot(&esp), "missing-file", "\\kernel");
}

#[test]
fn missing_initrd_is_refused_by_the_loader() {
    let mut esp = default_esp();
    esp.initrd = None;
    loader_error(&boot(&esp), "missing-file", "\\initrd");
}

#[test]
fn a_kernel_that_is_not_an_x86_64_executable_is_refused() {
    let mut esp = default_esp();
    let mut kernel = esp.kernel.take().unwrap();
    kernel[18] = 0xb7; // e_machine = AArch64
    esp.kernel = Some(kernel);
    loader_error(&boot(&esp), "bad-kernel", "not x86-64");
}

#[test]
fn a_kernel_with_a_segment_past_the_end_of_the_file_is_refused() {
    let mut esp = default_esp();
    let kernel = esp.kernel.take().unwrap();
    // The headers survive, the text segment (at file offset 0x1000) does not.
    esp.kernel = Some(kernel[..0x2000].to_vec());
    loader_error(&boot(&esp), "bad-kernel", "outside the file");
}

#[test]
fn an_initrd_with_a_bad_checksum_is_refused_by_the_loader() {
    let mut esp = default_esp();
    let mut initrd = esp.initrd.take().unwrap();
    let last = initrd.len() - 1;
    initrd[last] ^= 0xff;
    esp.initrd = Some(initrd);
    loader_error(&boot(&esp), "bad-initrd", "checksum mismatch");
}

#[test]
fn an_initrd_that_is_not_an_initrd_is_refused_by_the_loader() {
    let mut esp = default_esp();
    esp.initrd = Some(b"this is not an initrd image, just text".repeat(4));
    loader_error(&boot(&esp), "bad-initrd", "bad magic");
}

#[test]
fn an_initrd_without_a_supervisor_is_refused_by_the_kernel() {
    let mut esp = default_esp();
    let manifest = br#"{"version":1,"service":[{"name":"jit","file":"jit"}]}"#.to_vec();
    let image = initrd::writer::build_image(&[
        ("manifest".into(), manifest),
        ("jit".into(), b"\x7fELF".to_vec()),
    ])
    .unwrap();
    esp.initrd = Some(image);
    let b = boot(&esp);
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::BadInitrd),
        "expected the kernel to refuse"
    );
    let e = b.log.first("initrd.error");
    check!(
        b,
        e.is_some_and(|e| e
            .get("msg")
            .is_some_and(|m| m.contains("no service named \"supervisor\""))),
        "initrd.error does not name the missing supervisor"
    );
    check!(
        b,
        b.log.first("task.start").is_none(),
        "a task started from a bad initrd"
    );
}

#[test]
fn a_supervisor_that_is_not_an_elf_is_refused_by_the_kernel() {
    let mut esp = default_esp();
    let manifest = br#"{"version":1,"service":[{"name":"supervisor"}]}"#.to_vec();
    let image = initrd::writer::build_image(&[
        ("manifest".into(), manifest),
        ("supervisor".into(), b"#!/bin/sh\necho hi\n".to_vec()),
    ])
    .unwrap();
    esp.initrd = Some(image);
    let b = boot(&esp);
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::BadInitrd),
        "expected the kernel to refuse"
    );
    let e = b.log.first("kernel.error");
    check!(
        b,
        e.is_some_and(|e| e.get("msg").is_some_and(|m| m.contains("not an ELF file"))),
        "kernel.error does not say why the supervisor was refused"
    );
}
