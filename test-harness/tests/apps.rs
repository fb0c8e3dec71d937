//! Example C programs arrive as LLVM IR, are compiled by the JIT server
//! inside the OS at each tier, and run in the app host: their output must
//! equal the same C compiled natively on the host with `clang-19 -O3`.

mod common;

use common::{boot_app, output_of};
use ipc_abi::exit::GuestStatus;
use ipc_abi::proto::jit::app_status;
use test_harness::artifacts::{self, apps_dir};
use test_harness::qemu::{Boot, Outcome};

/// Whether the app host running `app` reported exit status `code`.
fn exited_with(b: &Boot, app: &str, code: u64) -> bool {
    b.log
        .events_with("app.exit", "from", app)
        .any(|e| e.num("code") == Some(code))
}

fn native_output(app: &str) -> Vec<String> {
    let out = std::process::Command::new(apps_dir().join(format!("{app}-native")))
        .output()
        .unwrap();
    // libc.c ends with exit(3): a status, not a crash.
    assert!(out.status.code().is_some(), "{app}-native was killed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn runs_like_native(app: &str) {
    common::setup();
    let want = native_output(app);
    for level in 0..=3u8 {
        let b = boot_app(app, &format!("{app}.ll"), level);
        check!(
            b,
            b.outcome == Outcome::Guest(GuestStatus::Success),
            "{app} O{level}: no clean power-off"
        );
        check!(
            b,
            b.log
                .events("jit.compile")
                .any(|e| e.get("fn") == Some("main")
                    && e.num("level") == Some(level as u64)
                    && e.num("code_bytes").unwrap_or(0) > 0),
            "{app} O{level}: the JIT did not link main into the app's region"
        );
        check!(
            b,
            b.log
                .events("jit.compile")
                .all(|e| e.num("level") == Some(level as u64)),
            "{app} O{level}: a function was compiled at another level"
        );
        let got = output_of(&b, app);
        check!(
            b,
            got == want,
            "{app} O{level}: output differs from native\n got: {got:?}\nwant: {want:?}"
        );
        check!(
            b,
            exited_with(&b, app, 0),
            "{app} O{level}: no exit status 0"
        );
    }
}

#[test]
fn fib_runs_like_native_at_every_tier() {
    runs_like_native("fib");
}

/// A broad sample of the C library (and what headers and LLVM turn calls
/// into) at O0 and O3: the export table derived from glibc provides it.
#[test]
fn a_broad_sample_of_the_c_library_runs_like_native() {
    common::setup();
    // Both levels in one app host: each run's `atexit` handler runs when
    // that run ends, so native output appears once per run.
    let want = native_output("cstdlib");
    let b = common::boot_app_with_args("cstdlib", "cstdlib.ll", &["0,3"]);
    let got = output_of(&b, "cstdlib");
    let twice: Vec<String> = want.iter().chain(&want).cloned().collect();
    check!(
        b,
        got == twice && exited_with(&b, "cstdlib", 0),
        "output differs from native (twice)\n got: {got:?}\nwant: {twice:?}"
    );
}

/// Vectorizable loops at O0 and O3 (one app host, both runs) with code
/// for this CPU: under `-cpu max` the JIT generates AVX2 code (the kernel
/// saves YMM state, so LLVM sees AVX as usable), and the output is the
/// baseline native build's. A second boot with the JIT at `cpu=baseline`
/// compiles `main` at O3 to other code: the units really are generated
/// for the CPU's features (clang's per-function baseline attributes do
/// not win).
#[test]
fn vector_loops_run_like_native_with_avx2_code() {
    common::setup();
    let want = native_output("vectors");
    let b = common::boot_app_with_args("vectors", "vectors.ll", &["0,3"]);
    let ready = b.log.first("jit.ready");
    check!(
        b,
        ready.is_some_and(|e| e.get("cpu") == Some("host")
            && e.num("avx") == Some(1)
            && e.num("avx2") == Some(1)),
        "the JIT does not generate AVX2 code on a CPU with AVX2: {ready:?}"
    );
    let got = output_of(&b, "vectors");
    let twice: Vec<String> = want.iter().chain(&want).cloned().collect();
    check!(
        b,
        got == twice && b.log.events("app.run").count() == 2,
        "output differs from native (twice)\n got: {got:?}\nwant: {twice:?}"
    );
    let programs = ["vectors".to_string()];
    let base = common::boot_system(&test_harness::corpus::System {
        programs: &programs,
        tiers: "O3",
        jit: Some(&["cpu=baseline"]),
        ..Default::default()
    });
    let ready = base.log.first("jit.ready");
    check!(
        base,
        ready.is_some_and(|e| e.get("cpu") == Some("baseline") && e.num("avx") == Some(0)),
        "cpu=baseline did not make a baseline JIT: {ready:?}"
    );
    check!(
        base,
        output_of(&base, test_harness::corpus::SERVICE) == want,
        "baseline output differs from native"
    );
    let main_o3 = |b: &Boot| {
        b.log
            .events_with("jit.compile", "fn", "main")
            .find(|e| e.num("level") == Some(3))
            .and_then(|e| e.num("code_bytes"))
    };
    let (host, baseline) = (main_o3(&b), main_o3(&base));
    check!(
        base,
        host.is_some() && baseline.is_some() && host != baseline,
        "main at O3 is the same code for this CPU and for baseline x86-64: {host:?} vs {baseline:?} bytes"
    );
}

#[test]
fn sieve_runs_like_native_at_every_tier() {
    runs_like_native("sieve");
}

#[test]
fn checksum_runs_like_native_at_every_tier() {
    runs_like_native("checksum");
}

#[test]
fn nbody_runs_like_native_at_every_tier() {
    runs_like_native("nbody");
}

#[test]
fn spectral_norm_runs_like_native_at_every_tier() {
    runs_like_native("spectralnorm");
}

#[test]
fn fannkuch_runs_like_native_at_every_tier() {
    runs_like_native("fannkuch");
}

#[test]
fn a_program_using_unprovided_c_functions_is_refused_before_it_runs() {
    let b = boot_app("missing", "missing.ll", 2);
    let refusal = b
        .log
        .text
        .lines()
        .find(|l| l.contains("missing.ll: the JIT refused it"));
    check!(
        b,
        refusal.is_some_and(|l| l.contains("zlibVersion") && l.contains("compressBound")),
        "the refusal does not name both missing functions"
    );
    check!(
        b,
        b.log.first("app.loaded").is_none(),
        "the program was loaded anyway"
    );
    check!(
        b,
        b.exit_code() == app_status::REFUSED as i32,
        "a refused program did not end the run with the refusal status"
    );
    check!(
        b,
        output_of(&b, "missing")
            .iter()
            .all(|l| l.starts_with("app: ")),
        "the program ran"
    );
}

#[test]
fn ir_that_does_not_parse_is_refused_with_llvms_message_and_the_jit_stays_up() {
    let b = boot_app("broken", "broken.ll", 2);
    check!(
        b,
        b.log
            .text
            .contains("broken.ll: the JIT refused it: IR does not parse"),
        "no refusal with LLVM's message"
    );
    check!(
        b,
        b.exit_code() == app_status::REFUSED as i32,
        "unparsable IR did not end the run with the refusal status"
    );
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "jit")
            .all(|e| e.get("reason") == Some("killed")),
        "the JIT died"
    );
}

