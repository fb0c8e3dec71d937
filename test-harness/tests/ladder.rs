//! The ladder (`--tier auto`): programs start interpreted, the profiler
//! reads their counters and asks the JIT for tier-ups while they run.
//! Each test is one boot running several programs in one app host.

mod common;

use ipc_abi::tier::Tier;
use test_harness::corpus;
use test_harness::log::Event;

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
/// every example app prints what it prints natively, and O2 and O3 units
/// carry the callees the run called (`inlining.c`).
#[test]
fn hot_functions_climb_every_tier_in_order_and_output_is_native() {
    common::setup();
    let programs: Vec<String> = ["tierup", "hotloop", "inlining"]
        .into_iter()
        .chain(test_harness::artifacts::no_input_apps())
        .map(String::from)
        .collect();
    // Profile-guided O3 is asked for (it is off by default).
    let b = boot(&programs, true, &["pgo=on"]);
    outputs_are_native(&b, &programs);
    // hotloop's main, called once, left the interpreter in the middle of
    // its loop (on-stack replacement), and its output is still native.
    let moved = osr_moves(&b.log);
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
    // mix is called 40000 times, but its loop is what makes it hot.
    check!(
        b,
        b.log
            .events_with("profile.fn", "fn", "mix")
            .any(|e| e.get("tier") == Some("O3")),
        "mix did not reach O3"
    );
    // Inlining by the run's call counts: inlining.c's main, hot by its
    // loop, calls `small` millions of times and never `rare` (both small
    // enough to copy): each of its O2 and O3 units carries `small` alone.
    let main_units: Vec<_> = runs_events(&b.log)
        .into_iter()
        .filter(|(file, _)| file == "inlining.ll")
        .flat_map(|(_, events)| events)
        .filter(|e| {
            ["jit.compile", "jit.osr"].contains(&e.name.as_str())
                && e.get("fn") == Some("main")
                && e.num("level").is_some_and(|l| l >= 2)
        })
        .collect();
    check!(
        b,
        !main_units.is_empty()
            && main_units
                .iter()
                .all(|e| e.get("chosen_by") == Some("calls")
                    && e.num("copies") == Some(1)
                    && e.num("cold") == Some(1)),
        "inlining.c's main: O2/O3 units not chosen by calls (small in, rare out): {main_units:?}"
    );
    // Profile-guided O3: each O3 compile the profiler sent a profile with
    // (functions with a branch or call counted often enough) was guided
    // by it, and the JIT found every profile's branches where the
    // bytecode numbered them (the same lowering on both sides): mix's
    // loop test is weighed, and no profile mismatched.
    let (o3, mismatched) = common::o3_compiles(&b.log);
    check!(
        b,
        mismatched.is_empty(),
        "profiles that did not match: {mismatched:?}"
    );
    let mix_weighed = o3
        .iter()
        .any(|e| e.get("fn") == Some("mix") && e.num("pgo_weighted").is_some_and(|w| w >= 1));
    check!(
        b,
        mix_weighed,
        "mix's O3 compile had no branch weights: {o3:?}"
    );
    let guided = o3
        .iter()
        .filter(|e| e.get("pgo_branches").is_some())
        .count();
    let asked = b
        .log
        .events("tier.up")
        .filter(|e| e.get("to") == Some("O3") && e.get("profile_branches").is_some())
        .count();
    check!(
        b,
        guided >= 1 && guided == asked,
        "{guided} profile-guided O3 compiles, {asked} asked for with a profile"
    );
    // The JIT only when needed: each interpretable program starts without
    // it; the profiler loads it into the JIT when its first function gets
    // hot (before that run's first tier-up), and a program in which
    // nothing gets hot (echoargs) never reaches the JIT at all. cstdlib,
    // which starts at O0 (long double), loads itself.
    for (file, events) in runs_events(&b.log) {
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        let pos = |n: &str| names.iter().position(|x| *x == n);
        let loads = names.iter().filter(|n| **n == "jit.load").count();
        let by_profiler = names.iter().filter(|n| **n == "profiler.jit_load").count();
        let on_demand = events
            .iter()
            .any(|e| e.name == "app.loaded" && e.get("jit") == Some("on-demand"));
        if file == "cstdlib.ll" {
            check!(
                b,
                !on_demand && loads == 1 && by_profiler == 0,
                "{file}: {names:?}"
            );
            continue;
        }
        check!(b, on_demand && loads == by_profiler, "{file}: {names:?}");
        if let Some(up) = pos("tier.up") {
            check!(
                b,
                pos("app.start") < pos("jit.load") && pos("profiler.jit_load") < Some(up),
                "{file}: the JIT was contacted before the program ran or after a tier-up: {names:?}"
            );
        }
        if file == "echoargs.ll" {
            check!(
                b,
                loads == 0,
                "{file}: nothing is hot, yet the JIT was loaded: {names:?}"
            );
        }
        // Time, sampled at the profiler's polls: what is charged (to
        // functions, idle, unsampled) never exceeds the run's segment of
        // the log. (How much of a run is sampled depends on how long the
        // profiler waits for compiles: it samples only between them.)
        let done = events.iter().find(|e| e.name == "profile.done");
        let field = |k: &str| done.and_then(|e| e.num(k)).unwrap_or(0);
        let charged = field("cycles");
        let accounted = charged + field("idle_cycles") + field("unsampled_cycles");
        let (Some(run_us), Some(first), Some(last)) = (
            events
                .iter()
                .find(|e| e.name == "app.run")
                .and_then(|e| e.num("run_us")),
            events.first().and_then(|e| e.num("tsc")),
            events
                .iter()
                .find(|e| e.name == "app.profiled")
                .and_then(|e| e.num("tsc")),
        ) else {
            panic!("{file}: a run without its events: {names:?}");
        };
        let charged_us = charged as u128 * 1_000_000 / field("tsc_hz").max(1) as u128;
        check!(
            b,
            accounted <= last - first,
            "{file}: {charged} cycles ({charged_us} us) charged, {accounted} accounted, the run took {run_us} us (its log segment {} cycles)",
            last - first
        );
        // tierup runs for seconds: its functions are sampled many times
        // (its O3 code names no function: its time is its callers').
        if file == "tierup.ll" {
            let samples: u64 = events
                .iter()
                .filter(|e| e.name == "profile.fn")
                .map(|e| e.num("samples").unwrap_or(0))
                .sum();
            check!(b, samples >= 10, "{file}: {samples} samples");
        }
    }
}

