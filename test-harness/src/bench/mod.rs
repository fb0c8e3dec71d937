//! `cargo xtask bench ...`: measurements printed and appended to
//! `docs/benchmarks.md` with the command that made them.
//!
//! Figures come from the guest's own TSC readings in the structured log.
//! Under `-icount shift=0` QEMU advances guest time by exactly 1 ns per
//! instruction, so those figures repeat from run to run; plain TCG figures
//! follow the host's speed and are shown for scale.

use crate::artifacts::{self, workspace_root};
use crate::esp::EspContents;
use crate::log::BootLog;
use crate::qemu::{self, BootConfig, Outcome};
use crate::{host, usage};
use ipc_abi::exit::GuestStatus;
use std::fmt::Write as _;
use std::io::Write as _;

mod converge;
mod interp;
mod pgo;
mod suite;
mod tiers;

const ICOUNT: &str = "shift=0,align=off,sleep=off";

pub fn main(args: &[String]) -> Result<i32, String> {
    match args.first().map(String::as_str) {
        Some("boot") => {
            if let Some(a) = args[1..].iter().find(|a| *a != "--no-icount") {
                return Err(usage::unknown("bench boot", a));
            }
            boot(&args[1..])
        }
        Some("ipc") => usage::no_args("bench ipc", &args[1..]).and_then(|()| ipc()),
        Some("jit") => usage::no_args("bench jit", &args[1..]).and_then(|()| jit()),
        Some("suite") => usage::no_args("bench suite", &args[1..]).and_then(|()| suite::run()),
        Some("interp") => usage::no_args("bench interp", &args[1..]).and_then(|()| interp::run()),
        Some("tiers") => usage::no_args("bench tiers", &args[1..]).and_then(|()| tiers::run()),
        Some("pgo") => usage::no_args("bench pgo", &args[1..]).and_then(|()| pgo::run()),
        Some("converge") => {
            usage::no_args("bench converge", &args[1..]).and_then(|()| converge::run())
        }
        Some(other) => Err(format!("no benchmark {other:?}\n{}", usage::of("bench"))),
        None => Err(usage::of("bench")),
    }
}

/// One phase: name, from-event, to-event (None = TSC 0, machine reset).
const PHASES: &[(&str, Option<&str>, &str)] = &[
    ("firmware (reset to loader entry)", None, "loader.entry"),
    (
        "loader (incl. 10 ms TSC calibration)",
        Some("loader.entry"),
        "loader.exit",
    ),
    (
        "hand-off (loader exit to kernel entry)",
        Some("loader.exit"),
        "kernel.entry",
    ),
    (
        "kernel init (entry to ready)",
        Some("kernel.entry"),
        "kernel.ready",
    ),
    (
        "to first ring-3 instruction",
        Some("kernel.ready"),
        "user.enter",
    ),
    (
        "total (reset to first ring-3 instruction)",
        None,
        "user.enter",
    ),
];

fn boot(args: &[String]) -> Result<i32, String> {
    let with_icount = !args.iter().any(|a| a == "--no-icount");
    let esp_path = artifacts::work_dir().join("bench-esp.img");
    let firmware = prepare_esp(None, &esp_path)?;

    let mut modes = vec![("TCG", None)];
    if with_icount {
        modes.insert(0, ("TCG -icount", Some(ICOUNT.to_string())));
    }
    let mut report = String::new();
    let command = format!(
        "cargo xtask bench boot{}",
        if with_icount { "" } else { " --no-icount" }
    );
    writeln!(report, "\n## Boot phases ({})\n", today()).unwrap();
    writeln!(report, "Command: `{command}` (commit {}).\n", git_commit()).unwrap();
    for (label, icount) in modes {
        let mut cfg = BootConfig::new(esp_path.clone(), firmware.clone());
        cfg.icount = icount.clone();
        let b = qemu::boot(&cfg)?;
        if b.outcome != Outcome::Guest(GuestStatus::Success) {
            return Err(format!("benchmark boot failed\n{}", b.dump()));
        }
        let table = phase_table(&b.log)?;
        let mode = match &icount {
            Some(ic) => format!("{label} (`-icount {ic}`: guest time = instructions, 1 ns each)"),
            None => format!("{label} (guest TSC follows the host clock)"),
        };
        writeln!(
            report,
            "### {mode}\n\n{table}\nHost wall time of the whole QEMU run: {:.2} s.\n",
            b.wall.as_secs_f64()
        )
        .unwrap();
    }
    print!("{report}");
    append_report(&report)?;
    Ok(0)
}