/// The JIT crashes at `point` while serving the app; the app must survive,
/// reconnect to the restarted JIT and print exactly what a crash-free run
/// prints. `crash-compile` and `crash-publish` hit the compile of `fib`,
/// `main`'s first call: `main` (compiled by the dead JIT) must keep
/// running, not be compiled again, and its pending call must be served by
/// the restarted JIT, which resumes the program's state.
fn survives_a_jit_crash(point: &str, logged_at: &str) {
    common::setup();
    let b = common::boot_app_with_args("fib", "fib.ll", &["2", point]);
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "{point}: no clean power-off"
    );
    check!(
        b,
        b.log.events_with("jit.crashing", "at", logged_at).count() == 1,
        "{point}: the JIT did not crash where asked"
    );
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "jit")
            .any(|e| e.get("reason") == Some("fault")),
        "{point}: the JIT did not die by a fault"
    );
    check!(
        b,
        b.log.events_with("svc.restart", "name", "jit").count() == 1,
        "{point}: the JIT was not restarted"
    );
    let crashed = b
        .log
        .first("jit.crashing")
        .and_then(|e| e.num("tsc"))
        .unwrap_or(u64::MAX);
    let compiled_after = |f: &str| {
        b.log
            .events("jit.compile")
            .filter(|e| e.get("fn") == Some(f) && e.num("tsc").is_some_and(|t| t > crashed))
            .count()
    };
    if point == "crash-idle" {
        check!(
            b,
            b.log
                .events_with("app.loaded", "from", "fib")
                .any(|e| e.num("attempt") == Some(2) && e.num("resume") == Some(0)),
            "{point}: the app did not reach the restarted JIT"
        );
    } else {
        check!(
            b,
            b.log
                .events_with("app.loaded", "from", "fib")
                .any(|e| e.num("resume") == Some(1)),
            "{point}: the app did not resume with the restarted JIT"
        );
        check!(
            b,
            compiled_after("fib") == 1 && compiled_after("main") == 0,
            "{point}: the restarted JIT did not compile exactly the pending function"
        );
        // The restarted JIT took over the dead one's bookkeeping: the new
        // code lies past main's, which is still running.
        let main_end = b
            .log
            .events("jit.compile")
            .find(|e| e.get("fn") == Some("main"))
            .and_then(|e| Some(e.num("address")? + e.num("code_bytes")?));
        let fib = b
            .log
            .events("jit.compile")
            .find(|e| e.get("fn") == Some("fib"))
            .and_then(|e| e.num("address"));
        check!(
            b,
            matches!((main_end, fib), (Some(m), Some(f)) if f >= m),
            "{point}: the restarted JIT placed code over main's (main ends {main_end:?}, fib at {fib:?})"
        );
    }
    check!(
        b,
        output_of(&b, "fib") == native_output("fib"),
        "{point}: output differs from a crash-free run"
    );
}

