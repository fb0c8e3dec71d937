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

use test_harness::artifacts::INTERPRETABLE_APPS as WHOLLY_INTERPRETED_APPS;

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

/// Every example app that needs no input, interpreted, in one boot.
#[test]
fn the_example_apps_run_interpreted_like_native() {
    common::setup();
    // cstdlib's main uses long double and inlineasm's functions inline
    // assembly: compiled at O0, the rest interpreted.
    let apps: Vec<String> = WHOLLY_INTERPRETED_APPS
        .iter()
        .chain(&["cstdlib", "inlineasm"])
        .map(|a| a.to_string())
        .collect();
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
    // Every run that printed noted its first output once (the time to the
    // program's first output, `app.first_output`).
    let mut printed = Vec::new();
    let (mut file, mut notes) = (String::new(), 0);
    for e in &b.log.events {
        match e.name.as_str() {
            "app.start" => (file, notes) = (e.get("file").unwrap_or("").to_string(), 0),
            "app.first_output" => notes += 1,
            "app.run" => printed.push((file.clone(), notes)),
            _ => {}
        }
    }
    check!(
        b,
        printed.len() == apps.len()
            && printed
                .iter()
                .filter(|(f, _)| f != "echoargs.ll")
                .all(|(_, n)| *n == 1),
        "first-output notes per run: {printed:?}"
    );
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

/// Bytecode that is damaged, cut short, or lowered from other IR is
/// refused before anything runs, with what is wrong; no JIT is needed to
/// find out.
#[test]
fn bad_bytecode_is_refused_before_anything_runs() {
    common::setup();
    let apps = test_harness::artifacts::apps_dir();
    let dir = tempfile::tempdir().unwrap();
    let good = |name: &str| {
        let out = dir.path().join(format!("{name}.good"));
        let status = std::process::Command::new(test_harness::artifacts::irlower_path())
            .arg(apps.join(format!("{name}.ll")))
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out).unwrap()
    };
    let mut damaged = good("fib");
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    let mut cut = good("sieve");
    cut.truncate(cut.len() - 3);
    let other = good("fib");
    for (file, bytes) in [
        ("fib.ll", damaged),
        ("sieve.ll", cut),
        ("checksum.ll", other),
    ] {
        std::fs::copy(apps.join(file), dir.path().join(file)).unwrap();
        std::fs::write(dir.path().join(format!("{file}.bytecode")), bytes).unwrap();
    }
    // No `shutdown` capability: each refusal ends its own app host only,
    // so all three are seen in one boot.
    let mut manifest = String::from(
        "version = 1\nfiles = [\"fib.ll\", \"sieve.ll\", \"checksum.ll\"]\n\n[[service]]\nname = \"supervisor\"\n",
    );
    for (name, file) in [
        ("damaged", "fib.ll"),
        ("cut", "sieve.ll"),
        ("stale", "checksum.ll"),
    ] {
        manifest += &format!(
            "\n[[service]]\nname = \"{name}\"\nfile = \"app\"\npersonality = \"linux\"\nargs = [\"{file}\", \"interp\"]\ncapabilities = [\"initrd\"]\n"
        );
    }
    std::fs::write(dir.path().join("bad.toml"), manifest).unwrap();
    let b = common::boot_manifest_file(&dir.path().join("bad.toml"), "512M");
    for (name, what) in [
        ("damaged", "checksum does not match"),
        ("cut", "truncated"),
        ("stale", "lowered from other IR"),
    ] {
        check!(
            b,
            b.log
                .text
                .lines()
                .any(|l| l.starts_with(&format!("[{name}:err] app: "))
                    && l.contains("its bytecode is refused")
                    && l.contains(what)),
            "{name}: no refusal saying {what:?}"
        );
        check!(
            b,
            b.log
                .events_with("app.start", "from", name)
                .next()
                .is_none(),
            "{name}: the program ran"
        );
    }
}

/// The corpus programs the interpreter runs entirely: those `irlower`
/// lowers without naming a construct it leaves to the compiler.
fn fully_interpretable(programs: &[String]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    programs
        .iter()
        .filter(|p| {
            let out = std::process::Command::new(test_harness::artifacts::irlower_path())
                .arg(test_harness::artifacts::corpus_dir().join(format!("{p}.ll")))
                .arg(dir.path().join("out"))
                .output()
                .unwrap();
            out.status.success()
                && !String::from_utf8_lossy(&out.stderr).contains("not interpretable")
        })
        .cloned()
        .collect()
}

/// With no JIT in the initrd at all, programs the interpreter runs
/// entirely still run, and give native output: the example apps and the
/// corpus programs that need nothing compiled.
#[test]
fn programs_run_interpreted_with_no_jit_in_the_initrd() {
    common::setup();
    let corpus = fully_interpretable(&corpus_programs().unwrap());
    assert!(
        corpus.len() >= 30,
        "only {} corpus programs are fully interpretable",
        corpus.len()
    );
    let apps: Vec<String> = WHOLLY_INTERPRETED_APPS
        .iter()
        .map(|a| a.to_string())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("nojit.toml");
    let all: Vec<String> = apps.iter().chain(&corpus).cloned().collect();
    std::fs::write(&manifest, corpus::manifest_with(&all, "interp", false)).unwrap();
    let b = common::boot_manifest_file(&manifest, "512M");
    check!(
        b,
        b.log
            .events_with("task.start", "name", "jit")
            .next()
            .is_none(),
        "a JIT ran"
    );
    let runs = corpus::runs(&b.log);
    for app in &apps {
        let want = corpus::native_in(&test_harness::artifacts::apps_dir(), app).unwrap();
        let r = runs
            .iter()
            .find(|r| &r.program == app && r.tier == "interp");
        check!(
            b,
            r.is_some_and(|r| r.outcome == want),
            "{app} without a JIT: {:?}, native: {want:?}",
            r.map(|r| &r.outcome)
        );
    }
    check!(
        b,
        b.log
            .events("app.loaded")
            .filter(|e| e.get("jit") == Some("none"))
            .count()
            == all.len(),
        "not every run was laid out by the app host itself"
    );
}
