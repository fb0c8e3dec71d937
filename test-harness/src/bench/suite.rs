//! `cargo xtask bench suite`: the conformance corpus (`apps/corpus/`) in
//! the OS interpreted, at O0 and at O3 against its native builds: a pass table (output
//! and exit status equal to native) and run time against native.
//!
//! All programs run in one app host in one boot under `-icount` (as the
//! corpus test does); each native build runs alone in a boot of its own
//! (supervisor and the program, no JIT), so its time is its own. Two
//! boots run at once: `-icount` time does not depend on the host's load.

use super::{ICOUNT, append_report, git_commit, today};
use crate::artifacts::{self, corpus_programs};
use crate::corpus::{self, Outcome};
use crate::esp::EspContents;
use crate::host;
use crate::qemu::{self, BootConfig, Outcome as BootOutcome};
use ipc_abi::exit::GuestStatus;
use std::fmt::Write as _;

pub fn run() -> Result<i32, String> {
    let programs = corpus_programs()?;
    let built = Built::new()?;
    let batch = built.boot(&corpus::manifest(&programs, "interp,O0,O3"))?;
    let runs = corpus::runs(&batch.log);
    let native_us = native_times(&built, &programs)?;

    let mut report = String::new();
    writeln!(report, "\n## Conformance corpus ({})\n", today()).unwrap();
    writeln!(
        report,
        "Command: `cargo xtask bench suite` (commit {}). {} programs from GCC's C torture tests \
         (`apps/corpus/README.md`), each run in the OS interpreted and at O0 and O3 (all in one app host, one boot) \
         and natively (`clang-19 -O3 -static`, on the host for the expected output and status, and \
         in the OS alone in a boot of its own for its time). Pass = output and exit status equal to \
         native. Times under `-icount shift=0` (guest microseconds = thousands of guest \
         instructions): interp/O0/O3 = the program's `main` and exit handlers, compile waits excluded; \
         native = the whole task life, including glibc start-up and exit, which dominates these \
         small programs, so ratios below 1 mean the program's own work is smaller than a process's \
         start-up.\n",
        git_commit(),
        programs.len()
    )
    .unwrap();
    writeln!(
        report,
        "| program | interp | O0 | O3 | native us | interp us | O0 us | O3 us | interp ratio | O0 ratio | O3 ratio |\n| --- | :-: | :-: | :-: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    let mut passed = [0usize; 3];
    for (program, native) in programs.iter().zip(&native_us) {
        let want: Outcome = corpus::native(program)?;
        let mut cells = Vec::new();
        let mut times = Vec::new();
        let mut ratios = Vec::new();
        for (i, tier) in ["interp", "O0", "O3"].into_iter().enumerate() {
            match runs
                .iter()
                .find(|r| &r.program == program && r.tier == tier)
            {
                Some(r) => {
                    let ok = r.outcome == want;
                    passed[i] += ok as usize;
                    cells.push(if ok { "pass" } else { "FAIL" }.to_string());
                    times.push(r.run_us.to_string());
                    ratios.push(format!("{:.2}", r.run_us as f64 / *native as f64));
                }
                None => {
                    cells.push("FAIL (never ran)".into());
                    times.push("-".into());
                    ratios.push("-".into());
                }
            }
        }
        writeln!(
            report,
            "| `{program}` | {} | {native} | {} | {} |",
            cells.join(" | "),
            times.join(" | "),
            ratios.join(" | ")
        )
        .unwrap();
    }
    writeln!(
        report,
        "\nPassed: {}/{n} interpreted (functions the interpreter cannot run at O0), {}/{n} at O0, {}/{n} at O3.",
        passed[0],
        passed[1],
        passed[2],
        n = programs.len()
    )
    .unwrap();
    print!("{report}");
    append_report(&report)?;
    Ok(if passed == [programs.len(); 3] { 0 } else { 1 })
}

/// Each program's native build alone in a boot: its task's life in guest
/// microseconds.
fn native_times(built: &Built, programs: &[String]) -> Result<Vec<u64>, String> {
    let times = std::sync::Mutex::new(vec![Err(String::new()); programs.len()]);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(p) = programs.get(i) else { return };
                    let t = native_time(built, p);
                    times.lock().unwrap()[i] = t;
                }
            });
        }
    });
    times.into_inner().unwrap().into_iter().collect()
}

fn native_time(built: &Built, program: &str) -> Result<u64, String> {
    let b = built.boot(&format!(
        "version = 1\n\n[[service]]\nname = \"supervisor\"\n\n[[service]]\nname = \"native\"\n\
         file = \"{program}-native\"\npersonality = \"linux\"\nshutdown_on_exit = true\n"
    ))?;
    let hz = b.log.tsc_hz().ok_or("no tsc_hz")? as f64;
    let tsc = |event: &str| {
        b.log
            .events_with(event, "name", "native")
            .next()
            .and_then(|e| e.num("tsc"))
    };
    match (tsc("task.start"), tsc("task.exit")) {
        (Some(s), Some(e)) if e > s => Ok(((e - s) as f64 * 1e6 / hz) as u64),
        _ => Err(format!("{program}: no native timing\n{}", b.dump())),
    }
}

/// Everything built once, for many boots.
struct Built {
    firmware: crate::host::Firmware,
    artifacts: artifacts::Artifacts,
}

impl Built {
    fn new() -> Result<Built, String> {
        Ok(Built {
            firmware: host::ensure_tools()?,
            artifacts: artifacts::build_all()?,
        })
    }

    /// Boots `manifest` under `-icount`. A batch whose app host died in a
    /// program still counts (its runs are checked one by one); a boot
    /// that never started a program or a native task is an error.
    fn boot(&self, manifest: &str) -> Result<qemu::Boot, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("suite.toml");
        std::fs::write(&path, manifest).map_err(|e| e.to_string())?;
        let initrd = dir.path().join("suite.initrd");
        artifacts::build_initrd(&path, &self.artifacts.services_dir, &initrd)?;
        let read =
            |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let esp = dir.path().join("esp.img");
        EspContents {
            loader: read(&self.artifacts.loader)?,
            kernel: Some(read(&self.artifacts.kernel)?),
            initrd: Some(read(&initrd)?),
            cmdline: None,
        }
        .write(&esp)?;
        let mut cfg = BootConfig::new(esp, self.firmware.clone());
        cfg.memory = "1G".into();
        cfg.icount = Some(ICOUNT.into());
        let b = qemu::boot(&cfg)?;
        let started = b.log.first("app.start").is_some()
            || b.log
                .events_with("task.start", "name", "native")
                .next()
                .is_some();
        if b.outcome != BootOutcome::Guest(GuestStatus::Success) && !started {
            return Err(format!("benchmark boot failed\n{}", b.dump()));
        }
        Ok(b)
    }
}