#[test]
fn the_app_survives_a_jit_crash_while_idle() {
    survives_a_jit_crash("crash-idle", "idle");
}

#[test]
fn the_app_survives_a_jit_crash_during_a_compile() {
    survives_a_jit_crash("crash-compile", "during-compile");
}

#[test]
fn the_app_survives_a_jit_crash_after_writing_code_before_publishing() {
    survives_a_jit_crash("crash-publish", "before-publish");
}

/// A crash while compiling is never asked for again: the function falls
/// back a tier (`app.fallback ... why=jit-died`) and the restarted JIT
/// compiles it there.
#[test]
fn a_compile_that_killed_the_jit_is_not_sent_again() {
    common::setup();
    let b = common::boot_app_with_args("fib", "fib.ll", &["2", "crash-compile"]);
    check!(
        b,
        b.log
            .events_with("app.fallback", "fn", "fib")
            .any(|e| e.num("level") == Some(2)
                && e.num("to") == Some(1)
                && e.get("why") == Some("jit-died")),
        "fib did not fall back from O2 to O1 after the JIT died compiling it"
    );
    check!(
        b,
        b.log
            .events_with("jit.crashing", "at", "during-compile")
            .count()
            == 1
            && b.log
                .events_with("jit.compile", "fn", "fib")
                .all(|e| e.num("level") == Some(1)),
        "the request that killed the JIT was sent again"
    );
    check!(
        b,
        output_of(&b, "fib") == native_output("fib") && b.exit_code() == 0,
        "the program did not go on"
    );
}