/// seL4's published figure to set ours beside: one-way IPC, hot cache,
/// between address spaces, on a Core i7 4770 (Haswell, x86 32-bit) at
/// 3.4 GHz, from SOSP 2013, as listed on trustworthy.systems' "Microkernel
/// Performance Metrics" page.
const SEL4_ONE_WAY_CYCLES: u64 = 301;

fn ipc() -> Result<i32, String> {
    let manifest = workspace_root().join("test-harness/manifests/bench-ipc.toml");
    let esp_path = artifacts::work_dir().join("bench-ipc-esp.img");
    let firmware = prepare_esp(Some(&manifest), &esp_path)?;
    let mut report = String::new();
    writeln!(report, "\n## IPC ({})\n", today()).unwrap();
    writeln!(
        report,
        "Command: `cargo xtask bench ipc` (commit {}).\n",
        git_commit()
    )
    .unwrap();
    writeln!(
        report,
        "Guest TSC ticks per operation, mean over 2000 iterations after 200 warm-up ones \
         (`services/testsvc/src/bin/ipcbench.rs`). Under `-icount shift=0` a tick is one guest \
         instruction, so these are instruction counts, not cycles of a real CPU.\n"
    )
    .unwrap();
    writeln!(
        report,
        "| operation | TCG -icount (instructions) | TCG (host-clock ticks) |\n| --- | ---: | ---: |"
    )
    .unwrap();
    let mut columns = Vec::new();
    for icount in [Some(ICOUNT.to_string()), None] {
        let mut cfg = BootConfig::new(esp_path.clone(), firmware.clone());
        cfg.icount = icount;
        let b = qemu::boot(&cfg)?;
        if b.outcome != Outcome::Guest(GuestStatus::Success) {
            return Err(format!("benchmark boot failed\n{}", b.dump()));
        }
        let e = b
            .log
            .first("bench.ipc")
            .ok_or_else(|| format!("no bench.ipc event\n{}", b.dump()))?
            .clone();
        columns.push(e);
    }
    for (key, label) in [
        ("null_syscall", "null syscall (`CapInfo`)"),
        (
            "call_reply_empty",
            "IPC call + reply, empty message (in registers)",
        ),
        (
            "call_reply_256",
            "IPC call + reply, 256-byte message (through the buffers)",
        ),
        ("context_switch", "context switch (yield between two tasks)"),
    ] {
        let v: Vec<String> = columns
            .iter()
            .map(|e| e.num(key).map_or("?".into(), |n| n.to_string()))
            .collect();
        writeln!(report, "| {label} | {} | {} |", v[0], v[1]).unwrap();
    }
    let round_trip = columns[0].num("call_reply_empty").unwrap_or(0);
    let fast = columns[0].num("fast_path").unwrap_or(0);
    let ipc_syscalls = columns[0].num("ipc_syscalls").unwrap_or(0);
    let in_registers = columns[0].num("in_registers").unwrap_or(0);
    let null_syscalls = columns[0].num("null_syscalls").unwrap_or(0);
    let queries = columns[0].num("query_fast_path").unwrap_or(0);
    writeln!(
        report,
        "\n{fast} of the {ipc_syscalls} IPC syscalls of the two call loops took the kernel's IPC fast \
         path (`microkernel/src/state/fastpath.rs`; the `-icount` boot), and {in_registers} messages \
         went in registers (`CallShort`/`ReplyRecvShort`: the empty messages and their replies; \
         a 256-byte message goes through the buffers). {queries} of the {null_syscalls} null \
         syscalls took the query fast path (`microkernel/src/state/querypath.rs`).\n\n\
         For scale: seL4 does a one-way IPC in {SEL4_ONE_WAY_CYCLES} cycles on a Core i7 4770 \
         (SOSP 2013; a round trip is two of those, about {} cycles); L4Re publishes about 1,200 \
         instructions per call + reply and about 148 per syscall, instructions retired like ours. \
         Our empty round trip costs {round_trip} guest instructions, {:.1}x seL4's round-trip cycles. \
         Where they go: `docs/architecture.md`, \"The IPC fast path\".",
        2 * SEL4_ONE_WAY_CYCLES,
        round_trip as f64 / (2 * SEL4_ONE_WAY_CYCLES) as f64
    )
    .unwrap();
    print!("{report}");
    append_report(&report)?;
    Ok(0)
}

