//! Example C programs arrive as LLVM IR, are compiled by the JIT server
//! inside the OS at each tier, and run in the app host: their output must
//! equal the same C compiled natively on the host with `clang-19 -O3`.

mod common;

use common::{boot_app, output_of};
use ipc_abi::exit::GuestStatus;
use test_harness::artifacts::apps_dir;
use test_harness::qemu::Outcome;

fn native_output(app: &str) -> Vec<String> {
    let out = std::process::Command::new(apps_dir().join(format!("{app}-native")))
        .output()
        .unwrap();
    assert!(out.status.success());
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
        let loaded = b.log.events_with("app.loaded", "from", app).next();
        check!(
            b,
            loaded
                .is_some_and(|e| e.num("level") == Some(level as u64)
                    && e.num("code_bytes").unwrap_or(0) > 0),
            "{app} O{level}: the JIT did not link code into the app's region"
        );
        let got = output_of(&b, app);
        check!(
            b,
            got == want,
            "{app} O{level}: output differs from native\n got: {got:?}\nwant: {want:?}"
        );
        check!(
            b,
            b.log
                .events_with("app.exit", "from", app)
                .any(|e| e.num("code") == Some(0)),
            "{app} O{level}: no exit status 0"
        );
    }
}

#[test]
fn fib_runs_like_native_at_every_tier() {
    runs_like_native("fib");
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
        .find(|l| l.contains("the JIT refused missing.ll"));
    check!(
        b,
        refusal.is_some_and(|l| l.contains("qsort")),
        "the refusal does not name the missing function"
    );
    check!(
        b,
        b.log.first("app.loaded").is_none(),
        "the program was loaded anyway"
    );
    check!(
        b,
        output_of(&b, "missing")
            .iter()
            .all(|l| !l.starts_with("1 2 3")),
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
            .contains("the JIT refused broken.ll: IR does not parse"),
        "no refusal with LLVM's message"
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
/// prints.
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
    check!(
        b,
        b.log
            .events_with("app.loaded", "from", "fib")
            .any(|e| e.num("attempt") == Some(2)),
        "{point}: the app did not reach the restarted JIT"
    );
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
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "no clean power-off"
    );
    check!(
        b,
        output_of(&b, "echoargs") == ["arg 1: first", "arg 2: second arg"],
        "arguments did not reach main"
    );
    check!(
        b,
        b.log
            .events_with("app.exit", "from", "echoargs")
            .any(|e| e.num("code") == Some(2)),
        "the exit status was not reported"
    );
}

#[test]
fn a_tier_up_while_the_program_runs_switches_through_the_dispatch_slots() {
    common::setup();
    let b = common::boot_app_with_args("tierup", "tierup.ll", &["0", "tier-up=3"]);
    check!(
        b,
        b.outcome == Outcome::Guest(GuestStatus::Success),
        "no clean power-off"
    );
    let published = b.log.first("jit.publish").and_then(|e| e.num("tsc"));
    let loaded = b.log.first("app.loaded").and_then(|e| e.num("tsc"));
    let finished = b.log.first("app.run").and_then(|e| e.num("tsc"));
    check!(
        b,
        b.log
            .first("jit.publish")
            .is_some_and(|e| e.num("level") == Some(3) && e.num("functions") == Some(3)),
        "the JIT did not publish three functions at O3"
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
