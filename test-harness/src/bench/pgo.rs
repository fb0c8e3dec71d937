//! `cargo xtask bench pgo`: profile-guided O3 against O3 without
//! profiles. Per app (the computing apps and `apps/branchy.c`, written
//! for it), two series of two boots of the whole system under `-icount`,
//! each series on a fresh snapshot disk: the profiler with `pgo=on` in
//! one, `pgo=off` in the other, and in both with the default thresholds
//! up to O2 and O3 one call (one back-edge) after O2: every function that
//! reaches O2 reaches O3 (by default many stay at O2, where no profile
//! applies), and its profile covers the interpreter's span and its O1
//! code's, as by default. Boot 1 climbs and saves a snapshot; boot 2 runs
//! the snapshot's code, and its run time is what is compared.

use super::converge::{boot, figures, system};
use super::{BENCH_APPS, append_report, git_commit, native_us, today};
use crate::{artifacts, disk};
use std::fmt::Write as _;

/// The default steps to O2, then O3 one call (one back-edge) later.
const PROFILER_ARGS: [&str; 2] = ["calls=10,100,1000,1001", "loops=1000,10000,100000,100001"];

/// The apps written to show what profiles do.
const PGO_APPS: &[&str] = &["branchy"];

/// One series' figures: boot 2's run time, its functions by tier, and
/// boot 1's profile-guided compiles (branches weighed, compiles).
struct Series {
    run_us: f64,
    tiers: [u64; 5],
    weighed: u64,
    guided: usize,
}

fn series(app: &str, pgo: &str, native: &mut Option<f64>) -> Result<Series, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let disk_path = dir.path().join("disk.img");
    disk::create(&disk_path)?;
    let pgo_arg = format!("pgo={pgo}");
    let args = [PROFILER_ARGS[0], PROFILER_ARGS[1], &pgo_arg];
    let mut guided = (0, 0);
    let mut last = None;
    for n in 1..=2 {
        let manifest = dir.path().join(format!("boot{n}.toml"));
        let with_native = n == 1 && native.is_none();
        std::fs::write(&manifest, system(app, with_native, &args)).map_err(|e| e.to_string())?;
        let (b, size) = boot(&manifest, Some(&disk_path))?;
        if with_native {
            *native = native_us(&b);
        }
        if n == 1 {
            let compiles: Vec<u64> = b
                .log
                .events("jit.compile")
                .filter_map(|e| e.num("pgo_weighted"))
                .collect();
            guided = (compiles.iter().sum(), compiles.len());
        }
        last = Some(figures(format!("{n}"), &b.log, size)?);
    }
    let f = last.ok_or("no boot")?;
    Ok(Series {
        run_us: f.run_us,
        tiers: f.tiers,
        weighed: guided.0,
        guided: guided.1,
    })
}

pub fn run() -> Result<i32, String> {
    artifacts::build_all()?;
    let mut report = String::new();
    writeln!(report, "\n## Profile-guided O3 ({})\n", today()).unwrap();
    writeln!(
        report,
        "Command: `cargo xtask bench pgo` (commit {}). Per app, two series of two boots of the \
         whole system (`auto`, fs service, a fresh snapshot disk per series) under `-icount \
         shift=0`, the profiler started with `{} {}` (the default steps to O2, then O3 right \
         after: every function that reaches O2 reaches O3, with the counts of its interpreted \
         start and its O1 code) and `pgo=on` or `pgo=off`. Boot 1 climbs and \
         saves a snapshot; the figures are boot 2's run of the snapshot's code (`run_us`, guest \
         microseconds = thousands of guest instructions). Guided: boot 1's O3 compiles that got \
         a profile, and the branches weighed in them. Gain = run without profiles / run with \
         them.\n",
        git_commit(),
        PROFILER_ARGS[0],
        PROFILER_ARGS[1],
    )
    .unwrap();
    writeln!(
        report,
        "| app | native us | O3 us | O3 + profile us | gain | O3 / native | O3 + profile / native | guided (branches) | interp/O0/O1/O2/O3 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    )
    .unwrap();
    for app in BENCH_APPS.iter().chain(PGO_APPS) {
        let mut native = None;
        let plain = series(app, "off", &mut native)?;
        let guided = series(app, "on", &mut native)?;
        let n = native.unwrap_or(f64::NAN);
        let gain = plain.run_us / guided.run_us.max(1.0);
        writeln!(
            report,
            "| {app} | {n:.0} | {:.0} | {:.0} | {gain:.3}x | {:.2}x | {:.2}x | {} ({}) | {} |",
            plain.run_us,
            guided.run_us,
            plain.run_us / n,
            guided.run_us / n,
            guided.guided,
            guided.weighed,
            guided.tiers.map(|t| t.to_string()).join("/"),
        )
        .unwrap();
        eprintln!(
            "xtask: {app}: O3 {:.0} us, with profile {:.0} us ({gain:.3}x), native {n:.0} us",
            plain.run_us, guided.run_us
        );
    }
    append_report(&report)?;
    print!("{report}");
    Ok(0)
}
