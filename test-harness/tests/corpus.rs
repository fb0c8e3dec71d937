//! The conformance corpus (`apps/corpus/`: GCC's C torture tests, see its
//! README): every program runs in the OS at O0 and at O3, all in one boot
//! (one app host runs them in turn, each a complete C program with fresh
//! globals), and must print what its native build prints and exit with the
//! same status.

mod common;

use test_harness::artifacts::corpus_programs;
use test_harness::corpus::{self, Outcome};

#[test]
fn every_corpus_program_runs_like_native_at_o0_and_o3() {
    common::setup();
    let programs = corpus_programs().unwrap();
    assert!(
        programs.len() >= 40,
        "the corpus has only {} programs",
        programs.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("corpus.toml");
    std::fs::write(&manifest, corpus::manifest(&programs, "0,3")).unwrap();
    let b = common::boot_manifest_file(&manifest, "1G");
    let runs = corpus::runs(&b.log);
    let mut failures = Vec::new();
    for program in &programs {
        let want: Outcome = corpus::native(program).unwrap();
        assert_eq!(want.status, 0, "{program}: its native build fails");
        for level in [0, 3] {
            match runs
                .iter()
                .find(|r| &r.program == program && r.level == level)
            {
                None => failures.push(format!("{program} O{level}: never ran")),
                Some(r) if r.outcome != want => failures.push(format!(
                    "{program} O{level}: status {} output {:?}, native: status {} output {:?}",
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
        programs.len() * 2,
        failures.join("\n")
    );
}