/// The functions whose running frames moved to compiled code (`app.osr`),
/// with the file of the run they were in.
fn osr_moves(log: &test_harness::log::BootLog) -> Vec<(&str, &str)> {
    let mut file = "";
    let mut moved = Vec::new();
    for e in &log.events {
        match e.name.as_str() {
            "app.start" => file = e.get("file").unwrap_or(""),
            "app.osr" => moved.push((file, e.get("fn").unwrap_or("?"))),
            _ => {}
        }
    }
    moved
}

/// Each run's events, by the program's file: after the run before it
/// ended (`app.profiled`: a run's last tier-ups and its table come after
/// its `app.run`) up to its own end.
fn runs_events(log: &test_harness::log::BootLog) -> Vec<(String, Vec<&test_harness::log::Event>)> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for e in &log.events {
        current.push(e);
        if e.name == "app.profiled" {
            let file = current
                .iter()
                .find(|e| e.name == "app.start")
                .and_then(|e| e.get("file"))
                .unwrap_or("?")
                .to_string();
            runs.push((file, std::mem::take(&mut current)));
        }
    }
    runs
}

/// Thresholds from the manifest: with O2 out of reach, fib rises no
/// higher than O1, and every one of its calls (the program counts 24057)
/// is counted once, by the interpreter or its compiled code. At a fixed
/// O2 with counting (`O2-count`) every call that stays a call, and its
/// branch, is counted by compiled code alone.
#[test]
fn thresholds_come_from_the_manifest_and_the_table_matches_the_counts() {
    common::setup();
    // Every example app (fib and sieve first, as the checks below use
    // them).
    let programs: Vec<String> = ["fib", "sieve"]
        .into_iter()
        .chain(
            test_harness::artifacts::no_input_apps()
                .iter()
                .copied()
                .filter(|a| !["fib", "sieve"].contains(a)),
        )
        .map(String::from)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("thresholds.toml");
    // The app host below the JIT and the profiler (priority 0): on this
    // one-CPU machine sieve's whole run (about 140 ms interpreted) is
    // shorter than a compile shared with it, so it would end before its
    // continuation exists; in the background it waits for it instead.
    let text = corpus::System {
        programs: &programs,
        tiers: "auto,O2-count",
        jit: Some(&[]),
        profiler: Some(&["calls=2,3,1000000,2000000", "loops=5,6,1000000,2000000"]),
        app_priority: Some(0),
        ..Default::default()
    }
    .manifest();
    std::fs::write(&manifest, text).unwrap();
    let b = common::boot_manifest_file(&manifest, "1G");
    // sieve's whole work is one loop nest in main, called once: with a
    // loop threshold this low it leaves the interpreter mid-way (its
    // continuation is built before anything else), with the variables it
    // had changed, and its output below is still native.
    let moved = osr_moves(&b.log);
    check!(
        b,
        moved.contains(&("sieve.ll", "main")),
        "sieve's main never moved to compiled code; moves: {moved:?}"
    );
    let compiled_fib = b
        .log
        .events_with("profile.fn", "fn", "fib")
        .find(|e| e.get("tier") == Some("O2"));
    // Its branch too, by its O2 code alone: the counts the interpreter
    // makes (`without_a_jit_auto_runs_interpreted`: the branches 12031
    // times taken, 12026 not), for a later profile-guided O3. The
    // lowering turned fib's second recursive call into a loop
    // (`tailcallelim`): compiled code counts each pass through its
    // header, one per call the loop replaced, so its calls and
    // back-edges together are the program's 24057 calls; less what
    // main's O2 unit inlined (its loop of five calls is unrolled, and a
    // call with a constant argument below 2 folds away: an inlined call
    // is no call and is counted nowhere, taken branches only).
    let count = |k: &str| compiled_fib.and_then(|e| e.num(k)).unwrap_or(0);
    let (calls, backedges, taken, not_taken) = (
        count("calls"),
        count("backedges"),
        count("branches_taken"),
        count("branches_not_taken"),
    );
    let inlined = 24057u64.saturating_sub(calls + backedges);
    check!(
        b,
        inlined <= 5 && not_taken == 12026 && taken == 12031 - inlined,
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
    // The lowering made fib's second recursive call a loop: a call the
    // loop replaced is a pass through its header. Compiled code counts
    // those (O1, cut from the lowered program) or calls (O0, cut from the
    // program as it arrived, with no loop), so each of the program's
    // calls is a call or a back-edge in the table, except that the
    // interpreter counts a loop's back-edges, not its first pass (the
    // entry branch not taken, which the table's not-taken branches
    // include).
    let counted = |e: &Event| {
        let n = |k| e.num(k).unwrap_or(0);
        let (calls, backedges, not_taken) = (n("calls"), n("backedges"), n("branches_not_taken"));
        calls + backedges <= 24057 && calls + backedges + not_taken >= 24057 && calls > 0
    };
    check!(
        b,
        fib.is_some_and(counted),
        "fib's line in the table: {:?}",
        fib.map(|e| e.fields.clone())
    );
    // Every step was taken at its threshold (calls or loops), and fib
    // (24057 calls and back-edges) never reached O2.
    let (calls, loops) = ([2, 3, 1_000_000, 2_000_000], [5, 6, 1_000_000, 2_000_000]);
    let early: Vec<String> = b
        .log
        .events("tier.up")
        .filter(|e| {
            let k = e.get("to").and_then(Tier::parse).and_then(Tier::level);
            k.is_none_or(|k| {
                e.num("calls").unwrap_or(0) < calls[k as usize]
                    && e.num("backedges").unwrap_or(0) < loops[k as usize]
            })
        })
        .map(|e| format!("{:?}", e.fields))
        .collect();
    check!(b, early.is_empty(), "rose before the thresholds: {early:?}");
    let fib_high = b
        .log
        .events_with("tier.up", "fn", "fib")
        .any(|e| matches!(e.get("to"), Some("O2" | "O3")));
    check!(b, !fib_high, "fib rose past O1");
}

/// No JIT in the initrd: under `auto` everything runs interpreted, the
/// profiler counts but asks for nothing, and the output is native.
#[test]
fn without_a_jit_auto_runs_interpreted() {
    common::setup();
    let programs: Vec<String> = test_harness::artifacts::no_input_apps()
        .iter()
        .filter(|a| **a != "cstdlib")
        .map(|a| a.to_string())
        .collect();
    let b = boot(&programs, false, &[]);
    outputs_are_native(&b, &programs);
    // All interpreted. The lowering made fib's second recursive call a
    // loop (`tailcallelim`): its entry test (`n < 2`) is taken at the
    // leaves of each call tree (4596 times) and not taken where the loop
    // is entered (7435); the loop's own test leaves it (taken, 7435) or
    // goes round (not taken: its 4591 back-edges). Each of the program's
    // 24057 calls is a call (12031) or a pass through the loop (an entry
    // or a back-edge: every not-taken branch).
    let fib = b.log.events_with("profile.fn", "fn", "fib").next();
    check!(
        b,
        fib.is_some_and(|e| e.num("calls") == Some(12031)
            && e.num("backedges") == Some(4591)
            && e.num("branches_taken") == Some(4596 + 7435)
            && e.num("branches_not_taken") == Some(7435 + 4591)),
        "fib's counts: {:?}",
        fib.map(|e| e.fields.clone())
    );
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

/// A boot running `programs` under `auto` whose profiler makes the JIT
/// crash at its first compile (`crash-jit=POINT`).
fn boot_with_a_jit_crash(programs: &[String], point: &str) -> test_harness::qemu::Boot {
    let crash = format!("crash-jit={point}");
    let manifest = corpus::System {
        programs,
        tiers: "auto",
        jit: Some(&[ipc_abi::proto::jit::ALLOW_TEST_CRASHES]),
        profiler: Some(&[&crash]),
        ..corpus::System::default()
    }
    .manifest();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.toml");
    std::fs::write(&path, manifest).unwrap();
    common::boot_manifest_file(&path, "1G")
}

/// The run in which the first `tier.failed` happened: the function and
/// tier that failed, and the events after it in that run.
fn after_the_failure<'a>(
    runs: &[(String, Vec<&'a test_harness::log::Event>)],
) -> Option<(String, String, String, Vec<&'a test_harness::log::Event>)> {
    runs.iter().find_map(|(file, events)| {
        let at = events.iter().position(|e| e.name == "tier.failed")?;
        let e = events[at];
        Some((
            file.clone(),
            e.get("fn")?.to_string(),
            e.get("to")?.to_string(),
            events[at + 1..].to_vec(),
        ))
    })
}

/// The tiers function `f` rose to among `events`.
fn rises_of<'a>(events: &[&'a test_harness::log::Event], f: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e.name == "tier.up" && e.get("fn") == Some(f))
        .filter_map(|e| e.get("to"))
        .collect()
}

