//! The conformance corpus (`apps/corpus/`: GCC's C torture tests, see its
//! README): every program runs in the OS interpreted, at O0 and at O3, all
//! in one boot (one app host runs them in turn, each a complete C program
//! with fresh globals), and must print what its native build prints and
//! exit with the same status. Interpreted, a function the interpreter
//! cannot run starts at O0 (mixed mode) and says so.

mod common;

use test_harness::artifacts::corpus_programs;
use test_harness::corpus::{self, Outcome};

const TIERS: [&str; 3] = ["interp", "O0", "O3"];

#[test]
fn every_corpus_program_runs_like_native_interpreted_and_at_o0_and_o3() {
    common::setup();
    let programs = corpus_programs().unwrap();
    assert!(
        programs.len() >= 40,
        "the corpus has only {} programs",
        programs.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("corpus.toml");
    std::fs::write(&manifest, corpus::manifest(&programs, "interp,O0,O3")).unwrap();
    let b = common::boot_manifest_file(&manifest, "1G");
    let runs = corpus::runs(&b.log);
    let mut failures = Vec::new();
    for program in &programs {
        let want: Outcome = corpus::native(program).unwrap();
        assert_eq!(want.status, 0, "{program}: its native build fails");
        for tier in TIERS {
            match runs
                .iter()
                .find(|r| &r.program == program && r.tier == tier)
            {
                None => failures.push(format!("{program} {tier}: never ran")),
                Some(r) if r.outcome != want => failures.push(format!(
                    "{program} {tier}: status {} output {:?}, native: status {} output {:?}",
                    r.outcome.status, r.outcome.output, want.status, want.output
                )),
                Some(_) => {}
            }
        }
    }
    check!(
        b,
        failures.is_empty(),
        "{} of {} runs differ from native:\n{}",
        failures.len(),
        programs.len() * TIERS.len(),
        failures.join("\n")
    );
}

/// Every example app that needs no input, interpreted, in one boot
/// (`tierup.c`, a billion-step loop written to be compiled, takes minutes
/// interpreted under emulation: the interpreter is ~90x native today).
#[test]
fn the_example_apps_run_interpreted_like_native() {
    common::setup();
    let apps: Vec<String> = [
        "fib",
        "sieve",
        "checksum",
        "nbody",
        "spectralnorm",
        "fannkuch",
        "lazy",
        "libc",
        "cstdlib",
        "echoargs",
    ]
    .map(String::from)
    .to_vec();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("apps.toml");
    std::fs::write(&manifest, corpus::manifest(&apps, "interp")).unwrap();
    let b = common::boot_manifest_file(&manifest, "1G");
    let runs = corpus::runs(&b.log);
    for app in &apps {
        let want = corpus::native_in(&test_harness::artifacts::apps_dir(), app).unwrap();
        let r = runs
            .iter()
            .find(|r| &r.program == app && r.tier == "interp");
        check!(
            b,
            r.is_some_and(|r| r.outcome == want),
            "{app} interpreted: {:?}, native: {want:?}",
            r.map(|r| &r.outcome)
        );
    }
    // Only what the interpreter cannot run was compiled, each with its event.
    let compiled: Vec<&str> = b
        .log
        .events("jit.compile")
        .filter_map(|e| e.get("fn"))
        .collect();
    let fell_back: Vec<&str> = b
        .log
        .events("app.interp")
        .filter_map(|e| e.get("fn"))
        .collect();
    check!(
        b,
        compiled.iter().all(|f| fell_back.contains(f)) && fell_back.contains(&"main"),
        "compiled {compiled:?}, fell back {fell_back:?} (cstdlib's main uses long double)"
    );
}