/// A real LLVM fatal error (the code generator meets an AVX-512 intrinsic
/// it cannot handle) becomes an answer naming the function and LLVM's
/// words; the JIT exits and is restarted, the app host falls back a tier
/// and the program goes on with native output.
#[test]
fn an_llvm_fatal_error_is_an_answer_and_the_function_falls_back_a_tier() {
    common::setup();
    let b = common::boot_app_with_args("fib", "fib.ll", &["2", "crash-fatal"]);
    check!(
        b,
        b.log
            .events("jit.fatal")
            .any(|e| e.get("while") == Some("compiling_fib_at_O2")
                && e.get("msg").is_some_and(|m| !m.is_empty())),
        "no jit.fatal event naming fib at O2 and LLVM's message"
    );
    check!(
        b,
        b.log.text.lines().any(|l| l.contains(
            "app: the JIT could not compile fib at O2: LLVM fatal error while compiling fib at O2:"
        )),
        "the app host did not get the fatal error as an answer"
    );
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "jit")
            .any(|e| e.get("reason") == Some("exit") && e.num("code") == Some(70))
            && b.log.events_with("svc.restart", "name", "jit").count() == 1,
        "the JIT did not exit with 70 and get restarted once"
    );
    check!(
        b,
        b.log
            .events_with("app.fallback", "fn", "fib")
            .any(|e| e.num("level") == Some(2)
                && e.num("to") == Some(1)
                && e.get("why") == Some("failed"))
            && b.log
                .events_with("jit.compile", "fn", "fib")
                .all(|e| e.num("level") == Some(1)),
        "fib did not fall back to O1"
    );
    check!(
        b,
        output_of(&b, "fib")
            .into_iter()
            .filter(|l| !l.starts_with("app: "))
            .collect::<Vec<_>>()
            == native_output("fib")
            && b.exit_code() == 0,
        "the program did not go on with native output"
    );
}

/// An inline-assembly string the assembler rejects is an LLVM error
/// diagnostic: the JIT answers with LLVM's message at each tier and stays
/// up (no `exit(1)`), and the app host ends with its failure status.
#[test]
fn an_llvm_error_diagnostic_is_an_answer_and_the_jit_stays_up() {
    common::setup();
    let b = common::boot_app("badasm", "badasm.ll", 2);
    check!(
        b,
        b.log
            .text
            .lines()
            .any(|l| l.contains("LLVM could not compile main at O2")
                && l.contains("bogus_instruction")),
        "the JIT's answer does not carry LLVM's diagnostic"
    );
    check!(
        b,
        b.log.events_with("app.fallback", "fn", "main").count() == 2,
        "main did not fall back O2 -> O1 -> O0"
    );
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "jit")
            .all(|e| e.get("reason") == Some("killed")),
        "the JIT died"
    );
    check!(
        b,
        b.exit_code() == app_status::HOST_FAILED as i32,
        "the run did not end with the app host's failure status"
    );
}

#[test]
fn a_program_gets_its_arguments_and_reports_its_exit_status() {
    common::setup();
    let b = common::boot_app_with_args(
        "echoargs",
        "echoargs.ll",
        &["2", "--", "first", "second arg"],
    );
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::SupervisorFailed) && b.exit_code() == 2,
        "the run did not end with the program's status 2"
    );
    check!(
        b,
        output_of(&b, "echoargs") == ["arg 1: first", "arg 2: second arg"],
        "arguments did not reach main"
    );
    check!(
        b,
        exited_with(&b, "echoargs", 2),
        "the exit status was not reported"
    );
}

#[test]
fn a_tier_up_while_the_program_runs_switches_through_the_dispatch_slots() {
    common::setup();
    let b = common::boot_app_with_args("tierup", "tierup.ll", &["O0", "tier-up=O3:mix"]);
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "no clean power-off"
    );
    let published = b.log.first("jit.publish").and_then(|e| e.num("tsc"));
    let loaded = b.log.first("app.loaded").and_then(|e| e.num("tsc"));
    let finished = b.log.first("app.run").and_then(|e| e.num("tsc"));
    let first = b
        .log
        .events("jit.compile")
        .find(|e| e.get("fn") == Some("mix"))
        .and_then(|e| e.num("address"));
    let publish = b.log.first("jit.publish");
    let slot = b
        .log
        .events("app.slot")
        .find(|e| e.get("fn") == Some("mix"))
        .and_then(|e| e.num("address"));
    check!(
        b,
        publish.is_some_and(|e| e.get("fn") == Some("mix") && e.num("level") == Some(3)),
        "the JIT did not publish mix at O3"
    );
    check!(
        b,
        b.log.events("jit.publish").count() == 1,
        "functions not chosen were tiered up too"
    );
    check!(
        b,
        first.is_some()
            && slot.is_some()
            && slot == publish.and_then(|e| e.num("address"))
            && slot != first,
        "mix's slot does not hold the O3 code at the end (first {first:?}, slot {slot:?})"
    );
    check!(
        b,
        matches!((loaded, published, finished), (Some(l), Some(p), Some(f)) if l < p && p < f),
        "the new tier was not published while the program ran"
    );
    check!(
        b,
        output_of(&b, "tierup") == native_output("tierup"),
        "output differs from native"
    );
}