/// Whether a function rose, and only to tiers above `failed`.
fn rose_past(rises: &[&str], failed: &str) -> bool {
    !rises.is_empty()
        && rises
            .iter()
            .all(|t| Tier::parse(t).is_some() && Tier::parse(t) > Tier::parse(failed))
}

/// The JIT dies in the middle of a tier-up the profiler asked for: the
/// program goes on and prints what it prints natively, the failure is
/// logged once, the supervisor restarts the JIT, the profiler loads the
/// program into it again in the same run and the functions go on rising;
/// the step that killed the JIT is never asked for again.
#[test]
fn a_jit_crash_during_a_tier_up_changes_no_output() {
    common::setup();
    // tierup first: its first compile is the one that crashes, and it
    // runs long enough to see the JIT come back.
    let programs: Vec<String> = ["tierup", "fib", "checksum", "hotloop"]
        .map(String::from)
        .to_vec();
    let b = boot_with_a_jit_crash(&programs, "during");
    outputs_are_native(&b, &programs);
    let failures: Vec<Option<&str>> = b.log.events("tier.failed").map(|e| e.get("why")).collect();
    check!(
        b,
        failures == [Some("jit-died")] && b.log.events("profiler.jit_lost").count() == 1,
        "the crash should be one tier.failed why=jit-died: {failures:?}"
    );
    let runs = runs_events(&b.log);
    let Some((file, f, to, after)) = after_the_failure(&runs) else {
        panic!("no failure");
    };
    let names: Vec<&str> = after.iter().map(|e| e.name.as_str()).collect();
    let reload = after
        .iter()
        .position(|e| e.name == "profiler.jit_load" && e.get("load") == Some("2"));
    check!(
        b,
        reload.is_some_and(|r| after[r..].iter().any(|e| e.name == "tier.up")),
        "{file}: the program was not loaded into the restarted JIT, or nothing rose after: {names:?}"
    );
    check!(
        b,
        !after
            .iter()
            .any(|e| e.name == "tier.up" && e.get("fn") == Some(&f) && e.get("to") == Some(&to)),
        "{file}: {f} was asked for {to} again after that compile killed the JIT"
    );
    // The function itself rises once the JIT is back, past the step that
    // killed it.
    let rises = rises_of(&after, &f);
    check!(
        b,
        rose_past(&rises, &to),
        "{file}: after the crash at {to}, {f} rose to {rises:?}"
    );
}

/// A compile that fails (LLVM reports a fatal error; the JIT answers so,
/// then exits and is restarted) is not asked for again: the function
/// stays where it is, and rises past that tier once its counts reach the
/// next one's threshold.
#[test]
fn a_compile_that_fails_is_not_asked_for_again() {
    common::setup();
    let programs: Vec<String> = ["tierup"].map(String::from).to_vec();
    let b = boot_with_a_jit_crash(&programs, "fatal");
    outputs_are_native(&b, &programs);
    let failures: Vec<Option<&str>> = b.log.events("tier.failed").map(|e| e.get("why")).collect();
    check!(
        b,
        failures == [Some("compile-failed")] && b.log.events("jit.fatal").count() == 1,
        "one failed compile: {failures:?}"
    );
    let runs = runs_events(&b.log);
    let Some((file, f, to, after)) = after_the_failure(&runs) else {
        panic!("no failure");
    };
    let rises = rises_of(&after, &f);
    check!(
        b,
        rose_past(&rises, &to),
        "{file}: after its compile at {to} failed, {f} rose to {rises:?}"
    );
}
