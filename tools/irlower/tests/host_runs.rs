//! The lowering and the interpreter together, on the host, without
//! booting anything: every example app and every corpus program is
//! lowered and interpreted by `bcrun` (every function interpreted, the
//! host's C library called natively) and must print what its native build
//! prints and exit with the same status; the only other outcome allowed is
//! a refusal (status 125) naming a construct the interpreter does not run,
//! which the OS compiles instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use test_harness::artifacts;

/// Runs `exe` (with `bcrun` in front when `ll` is given) in a scratch
/// directory with empty stdin; returns output and status (128 + signal).
fn run(exe: &Path, ll: Option<&Path>) -> (Vec<u8>, i32, String) {
    let scratch = tempfile_dir();
    let mut cmd = match ll {
        Some(ll) => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_bcrun"));
            c.arg(ll);
            c
        }
        None => Command::new(exe),
    };
    let out: Output = cmd
        .current_dir(&scratch)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    use std::os::unix::process::ExitStatusExt;
    let status = out
        .status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    (
        out.stdout,
        status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tempfile_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "bcrun-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// (interpreted like native, refused as not interpretable) for the
/// programs in `dir`; panics on any run that differs from native.
fn check_dir(dir: &Path, names: &[String]) -> (usize, Vec<String>) {
    let mut same = 0;
    let mut refused = Vec::new();
    let mut wrong = Vec::new();
    for name in names {
        let ll = dir.join(format!("{name}.ll"));
        let native = dir.join(format!("{name}-native"));
        let (want_out, want_status, _) = run(&native, None);
        let (out, status, err) = run(&native, Some(&ll));
        if status == 125 && err.contains("is not interpretable") {
            refused.push(format!("{name}: {}", err.trim()));
        } else if out == want_out && status == want_status {
            same += 1;
        } else {
            wrong.push(format!(
                "{name}: status {status} (native {want_status}), output {} bytes (native {}), stderr {err:?}",
                out.len(),
                want_out.len()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "interpreted runs differ from native:\n{}",
        wrong.join("\n")
    );
    (same, refused)
}

fn c_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "c").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    v.sort();
    v
}

#[test]
fn example_apps_and_the_corpus_interpreted_on_the_host_run_like_native() {
    artifacts::build_apps().unwrap();
    let root = artifacts::workspace_root().join("apps");
    // The example apps that read input or need other files are run with
    // them by the OS tests; here every app runs with empty stdin.
    let apps: Vec<String> = c_names(&root)
        .into_iter()
        .filter(|n| !["missing", "input", "inlineasm"].contains(&n.as_str()))
        .collect();
    let (same, refused) = check_dir(&artifacts::apps_dir(), &apps);
    // cstdlib.c uses long double (x86_fp80): compiled, not interpreted.
    assert!(
        same >= apps.len() - 1,
        "only {same} of {} apps interpreted: {refused:?}",
        apps.len()
    );
    let corpus = artifacts::corpus_programs().unwrap();
    let (same, refused) = check_dir(&artifacts::corpus_dir(), &corpus);
    eprintln!(
        "corpus: {same} interpreted like native, {} left to the compiler:\n{}",
        refused.len(),
        refused.join("\n")
    );
    // 45 today; the rest use long double, complex float vectors, inline
    // assembly, frame addresses or i128 arguments (compiled instead).
    assert!(
        same >= 45,
        "only {same} of {} corpus programs interpreted",
        corpus.len()
    );
}

#[test]
fn a_bad_program_is_refused_with_a_message() {
    let dir = tempfile_dir();
    let ll = dir.join("bad.ll");
    std::fs::write(&ll, "this is not IR").unwrap();
    let (_, status, err) = run(Path::new("/nonexistent"), Some(&ll));
    assert_eq!(status, 2);
    assert!(err.contains("bad.ll"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The bytecode's function table and globals are the program's own, in
/// the program's order: the app host pairs them with the JIT's by
/// position. The optimizer that runs before lowering must not add any
/// (`instcombine` would turn `printf("...\n")` into `puts` with a string
/// global of its own) or drop any.
#[test]
fn lowering_keeps_the_programs_functions_and_globals() {
    artifacts::build_apps().unwrap();
    let dirs = [
        (
            artifacts::apps_dir(),
            c_names(&artifacts::workspace_root().join("apps")),
        ),
        (
            artifacts::corpus_dir(),
            artifacts::corpus_programs().unwrap(),
        ),
    ];
    for (dir, names) in dirs {
        for name in names {
            let path = dir.join(format!("{name}.ll"));
            let ir = std::fs::read(&path).unwrap();
            let parsed = irlower::llvm::Ir::parse(&ir).unwrap();
            let defined = |values: Vec<irlower::llvm::Value>| -> Vec<String> {
                values
                    .into_iter()
                    .filter(|v| !v.is_declaration())
                    .map(|v| v.name())
                    .collect()
            };
            let functions = defined(parsed.functions());
            let globals = defined(parsed.globals());
            let module = irlower::lower(&ir).unwrap();
            let lowered: Vec<String> = module.functions.iter().map(|f| f.name.clone()).collect();
            assert_eq!(lowered, functions, "{name}: functions");
            let lowered: Vec<String> = module.globals.iter().map(|g| g.name.clone()).collect();
            assert_eq!(lowered, globals, "{name}: globals");
        }
    }
}

/// The layout the interpreter runs fastest: an edge into a block that only
/// returns its phi returns at once (no move into the phi, no jump to the
/// `ret`), and a loop's back-edge stub comes right after the conditional
/// branch that takes it (the loop goes round without a jump to it).
#[test]
fn returns_on_edges_and_back_edges_after_their_branch() {
    use bytecode::format::{Body, Inst};
    let ir = r#"
declare i64 @g(i64)
define i64 @f(i64 %n) {
entry:
  %small = icmp slt i64 %n, 2
  br i1 %small, label %done, label %more
more:
  %x = call i64 @g(i64 %n)
  br label %done
done:
  %r = phi i64 [ %n, %entry ], [ %x, %more ]
  ret i64 %r
}
define i64 @loop(i64 %n) {
entry:
  br label %head
head:
  %i = phi i64 [ 0, %entry ], [ %next, %head ]
  %s = phi i64 [ 0, %entry ], [ %t, %head ]
  %y = call i64 @g(i64 %i)
  %t = add i64 %s, %y
  %next = add i64 %i, 1
  %again = icmp slt i64 %next, %n
  br i1 %again, label %head, label %out
out:
  ret i64 %t
}
"#;
    let module = irlower::lower(ir.as_bytes()).unwrap();
    let code = |name: &str| match &module
        .functions
        .iter()
        .find(|f| f.name == name)
        .unwrap()
        .body
    {
        Body::Code { code, .. } => code.clone(),
        other => panic!("{name}: {other:?}"),
    };
    let f = code("f");
    // Each way out is its own return: no instruction jumps to another
    // position to return.
    assert!(
        !f.iter().any(|i| matches!(i, Inst::Jump { .. })),
        "f: {f:#?}"
    );
    assert!(f.iter().filter(|i| matches!(i, Inst::Ret { .. })).count() >= 2);
    let l = code("loop");
    let at = l
        .iter()
        .position(|i| matches!(i, Inst::CmpBranch { .. }))
        .expect("the loop's test");
    let stub_end = l[at + 1..]
        .iter()
        .position(|i| !matches!(i, Inst::Move { .. }))
        .map(|k| at + 1 + k);
    assert!(
        matches!(
            (&l[at], stub_end.map(|k| &l[k])),
            (Inst::CmpBranch { then, .. }, Some(Inst::BackJump { .. })) if *then as usize == at + 1
        ),
        "loop: {l:#?}"
    );
}