#[test]
fn functions_are_compiled_at_their_first_call_and_never_before() {
    common::setup();
    let b = common::boot_app("lazy", "lazy.ll", 1);
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "no clean power-off"
    );
    let tsc = |name: &str, f: Option<&str>| {
        b.log
            .events(name)
            .find(|e| f.is_none() || e.get("fn") == f)
            .and_then(|e| e.num("tsc"))
    };
    let (loaded, main, used) = (
        tsc("app.loaded", None),
        tsc("jit.compile", Some("main")),
        tsc("jit.compile", Some("used")),
    );
    check!(
        b,
        matches!((loaded, main, used), (Some(l), Some(m), Some(u)) if l < m && m < u),
        "main and used were not compiled after the load, in call order"
    );
    check!(
        b,
        tsc("jit.compile", Some("never_called")).is_none(),
        "a function that is never called was compiled"
    );
    check!(
        b,
        b.log
            .first("jit.load")
            .is_some_and(|e| e.num("functions") == Some(3)),
        "the JIT did not take the three-function table"
    );
    check!(
        b,
        output_of(&b, "lazy") == native_output("lazy"),
        "output differs from native"
    );
}

#[test]
fn an_unknown_function_is_refused_and_the_jit_stays_up() {
    common::setup();
    let b = common::boot_app_with_args("fib", "fib.ll", &["2", "probe-unknown"]);
    check!(
        b,
        b.log
            .text
            .contains("the JIT refused an unknown function: no function #2: the program defines 2"),
        "no refusal naming the unknown function"
    );
    let program_output: Vec<String> = output_of(&b, "fib")
        .into_iter()
        .filter(|l| !l.starts_with("app:"))
        .collect();
    check!(
        b,
        program_output == native_output("fib"),
        "the program did not run normally after the refusal"
    );
}

/// O0 calls what the source names; O3 calls what LLVM turns it into
/// (fwrite, bcmp, exp2, ...), which must be exported as well. Both run in
/// one app host: `exit(3)` ends the O0 run (not the app host), the O3 run
/// follows, and the last run's status ends the boot.
#[test]
fn the_c_library_exports_work_and_exit_reports_its_status() {
    common::setup();
    let b = common::boot_app_with_args("libc", "libc.ll", &["0,3"]);
    check!(
        b,
        b.exit_code() == 3,
        "the run did not end with the program's status 3"
    );
    check!(
        b,
        b.log
            .text
            .lines()
            .filter(|l| *l == "[libc:err] to stderr")
            .count()
            == 2,
        "stderr (marked apart from stdout) was not reached once per run"
    );
    let runs: Vec<_> = b.log.events("app.run").collect();
    check!(
        b,
        runs.len() == 2 && runs.iter().all(|e| e.num("code") == Some(3)),
        "exit(3) did not end each run with status 3"
    );
    let native = native_output("libc");
    let twice: Vec<String> = native.iter().chain(&native).cloned().collect();
    let stdout = output_of(&b, "libc");
    check!(b, stdout == twice, "output differs from native (twice)");
    check!(b, exited_with(&b, "libc", 3), "exit(3) was not reported");
}

