//! The ladder (`--tier auto`): programs start interpreted, the profiler
//! reads their counters and asks the JIT for tier-ups while they run.
//! Each test is one boot running several programs in one app host.

mod common;

use test_harness::corpus;

/// The example apps that need no input (cstdlib's `main` uses long double
/// and starts at O0; the rest start interpreted).
const APPS: &[&str] = &[
    "fib",
    "sieve",
    "checksum",
    "nbody",
    "spectralnorm",
    "fannkuch",
    "lazy",
    "libc",
    "echoargs",
    "mixed",
    "cstdlib",
];

fn boot(programs: &[String], jit: bool, profiler_args: &[&str]) -> test_harness::qemu::Boot {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("auto.toml");
    std::fs::write(
        &manifest,
        corpus::manifest_auto(programs, jit, profiler_args),
    )
    .unwrap();
    common::boot_manifest_file(&manifest, "1G")
}

/// Every program's output and status under `auto` are its native build's.
fn outputs_are_native(b: &test_harness::qemu::Boot, programs: &[String]) {
    let runs = corpus::runs(&b.log);
    for p in programs {
        let want = corpus::native_in(&test_harness::artifacts::apps_dir(), p).unwrap();
        let r = runs.iter().find(|r| &r.program == p && r.tier == "auto");
        check!(
            b,
            r.is_some_and(|r| r.outcome == want),
            "{p} under auto: {:?}, native: {want:?}",
            r.map(|r| &r.outcome)
        );
    }
}

/// With the default thresholds: `tierup.c`'s hot function climbs every
/// tier in order, each step once its calls reached that step's threshold,
/// and every example app prints what it prints natively.
#[test]
fn hot_functions_climb_every_tier_in_order_and_output_is_native() {
    common::setup();
    let programs: Vec<String> = ["tierup", "hotloop"]
        .into_iter()
        .chain(APPS.iter().copied())
        .map(String::from)
        .collect();
    let b = boot(&programs, true, &[]);
    outputs_are_native(&b, &programs);
    // hotloop's main, called once, left the interpreter in the middle of
    // its loop (on-stack replacement), and its output is still native.
    let mut file = "";
    let mut moved = Vec::new();
    for e in &b.log.events {
        match e.name.as_str() {
            "app.start" => file = e.get("file").unwrap_or(""),
            "app.osr" => moved.push((file, e.get("fn").unwrap_or("?"))),
            _ => {}
        }
    }
    check!(
        b,
        moved.contains(&("hotloop.ll", "main")),
        "hotloop's main never moved to compiled code; moves: {moved:?}"
    );
    let steps: Vec<(String, String, u64)> = b
        .log
        .events_with("tier.up", "fn", "step")
        .map(|e| {
            (
                e.get("from").unwrap_or("?").to_string(),
                e.get("to").unwrap_or("?").to_string(),
                e.num("calls").unwrap_or(0),
            )
        })
        .collect();
    let ladder = [
        ("interp", "O0", 10),
        ("O0", "O1", 100),
        ("O1", "O2", 1_000),
        ("O2", "O3", 10_000),
    ];
    check!(
        b,
        steps.len() == ladder.len()
            && steps
                .iter()
                .zip(ladder)
                .all(|((from, to, calls), (f, t, at_least))| from == f
                    && to == t
                    && *calls >= at_least),
        "step's tier-ups: {steps:?}, expected {ladder:?} (calls at least)"
    );
    // mix is called 4000 times, but its loop is what makes it hot.
    check!(
        b,
        b.log
            .events_with("profile.fn", "fn", "mix")
            .any(|e| e.get("tier") == Some("O3")),
        "mix did not reach O3"
    );
}

/// Thresholds from the manifest: with O2 out of reach, fib rises no
/// higher than O1, and every one of its calls is counted (the
/// interpreter's and its compiled code's), so the profiler's table says
/// exactly what the program itself counts (24057). At a fixed O2 with
/// counting (`O2-count`) every call is counted by compiled code alone.
#[test]
fn thresholds_come_from_the_manifest_and_the_table_matches_the_counts() {
    common::setup();
    let programs = vec!["fib".to_string(), "sieve".to_string()];
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("thresholds.toml");
    std::fs::write(
        &manifest,
        corpus::manifest_profiled(
            &programs,
            "auto,O2-count",
            true,
            &["calls=2,3,1000000,2000000", "loops=5,6,1000000,2000000"],
        ),
    )
    .unwrap();
    let b = common::boot_manifest_file(&manifest, "1G");
    let compiled_fib = b
        .log
        .events_with("profile.fn", "fn", "fib")
        .find(|e| e.get("tier") == Some("O2"));
    check!(
        b,
        compiled_fib.is_some_and(|e| e.num("calls") == Some(24057)),
        "fib at O2-count: {:?}",
        compiled_fib.map(|e| e.fields.clone())
    );
    outputs_are_native(&b, &programs);
    check!(
        b,
        b.log
            .events("profiler.ready")
            .any(|e| e.get("calls") == Some("2/3/1000000/2000000")
                && e.get("loops") == Some("5/6/1000000/2000000")),
        "the profiler did not take the manifest's thresholds"
    );
    let fib = b
        .log
        .events_with("profile.fn", "fn", "fib")
        .find(|e| e.get("tier") != Some("O2"));
    check!(
        b,
        fib.is_some_and(|e| e.num("calls") == Some(24057)),
        "fib's line in the table: {:?}",
        fib.map(|e| e.fields.clone())
    );
    let too_high: Vec<String> = b
        .log
        .events("tier.up")
        .filter(|e| matches!(e.get("to"), Some("O2" | "O3")))
        .map(|e| format!("{:?}", e.fields))
        .collect();
    check!(
        b,
        too_high.is_empty(),
        "rose past the thresholds: {too_high:?}"
    );
}