/// Boots `manifest` (in `test-harness/manifests`) with `memory`, once
/// under `-icount` and once under plain TCG.
fn boot_twice(manifest: &str, memory: &str) -> Result<[crate::qemu::Boot; 2], String> {
    let path = workspace_root()
        .join("test-harness/manifests")
        .join(format!("{manifest}.toml"));
    let esp_path = artifacts::work_dir().join(format!("bench-{manifest}-esp.img"));
    let firmware = prepare_esp(Some(&path), &esp_path)?;
    let mut boots = Vec::new();
    for icount in [Some(ICOUNT.to_string()), None] {
        let mut cfg = BootConfig::new(esp_path.clone(), firmware.clone());
        cfg.icount = icount;
        cfg.memory = memory.into();
        let b = qemu::boot(&cfg)?;
        if b.outcome != Outcome::Guest(GuestStatus::Success) {
            return Err(format!("benchmark boot failed\n{}", b.dump()));
        }
        boots.push(b);
    }
    let [a, b]: [crate::qemu::Boot; 2] = boots.try_into().map_err(|_| "two boots")?;
    Ok([a, b])
}

fn jit() -> Result<i32, String> {
    let boots = boot_twice("jit-selftest", "1G")?;
    let elf_path = artifacts::linux_dir().join("jit");
    let elf = std::fs::read(&elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let loaded: u64 = kerncore::elf::plan(&elf, 0x1000..0x7fff_ffff_f000)
        .map_err(|e| format!("jit ELF: {e}"))?
        .segments
        .iter()
        .map(|s| s.mem_size)
        .sum();
    let mut report = String::new();
    writeln!(report, "\n## JIT server ({})\n", today()).unwrap();
    writeln!(
        report,
        "Command: `cargo xtask bench jit` (commit {}).\n",
        git_commit()
    )
    .unwrap();
    writeln!(
        report,
        "JIT server (`services/jit`, LLVM 19 components core, orcjit, x86, passes, irreader, bitreader, mcjit, \
         linked statically with glibc): {:.1} MiB on disk, {:.1} MiB loaded.\n",
        elf.len() as f64 / (1 << 20) as f64,
        loaded as f64 / (1 << 20) as f64
    )
    .unwrap();
    writeln!(
        report,
        "Self-test: parse + verify + `default<On>` + object emission of a two-function module \
         (`fib`, `sum_of_fibs`), inside the OS under the Linux personality. Guest microseconds; under \
         `-icount shift=0` one microsecond is 1000 guest instructions.\n"
    )
    .unwrap();
    writeln!(report, "| step | TCG -icount (guest us) | TCG (guest us) | object bytes |\n| --- | ---: | ---: | ---: |").unwrap();
    let init = |b: &crate::qemu::Boot| {
        b.log
            .first("jit.ready")
            .and_then(|e| e.num("init_us"))
            .map_or("?".into(), |v| v.to_string())
    };
    writeln!(
        report,
        "| LLVM initialization | {} | {} | |",
        init(&boots[0]),
        init(&boots[1])
    )
    .unwrap();
    for level in 0..=3u64 {
        let of = |b: &crate::qemu::Boot| {
            b.log
                .events("jit.compile")
                .find(|e| e.num("level") == Some(level))
                .cloned()
        };
        let (a, c) = (of(&boots[0]), of(&boots[1]));
        let us = |e: &Option<crate::log::Event>| {
            e.as_ref()
                .and_then(|e| e.num("guest_us"))
                .map_or("?".into(), |v| v.to_string())
        };
        let bytes = a
            .as_ref()
            .and_then(|e| e.num("object_bytes"))
            .map_or("?".into(), |v| v.to_string());
        writeln!(
            report,
            "| compile at O{level} | {} | {} | {bytes} |",
            us(&a),
            us(&c)
        )
        .unwrap();
    }
    apps_report(&mut report)?;
    print!("{report}");
    append_report(&report)?;
    Ok(0)
}

/// Every example app that computes something (the others test features).
const BENCH_APPS: &[&str] = crate::artifacts::COMPUTING_APPS;

/// Boots a generated manifest (JIT server, app host, and optionally the
/// native build at top priority so it runs alone) under `-icount`.
fn boot_generated(manifest: &str) -> Result<crate::qemu::Boot, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, manifest).map_err(|e| e.to_string())?;
    let esp = dir.path().join("esp.img");
    let firmware = prepare_esp(Some(&path), &esp)?;
    let mut cfg = BootConfig::new(esp, firmware);
    cfg.memory = "1G".into();
    cfg.icount = Some(ICOUNT.into());
    // A benchmark boot runs one program at several tiers, tierup
    // interpreted among them (minutes of guest time).
    cfg.timeout = std::time::Duration::from_secs(900);
    let b = qemu::boot(&cfg)?;
    if b.outcome != Outcome::Guest(GuestStatus::Success) {
        return Err(format!("benchmark boot failed\n{}", b.dump()));
    }
    Ok(b)
}