/// Another service that looks up the JIT gets a capability that cannot
/// receive, and the JIT refuses its compile and load requests while the
/// app's session is on: only the app that loaded may use its regions.
#[test]
fn another_service_cannot_use_or_replace_the_apps_jit_session() {
    common::setup();
    let b = common::boot_manifest("jit-intruder");
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "no clean power-off"
    );
    for what in [
        "recv-on-jit-endpoint",
        "compile-in-app-session",
        "load-over-app-session",
    ] {
        check!(
            b,
            b.log
                .events_with("intruder.result", "what", what)
                .any(|e| e.num("refused") == Some(1)),
            "the intruder was not refused: {what}"
        );
    }
    for what in ["compile-from-another-client", "load-from-another-client"] {
        check!(
            b,
            b.log.events_with("jit.refused", "what", what).count() == 1,
            "the JIT did not log its refusal: {what}"
        );
    }
    check!(
        b,
        output_of(&b, "fib") == native_output("fib") && exited_with(&b, "fib", 0),
        "the app's run was disturbed"
    );
}

/// Inline assembly (`rdtsc`, `cpuid`, arithmetic in `asm`) compiles in the
/// JIT, which needs LLVM's x86 assembly parser, and runs like native.
#[test]
fn inline_assembly_compiles_and_runs_like_native() {
    common::setup();
    let b = boot_app("inlineasm", "inlineasm.ll", 2);
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "no clean power-off"
    );
    let got = output_of(&b, "inlineasm");
    let want = native_output("inlineasm");
    check!(
        b,
        got == want && exited_with(&b, "inlineasm", 0),
        "output differs from native\n got: {got:?}\nwant: {want:?}"
    );
}

/// However a program ends, the run ends with it and with the status a
/// shell would report for the native program: `exit(42)`, a return of 3
/// from `main`, a NULL read (139, SIGSEGV) and `abort()` (134, SIGABRT),
/// with the JIT still up when the app host dies; interpreted too (the
/// interpreter's own load of NULL faults as compiled code's does).
#[test]
fn the_run_ends_with_the_programs_own_status() {
    common::setup();
    for (tier, how, status) in [
        ("O0", "exit", 42),
        ("O0", "return", 3),
        ("O0", "null", 139),
        ("O0", "abort", 134),
        ("interp", "null", 139),
        ("interp", "abort", 134),
    ] {
        let b = common::boot_app_with_args("exitstatus", "exitstatus.ll", &[tier, "--", how]);
        check!(
            b,
            b.exit_code() == status,
            "{how}: the run ended with {} instead of {status}",
            b.exit_code()
        );
        check!(
            b,
            output_of(&b, "exitstatus") == [format!("ending by {how}")],
            "{how}: the program's line is missing"
        );
        check!(
            b,
            // The app host asks for it after `exit` or `main`'s return; the
            // supervisor does it when the app host dies.
            b.log
                .events_with("sup.shutdown", "service", "exitstatus")
                .any(|e| e.num("code") == Some(status as u64)
                    && e.get("cause")
                        == Some(if status > 128 {
                            "service-ended"
                        } else {
                            "request"
                        })),
            "{how}: the supervisor did not stop the system when the program ended"
        );
    }
    let native = |how: &str| {
        std::process::Command::new(apps_dir().join("exitstatus-native"))
            .arg(how)
            .output()
            .unwrap()
            .status
    };
    // The native program agrees (a shell's 128 + signal).
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(native("exit").code(), Some(42));
    assert_eq!(native("return").code(), Some(3));
    assert_eq!(native("null").signal(), Some(11));
    assert_eq!(native("abort").signal(), Some(6));
}