/// No JIT in the initrd: under `auto` everything runs interpreted, the
/// profiler counts but asks for nothing, and the output is native.
#[test]
fn without_a_jit_auto_runs_interpreted() {
    common::setup();
    let programs: Vec<String> = APPS
        .iter()
        .filter(|a| **a != "cstdlib")
        .map(|a| a.to_string())
        .collect();
    let b = boot(&programs, false, &[]);
    outputs_are_native(&b, &programs);
    check!(
        b,
        b.log.events("tier.up").next().is_none()
            && b.log
                .events_with("task.start", "name", "jit")
                .next()
                .is_none(),
        "a tier-up without a JIT"
    );
    check!(
        b,
        b.log
            .events("profiler.watch")
            .filter(|e| e.get("jit") == Some("none"))
            .count()
            == programs.len(),
        "the profiler should have watched every run, with no JIT"
    );
}

/// `cargo xtask run` with no arguments boots the whole system on a bundled
/// program that starts interpreted, climbs the tiers while it runs, prints
/// the profiler's table, and powers off with status 0.
#[test]
fn the_default_run_shows_the_ladder() {
    common::setup();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("run")
        .current_dir(test_harness::artifacts::workspace_root())
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{console}\n{stderr}");
    let log = test_harness::log::BootLog::from_text(console.to_string());
    let to_o3: Vec<&str> = log
        .events("tier.up")
        .filter(|e| e.get("to") == Some("O3"))
        .filter_map(|e| e.get("fn"))
        .collect();
    assert!(
        to_o3.contains(&"step") && to_o3.contains(&"mix"),
        "no climb to O3: {to_o3:?}\n{console}"
    );
    assert!(
        console.contains("[app] acc = ") && console.contains("[profiler] profile: step "),
        "{console}"
    );
    assert!(
        log.events("app.start")
            .any(|e| e.get("tier") == Some("auto"))
    );
}

/// The JIT dies in the middle of a tier-up the profiler asked for: the
/// program goes on at the tiers it has and prints what it prints natively,
/// the failure is logged once, the supervisor restarts the JIT, and later
/// runs climb the ladder again.
#[test]
fn a_jit_crash_during_a_tier_up_changes_no_output() {
    common::setup();
    let programs: Vec<String> = ["fib", "sieve", "checksum", "hotloop"]
        .map(String::from)
        .to_vec();
    let files: Vec<String> = programs.iter().map(|p| format!("{p}.ll")).collect();
    let manifest = format!(
        r#"version = 1
files = {files:?}

[[service]]
name = "supervisor"

[[service]]
name = "jit"
personality = "linux"
restart = "on-failure"
args = ["{allow}"]

[[service]]
name = "profiler"
args = ["crash-jit"]

[[service]]
name = "{service}"
file = "app"
personality = "linux"
args = ["{list}", "auto"]
capabilities = ["initrd", "shutdown"]
shutdown_on_exit = true
"#,
        allow = ipc_abi::proto::jit::ALLOW_TEST_CRASHES,
        service = corpus::SERVICE,
        list = files.join(","),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.toml");
    std::fs::write(&path, manifest).unwrap();
    let b = common::boot_manifest_file(&path, "1G");
    outputs_are_native(&b, &programs);
    let order: Vec<(&str, Option<&str>)> = b
        .log
        .events
        .iter()
        .filter(|e| e.name == "tier.failed" || e.name == "tier.up")
        .map(|e| (e.name.as_str(), e.get("why")))
        .collect();
    let died = order
        .iter()
        .position(|&(n, why)| n == "tier.failed" && why == Some("jit-died"));
    check!(
        b,
        died.is_some()
            && order.iter().filter(|(n, _)| *n == "tier.failed").count() == 1
            && b.log.events("profiler.jit_lost").count() == 1,
        "the crash should be one tier.failed why=jit-died: {order:?}"
    );
    check!(
        b,
        died.is_some_and(|d| order[d + 1..].iter().any(|(n, _)| *n == "tier.up")),
        "no tier-up after the JIT came back: {order:?}"
    );
}