fn app_manifest(app: &str, levels: &str, native: bool, crash: Option<&str>) -> String {
    app_manifest_with(app, levels, native, crash, &[])
}

/// As [`app_manifest`], with more arguments for the JIT (`cpu=baseline`).
fn app_manifest_with(
    app: &str,
    levels: &str,
    native: bool,
    crash: Option<&str>,
    jit_args: &[&str],
) -> String {
    let mut m =
        format!("version = 1\nfiles = [\"{app}.ll\"]\n\n[[service]]\nname = \"supervisor\"\n\n");
    if native {
        m += &format!(
            "[[service]]\nname = \"native\"\nfile = \"{app}-native\"\npersonality = \"linux\"\npriority = 3\n\n"
        );
    }
    m += "[[service]]\nname = \"jit\"\npersonality = \"linux\"\nrestart = \"on-failure\"\n";
    let mut args: Vec<&str> = jit_args.to_vec();
    if crash.is_some() {
        // The JIT honours test-only crash requests only when told to.
        args.push(ipc_abi::proto::jit::ALLOW_TEST_CRASHES);
    }
    if !args.is_empty() {
        m += &format!("args = {args:?}\n");
    }
    m += "\n";
    let crash = crash.map_or(String::new(), |c| format!(", \"{c}\""));
    m += &format!(
        "[[service]]\nname = \"app\"\nfile = \"app\"\npersonality = \"linux\"\n\
         args = [\"{app}.ll\", \"{levels}\"{crash}]\ncapabilities = [\"initrd\", \"shutdown\"]\n"
    );
    m
}

