//! `cargo xtask bench interp`: the interpreter tier against native code.
//!
//! In the OS, under `-icount`, one boot per example app runs its native
//! build (alone, at top priority) and the app interpreted, then at O0:
//! interpreted run time / native time, and how long O0's first calls wait
//! for the JIT (the interpreter's first calls wait for nothing). On the
//! host, the same program interpreted by `bcrun` and by LLVM's own
//! interpreter (`lli -force-interpreter`) against its native build (the
//! best of several runs each).

use super::{
    BENCH_APPS, app_manifest, append_report, boot_generated, first_outputs, git_commit, native_us,
    today,
};
use crate::artifacts;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn run() -> Result<i32, String> {
    artifacts::build_all()?;
    let bcrun_path = artifacts::build_bcrun()?;
    let mut report = String::new();
    writeln!(report, "\n## Interpreter tier ({})\n", today()).unwrap();
    writeln!(
        report,
        "Command: `cargo xtask bench interp` (commit {}). In the OS under `-icount shift=0` (guest \
         microseconds = thousands of guest instructions): the app interpreted (`--tier interp`, \
         `main` plus exit handlers and flushing) and its native `clang-19 -O3 -static` build run \
         alone in the same boot (its whole task life); `O0 wait` is how long the O0 run's first \
         calls waited for the JIT, what the interpreter saves before the program's first \
         instruction; `first output` is the time from the start of a run to the program's first \
         call of a C output function (`app.first_output`), interpreted and at O0. On the host: the best of {HOST_RUNS} runs of `bcrun` (the same interpreter, \
         the host's C library) and of `lli-19 -force-interpreter` against the native build.\n",
        git_commit()
    )
    .unwrap();
    writeln!(
        report,
        "| app | native us | interp us | interp / native | O0 us | O0 wait us | first output interp us | first output O0 us | host native ms | host bcrun ms | bcrun / native | host lli ms | lli / native |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    for app in BENCH_APPS {
        let b = boot_generated(&app_manifest(app, "interp,O0", true, None))?;
        let native_us =
            native_us(&b).ok_or_else(|| format!("{app}: no native timing\n{}", b.dump()))?;
        let run = |tier: &str| {
            b.log
                .events("app.run")
                .find(|e| e.get("tier") == Some(tier))
                .ok_or_else(|| format!("{app}: no {tier} run\n{}", b.dump()))
        };
        let interp = run("interp")?;
        let interp_us =
            interp.num("run_us").unwrap_or(0) - interp.num("compile_wait_us").unwrap_or(0);
        let o0 = run("O0")?;
        let o0_wait = o0.num("compile_wait_us").unwrap_or(0);
        let o0_us = o0.num("run_us").unwrap_or(0) - o0_wait;
        let first = first_outputs(&b.log);
        let (first_interp, first_o0) = (first("interp"), first("O0"));

        let apps = artifacts::apps_dir();
        let native = host_best(Command::new(apps.join(format!("{app}-native"))))?;
        let mut bcrun = Command::new(&bcrun_path);
        bcrun.arg(apps.join(format!("{app}.ll")));
        let bcrun = host_best(bcrun)?;
        let mut lli = Command::new("lli-19");
        lli.arg("-force-interpreter")
            .arg(apps.join(format!("{app}.ll")));
        let lli = host_best(lli).ok();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        writeln!(
            report,
            "| {app} | {native_us:.0} | {interp_us} | {:.1} | {o0_us} | {o0_wait} | {first_interp} | {first_o0} | {:.2} | {:.2} | {:.1} | {} | {} |",
            interp_us as f64 / native_us,
            ms(native),
            ms(bcrun),
            ms(bcrun) / ms(native),
            lli.map_or("fails".into(), |d| format!("{:.2}", ms(d))),
            lli.map_or("-".into(), |d| format!("{:.1}", ms(d) / ms(native))),
        )
        .unwrap();
    }
    writeln!(
        report,
        "\n`lli` fails where it meets an intrinsic its interpreter lacks (`llvm.fmuladd` in \
         spectral-norm and n-body). Native times on the host are a few milliseconds, process \
         start-up included, so the host ratios are rough."
    )
    .unwrap();
    print!("{report}");
    append_report(&report)?;
    Ok(0)
}

const HOST_RUNS: usize = 5;

/// The shortest of [`HOST_RUNS`] runs of `cmd` (output discarded); an
/// error if it fails.
fn host_best(mut cmd: Command) -> Result<Duration, String> {
    let mut best = Duration::MAX;
    for _ in 0..HOST_RUNS {
        let started = Instant::now();
        let status = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        let took = started.elapsed();
        if !status.success() {
            return Err(format!("{cmd:?} failed: {status}"));
        }
        best = best.min(took);
    }
    Ok(best)
}