/// Standard input and a file opened by name come from the initrd; a file
/// written is kept in memory and reads back; a file nobody gave is not
/// found. Compared with the native build run on the same input,
/// interpreted and compiled.
#[test]
fn a_program_reads_stdin_and_files_and_writes_a_scratch_file() {
    common::setup();
    let inputs = artifacts::workspace_root().join("test-harness/manifests");
    let scratch = tempfile::tempdir().unwrap();
    std::fs::copy(
        inputs.join("input-words.txt"),
        scratch.path().join("input-words.txt"),
    )
    .unwrap();
    let native = std::process::Command::new(apps_dir().join("input-native"))
        .current_dir(scratch.path())
        .stdin(std::fs::File::open(inputs.join("input-numbers.txt")).unwrap())
        .output()
        .unwrap();
    let want: Vec<String> = String::from_utf8(native.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Interpreted: the input is the C library's, whatever the tier (the
    // run without stdin= below is compiled).
    let b = common::boot_app_with_files(
        "input",
        "input.ll",
        &["interp", "stdin=input-numbers.txt", "file=input-words.txt"],
        &["input-numbers.txt", "input-words.txt"],
    );
    let got = output_of(&b, "input");
    check!(
        b,
        got == want && b.exit_code() == 0,
        "output differs from native\n got: {got:?}\nwant: {want:?}"
    );
    // Without stdin=, standard input is empty.
    let b = common::boot_app_with_files(
        "input",
        "input.ll",
        &["0", "file=input-words.txt"],
        &["input-words.txt"],
    );
    check!(
        b,
        output_of(&b, "input").first().map(String::as_str)
            == Some("read 0 numbers from stdin, sum 0"),
        "standard input was not empty without stdin="
    );
}

/// `cargo xtask run --app` as a drop-in for a native run: compiler flags
/// pass through, argv[0] is the program's name, only the program's output
/// is shown (stderr on stderr, the last partial line included) with a
/// one-line summary, and the run exits with the program's status. The
/// partial line reaches the log before the exit event, and stderr lines
/// are marked apart. `--tier interp` runs it interpreted; a tier that does
/// not exist is refused.
#[test]
fn app_runs_like_a_native_program_from_the_command_line() {
    common::setup();
    let root = artifacts::workspace_root();
    let xtask = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .current_dir(&root)
            .output()
            .unwrap()
    };
    // A program needing what the C library lacks is refused on the host,
    // before anything boots, with the names its source uses.
    let out = xtask(&["run", "--app", "apps/missing.c"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(app_status::REFUSED as i32), "{err}");
    assert!(
        err.contains("apps/missing.c: refused before it runs:")
            && err.contains("zlibVersion")
            && err.contains("compressBound")
            && !err.contains("exited with status"),
        "{err}"
    );
    // Without the flag the program does not compile: refused at once.
    let out = xtask(&["run", "--app", "test-harness/manifests/dropin.c"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = xtask(&[
        "run",
        "--app",
        "test-harness/manifests/dropin.c",
        "--cflags",
        "-DN=5",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(5),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        stdout, "argv[0] = dropin\nN = 5\nno final newline\n",
        "stderr: {stderr}"
    );
    assert!(stderr.contains("to stderr\n"), "{stderr}");
    assert!(
        stderr.contains("xtask: test-harness/manifests/dropin.c exited with status 5;"),
        "{stderr}"
    );
    let log = std::fs::read_to_string(artifacts::work_dir().join("last-boot.log")).unwrap();
    assert!(
        log.contains("[app:err] to stderr\n"),
        "stderr lines are not marked"
    );
    // Interpreted from the command line: nothing compiled, native output.
    let out = xtask(&["run", "--app", "apps/fib.c", "--tier", "interp"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        native_output("fib"),
        "{stderr}"
    );
    assert!(
        stderr.contains("interpreted, functions compiled: none"),
        "{stderr}"
    );
    let out = xtask(&["run", "--app", "apps/fib.c", "--tier", "O7"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--tier takes auto, interp, O0, O1, O2 or O3")
    );
    let partial = log
        .find("[app] no final newline")
        .expect("partial line missing");
    let exit = log.find("@@ app.exit").expect("no app.exit event");
    assert!(partial < exit, "the partial line came after the exit event");
}

/// Mixed mode: `mixed.c`'s calls of every shape (integer widths, float and
/// double, pointers, structs by value in registers and in memory, variadic functions, function
/// pointers, `qsort` calling back) cross between interpreted and compiled
/// functions, pinned by name, in both directions: once with O0 as the rest
/// and once with the interpreter as the rest, in one app host.
#[test]
fn interpreted_and_compiled_functions_call_each_other_in_every_shape() {
    common::setup();
    let native = native_output("mixed");
    let b = common::boot_app_with_args(
        "mixed",
        "mixed.ll",
        &[
            "O0,interp",
            "pin=O3:narrow,scale,swap,sum_mixed,by_value,add,apply,sum_big",
            "pin=interp:wide,mix9,rotate,shout,sum_ints,format,mul,bump",
        ],
    );
    let twice: Vec<String> = native.iter().chain(&native).cloned().collect();
    let got = output_of(&b, "mixed");
    check!(
        b,
        got == twice,
        "output differs from native (twice)\n got: {got:?}"
    );
    let compiled = |f: &str, level: u64| {
        b.log
            .events("jit.compile")
            .any(|e| e.get("fn") == Some(f) && e.num("level") == Some(level))
    };
    for f in [
        "narrow",
        "scale",
        "swap",
        "sum_mixed",
        "by_value",
        "add",
        "apply",
    ] {
        check!(b, compiled(f, 3), "{f} was not compiled at O3");
    }
    for f in [
        "wide", "mix9", "rotate", "shout", "sum_ints", "format", "mul",
    ] {
        check!(
            b,
            b.log.events("jit.compile").all(|e| e.get("fn") != Some(f)),
            "{f} was compiled, not interpreted"
        );
    }
    check!(
        b,
        b.log
            .events("jit.compile")
            .filter(|e| e.get("fn") == Some("main"))
            .count()
            == 1
            && compiled("main", 0),
        "main should be compiled at O0 for the first run and interpreted in the second"
    );
}

/// Inlining across dispatch slots: `main` at O3 carries a copy of the
/// small function it calls and inlines it (its calls are never counted),
/// while the big one stays a call through its slot: counted while it runs
/// as `O2-count` code, then no more once its O3 code (which does not
/// count) took over the slot in the middle of the run.
#[test]
fn o3_code_inlines_small_callees_and_the_others_still_change_tier() {
    common::setup();
    // The profiler prints the counts (`profile.fn`); at a fixed tier it
    // only watches.
    let programs = ["inlining".to_string()];
    let b = common::boot_system(&test_harness::corpus::System {
        programs: &programs,
        tiers: "O2-count",
        jit: Some(&[]),
        profiler: Some(&[]),
        app_args: &["pin=O3:main", "tier-up=O3:big"],
        ..Default::default()
    });
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "no clean power-off"
    );
    let output = output_of(&b, test_harness::corpus::SERVICE);
    check!(
        b,
        output == native_output("inlining"),
        "output differs from native"
    );
    let main = b.log.events_with("jit.compile", "fn", "main").next();
    // Compiled at its first call, before the run called anything: the
    // counts say nothing yet, so size alone chooses (small and rare, which
    // the optimizer inlines; big stays a call).
    check!(
        b,
        main.is_some_and(|e| e.num("level") == Some(3)
            && e.get("chosen_by") == Some("size")
            && e.num("copies") == Some(2)
            && e.num("slot_calls") == Some(1)),
        "main's O3 unit did not carry small and rare (not big) and call big through its slot: {main:?}"
    );
    let calls: u64 = output
        .iter()
        .find_map(|l| l.strip_prefix("calls = "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let counted = |f: &str| {
        b.log
            .events_with("profile.fn", "fn", f)
            .last()
            .and_then(|e| e.num("calls"))
    };
    check!(
        b,
        counted("small") == Some(0),
        "small was called, not inlined: {:?} calls counted",
        counted("small")
    );
    let big = counted("big").unwrap_or(0);
    check!(
        b,
        big > 0 && big < calls,
        "big: {big} of main's {calls} calls counted (0: main does not reach it through its slot; all: its O3 code never took over)"
    );
    let ups: Vec<_> = b.log.events_with("jit.publish", "fn", "big").collect();
    check!(
        b,
        ups.len() == 1 && ups[0].num("level") == Some(3),
        "big was not moved to O3 while main ran: {ups:?}"
    );
}