fn apps_report(report: &mut String) -> Result<(), String> {
    writeln!(
        report,
        "\nApp run time per tier (JIT code in the app host: `main` plus flushing its output, minus \
         the time its first calls waited for the JIT to compile) against \
         the same C built with `clang-19 -O3 -static` and run as a Linux-personality task in the same \
         boot, at top priority so it runs alone (its whole life: glibc start-up, `main`, exit). Under \
         `-icount shift=0`, guest microseconds = thousands of guest instructions. Ratio = tier time / \
         native time (one run). Console output is slow under emulation (the kernel writes the UART a \
         byte at a time), so output-heavy programs compare output more than code.\n"
    )
    .unwrap();
    writeln!(
        report,
        "| app | native | O0 | O1 | O2 | O3 | O0 ratio | O1 ratio | O2 ratio | O3 ratio | O3 baseline | baseline ratio | AVX gain |"
    )
    .unwrap();
    writeln!(
        report,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    let run_us = |b: &crate::qemu::Boot, app: &str, level: u64| {
        b.log
            .events("app.run")
            .find(|e| e.num("level") == Some(level))
            .map(|run| run.num("run_us").unwrap_or(0) - run.num("compile_wait_us").unwrap_or(0))
            .ok_or_else(|| format!("{app}: no run at O{level}\n{}", b.dump()))
    };
    let mut avx = None;
    let mut compiles = String::new();
    let mut phases = String::new();
    for app in BENCH_APPS.iter().chain(crate::artifacts::VECTOR_APPS) {
        let b = boot_generated(&app_manifest(app, "0,1,2,3", true, None))?;
        let hz = b.log.tsc_hz().ok_or("no tsc_hz")? as f64;
        let start = b
            .log
            .events_with("task.start", "name", "native")
            .next()
            .and_then(|e| e.num("tsc"));
        let end = b
            .log
            .events_with("task.exit", "name", "native")
            .next()
            .and_then(|e| e.num("tsc"));
        let native_us = match (start, end) {
            (Some(s), Some(e)) => (e - s) as f64 * 1e6 / hz,
            _ => return Err(format!("{app}: no native timing\n{}", b.dump())),
        };
        let mut cells = Vec::new();
        let mut ratios = Vec::new();
        for level in 0..=3u64 {
            let us = run_us(&b, app, level)?;
            cells.push(us.to_string());
            ratios.push(format!("{:.2}", us as f64 / native_us));
        }
        // The same code for baseline x86-64 (`cpu=baseline`), in a boot
        // of its own: what the CPU's extensions (AVX, AVX2, FMA) bring.
        let base = boot_generated(&app_manifest_with(app, "3", false, None, &["cpu=baseline"]))?;
        let base_us = run_us(&base, app, 3)?;
        let o3_us = run_us(&b, app, 3)?;
        avx = avx.or_else(|| {
            b.log.first("jit.ready").map(|e| {
                (
                    e.get("avx").unwrap_or("?").to_string(),
                    e.get("avx2").unwrap_or("?").to_string(),
                )
            })
        });
        writeln!(
            report,
            "| {app} | {:.0} | {} | {} | {base_us} | {:.2} | {:.2}x |",
            native_us,
            cells.join(" | "),
            ratios.join(" | "),
            base_us as f64 / native_us,
            base_us as f64 / o3_us.max(1) as f64
        )
        .unwrap();
        // Each function is compiled at its first call, once per level.
        let mut functions: Vec<String> = Vec::new();
        for e in b.log.events("jit.compile") {
            let f = e.get("fn").unwrap_or("?").to_string();
            if !functions.contains(&f) {
                functions.push(f);
            }
        }
        for f in functions {
            let cells: Vec<String> = (0..=3u64)
                .map(|level| {
                    b.log
                        .events("jit.compile")
                        .find(|e| e.get("fn") == Some(f.as_str()) && e.num("level") == Some(level))
                        .map_or("-".into(), |e| {
                            format!(
                                "{} ({} B)",
                                e.num("guest_us").unwrap_or(0),
                                e.num("code_bytes").unwrap_or(0)
                            )
                        })
                })
                .collect();
            writeln!(compiles, "| {app} | `{f}` | {} |", cells.join(" | ")).unwrap();
        }
        // Where the cheapest compile after the session's first went.
        if let Some(e) = b
            .log
            .events("jit.compile")
            .skip(1)
            .min_by_key(|e| e.num("guest_us").unwrap_or(u64::MAX))
        {
            let n = |k: &str| e.num(k).map_or("?".into(), |v| v.to_string());
            writeln!(
                phases,
                "| {app} | `{}` O{} | {} | {} | {} | {} |",
                e.get("fn").unwrap_or("?"),
                n("level"),
                n("guest_us"),
                n("cut_us"),
                n("optimize_us"),
                n("codegen_us")
            )
            .unwrap();
        }
    }
    if let Some((avx, avx2)) = avx {
        writeln!(
            report,
            "\nO0..O3: code for this CPU (`jit.ready avx={avx} avx2={avx2}`, QEMU `-cpu max`); \
             O3 baseline: the same app at O3 with the JIT started with `cpu=baseline` (x86-64 with \
             SSE2 only, like the native `clang -O3` build), in a boot of its own; AVX gain = \
             baseline time / O3 time."
        )
        .unwrap();
    }
    writeln!(
        report,
        "\nCompile time per function per tier, from the same boots: one function per compile unit, \
         at its first call (parse-free: the module is parsed once at load; each unit is cloned, cut \
         down, optimized with `default<On>`, code-generated by the app session's pipeline for the level and linked by its LLJIT, both made at the level's first compile). Guest \
         microseconds (= thousands of instructions under `-icount shift=0`), code bytes in \
         brackets.\n\n| app | function | O0 | O1 | O2 | O3 |\n| --- | --- | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    report.push_str(&compiles);
    writeln!(
        report,
        "\nWhere a compile's time goes: each app's cheapest compile after its session's first \
         (which also makes the level's pipeline and LLJIT), split into cutting the unit from the program \
         (a clone of the whole module, cut down), optimizing it, and generating and linking its \
         code (`jit.compile`'s `cut_us`, `optimize_us`, `codegen_us`; the rest is counting \
         instrumentation, publishing and the request itself). Guest microseconds.\n\n\
         | app | compile | total | cut | optimize | codegen + link |\n| --- | --- | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    report.push_str(&phases);

    let b = boot_generated(&app_manifest("fib", "2", false, Some("crash-idle")))?;
    let hz = b.log.tsc_hz().ok_or("no tsc_hz")? as f64;
    let crashed = b
        .log
        .events_with("task.exit", "name", "jit")
        .find(|e| e.get("reason") == Some("fault"))
        .and_then(|e| e.num("tsc"))
        .ok_or("no JIT crash")?;
    let after = |event: &str| {
        b.log
            .events(event)
            .filter_map(|e| e.num("tsc"))
            .find(|&t| t > crashed)
            .map(|t| (t - crashed) as f64 * 1e3 / hz)
    };
    let (ready, served) = (after("jit.serving"), after("jit.load"));
    writeln!(
        report,
        "\nJIT crash to the restarted JIT's first served request (fib at O2, `crash-idle`): {:.1} ms \
         (of which {:.1} ms until the restarted server was serving again: the supervisor's 50 ms backoff, \
         loading a 40 MB ELF, initializing LLVM), guest time under `-icount`.",
        served.ok_or("no served request after the crash")?,
        ready.ok_or("no restarted JIT")?
    )
    .unwrap();
    Ok(())
}

/// Builds everything and writes an ESP at `esp` whose initrd is built from
/// `manifest` (the default initrd when `None`).
fn prepare_esp(
    manifest: Option<&std::path::Path>,
    esp: &std::path::Path,
) -> Result<crate::host::Firmware, String> {
    let firmware = host::ensure_tools()?;
    let art = artifacts::build_all()?;
    let initrd = match manifest {
        Some(m) => {
            let out = esp.with_extension("initrd");
            artifacts::build_initrd(m, &art.services_dir, &out)?;
            out
        }
        None => art.initrd.clone(),
    };
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    EspContents {
        loader: read(&art.loader)?,
        kernel: Some(read(&art.kernel)?),
        initrd: Some(read(&initrd)?),
        cmdline: None,
    }
    .write(esp)?;
    Ok(firmware)
}

fn append_report(report: &str) -> Result<(), String> {
    let path = workspace_root().join("docs/benchmarks.md");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(report.as_bytes()).map_err(|e| e.to_string())?;
    eprintln!("xtask: appended to {}", path.display());
    Ok(())
}

fn phase_table(log: &BootLog) -> Result<String, String> {
    let hz = log.tsc_hz().ok_or("no tsc_hz in the log")?;
    let mut t = String::from("| phase | guest TSC cycles | guest ms |\n| --- | ---: | ---: |\n");
    for (name, from, to) in PHASES {
        let start = match from {
            Some(p) => log.phase_tsc(p).ok_or(format!("phase {p} missing"))?,
            None => 0,
        };
        let end = log.phase_tsc(to).ok_or(format!("phase {to} missing"))?;
        let cycles = end.saturating_sub(start);
        writeln!(
            t,
            "| {name} | {cycles} | {:.3} |",
            cycles as f64 * 1000.0 / hz as f64
        )
        .unwrap();
    }
    writeln!(
        t,
        "\nTSC frequency as measured by the loader: {:.1} MHz.",
        hz as f64 / 1e6
    )
    .unwrap();
    Ok(t)
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn today() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// How long the boot's `native` task lived (guest microseconds), from its
/// `task.start` to its `task.exit`.
fn native_us(b: &crate::qemu::Boot) -> Option<f64> {
    let hz = b.log.tsc_hz()? as f64;
    let tsc = |event: &str| {
        b.log
            .events_with(event, "name", "native")
            .next()
            .and_then(|e| e.num("tsc"))
    };
    Some((tsc("task.exit")? - tsc("task.start")?) as f64 * 1e6 / hz)
}

/// The time to the first output of each run in `log`, by the run's tier
/// (its first `app.first_output` after its `app.start`), in microseconds,
/// `-` for a run that printed nothing.
fn first_outputs(log: &BootLog) -> impl Fn(&str) -> String {
    let mut first = std::collections::HashMap::new();
    let mut tier = String::new();
    for e in &log.events {
        match e.name.as_str() {
            "app.start" => tier = e.get("tier").unwrap_or("").to_string(),
            "app.first_output" => {
                first
                    .entry(tier.clone())
                    .or_insert(e.num("us").unwrap_or(0));
            }
            _ => {}
        }
    }
    move |t: &str| {
        first
            .get(t)
            .map_or("-".to_string(), |us: &u64| us.to_string())
    }
}
