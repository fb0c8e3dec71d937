//! `cargo xtask`: build, boot, test and measure the system. Every
//! subcommand and its options are in `test_harness::usage` (`cargo xtask
//! --help` prints them).

use ipc_abi::tier::Tier;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;
use test_harness::artifacts::{self, Artifacts};
use test_harness::esp::EspContents;
use test_harness::qemu::{self, BootConfig};
use test_harness::{bench, host, toolchain, usage};

mod app;
mod export;

use app::{AppOptions, app_manifest};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str);
    if matches!(command, None | Some("--help" | "-h" | "help")) {
        println!("{}", usage::all());
        return ExitCode::from(if command.is_some() { 0 } else { 2 });
    }
    let known = ["run", "test", "lint", "build", "setup", "bench", "export"];
    if !known.contains(&command.unwrap_or("")) {
        eprintln!("xtask: unknown subcommand {:?}\n{}", args[0], usage::all());
        return ExitCode::from(2);
    }
    // The pinned toolchain's targets and components, and the host tools,
    // before anything builds (`setup` does both itself).
    if command != Some("setup")
        && let Err(e) = toolchain::ensure(&artifacts::workspace_root(), false)
            .and_then(|()| host::ensure_tools().map(drop))
    {
        eprintln!("xtask: {e}");
        return ExitCode::from(2);
    }
    let rest = &args[1..];
    let result = match command {
        Some("run") => run(rest),
        Some("test") => test(rest),
        Some("lint") => usage::no_args("lint", rest).and_then(|()| lint()),
        Some("build") => usage::no_args("build", rest)
            .and_then(|()| build())
            .map(|a| {
                println!(
                    "loader: {}\nkernel: {}\ninitrd: {}",
                    a.loader.display(),
                    a.kernel.display(),
                    a.initrd.display()
                );
                0
            }),
        Some("setup") => setup(rest),
        Some("export") => export::export(rest),
        _ => bench::main(rest),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}

/// Installs what the build needs: the pinned Rust toolchain, components
/// and targets, then the host tools. `--dry-run` only says what it would
/// install of the Rust part.
fn setup(args: &[String]) -> Result<i32, String> {
    let dry_run = match args {
        [] => false,
        [a] if a == "--dry-run" => true,
        [a, ..] => return Err(usage::unknown("setup", a)),
    };
    toolchain::ensure(&artifacts::workspace_root(), dry_run)?;
    if !dry_run {
        host::ensure_tools()?;
        println!("xtask: the toolchain rust-toolchain.toml pins and the host tools are in place");
    }
    Ok(0)
}

/// The missing-function check, on the host before anything boots: the
/// names the program's IR uses and does not define, against the app
/// host's exports (listed in its ELF section `EXPORTS_SECTION`, so the
/// list is the binary's own). The JIT's check in the guest stays the
/// authority; this one only makes a refusal take no boot.
fn refused_on_the_host(ir_path: &std::path::Path) -> Result<Option<String>, String> {
    use object::{Object, ObjectSection};
    let ir = std::fs::read_to_string(ir_path).map_err(|e| format!("{}: {e}", ir_path.display()))?;
    let app = artifacts::linux_dir().join("app");
    let elf = std::fs::read(&app).map_err(|e| format!("{}: {e}", app.display()))?;
    let file = object::File::parse(&*elf).map_err(|e| format!("{}: {e}", app.display()))?;
    let section = ipc_abi::proto::jit::EXPORTS_SECTION;
    let Some(names) = file.section_by_name(section).and_then(|s| s.data().ok()) else {
        return Err(format!("{}: no {section} section", app.display()));
    };
    let exported: std::collections::HashSet<&[u8]> =
        names.split(|&b| b == 0).filter(|n| !n.is_empty()).collect();
    let missing: Vec<String> = initrd::functions::external_names(&ir)
        .into_iter()
        .filter(|n| !exported.contains(n.as_bytes()))
        .map(|n| {
            let mut shown = String::new();
            let _ = ipc_abi::proto::jit::write_shown_name(&mut shown, &n);
            shown
        })
        .collect();
    Ok((!missing.is_empty()).then(|| {
        format!(
            "refused before it runs: it uses what the C library here does not provide: {}",
            missing.join(", ")
        )
    }))
}

/// One line on an `--app` run: how long the program ran (interpreted or
/// not) and the tiers its functions were compiled at.
fn app_summary(boot: &qemu::Boot) -> String {
    let run_ms = boot
        .log
        .events("app.run")
        .filter_map(|e| e.num("run_us"))
        .sum::<u64>()
        / 1000;
    let mut per_tier = [0u32; 4];
    for e in boot.log.events("jit.compile") {
        if let Some(l) = e.num("level").filter(|l| *l < 4) {
            per_tier[l as usize] += 1;
        }
    }
    let tiers: Vec<String> = per_tier
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(l, n)| format!("{n} at O{l}"))
        .collect();
    let tiers = if tiers.is_empty() {
        "none".to_string()
    } else {
        tiers.join(", ")
    };
    let tier_of = |t: &str| boot.log.events("app.run").any(|e| e.get("tier") == Some(t));
    let ups = boot.log.events("tier.up").count();
    let how = if tier_of("auto") {
        let s = if ups == 1 { "" } else { "s" };
        format!(" from the interpreter up ({ups} tier-up{s})")
    } else if tier_of("interp") {
        " interpreted".to_string()
    } else {
        String::new()
    };
    let fell_back = boot.log.events("app.interp").count();
    let fell_back = if fell_back > 0 {
        format!(" ({fell_back} the interpreter cannot run)")
    } else {
        String::new()
    };
    format!(
        "ran {run_ms} ms{how}, functions compiled: {tiers}{fell_back}, boot {:.1} s",
        boot.wall.as_secs_f64()
    )
}

/// How long `cargo xtask run` lets a boot run (`--timeout` changes it).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

fn build() -> Result<Artifacts, String> {
    artifacts::build_all()
}

fn value<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<&'a String, String> {
    it.next()
        .ok_or_else(|| format!("{flag} needs a value\n{}", usage::of("run")))
}

fn run(args: &[String]) -> Result<i32, String> {
    let firmware = host::ensure_tools()?;
    let mut memory = "256M".to_string();
    let mut memory_default = true;
    let mut app: Option<PathBuf> = None;
    // `None`: `auto`, the profiler's ladder (the default).
    let mut tier = None;
    let mut program_args: Vec<String> = Vec::new();
    let mut initrd: Option<PathBuf> = None;
    let mut manifest: Option<PathBuf> = None;
    let mut cmdline = None;
    let mut extra = Vec::new();
    let mut opts = AppOptions::default();
    let mut timeout = None;
    // The snapshot disk (`None`: --no-disk).
    let mut disk = Some(artifacts::work_dir().join("snapshot-disk.img"));
    let mut fresh_disk = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--memory" => {
                memory = value(&mut it, a)?.clone();
                memory_default = false;
            }
            "--initrd" => initrd = Some(value(&mut it, a)?.into()),
            "--manifest" => manifest = Some(value(&mut it, a)?.into()),
            "--cmdline" => cmdline = Some(value(&mut it, a)?.clone()),
            "--qemu-arg" => extra.push(value(&mut it, a)?.clone()),
            "--timeout" => {
                let secs: u64 = value(&mut it, a)?
                    .parse()
                    .map_err(|_| "--timeout takes whole seconds")?;
                timeout = Some(Duration::from_secs(secs));
            }
            "--disk" => disk = Some(PathBuf::from(value(&mut it, a)?)),
            "--no-disk" => disk = None,
            "--fresh-disk" => fresh_disk = true,
            "--app" => app = Some(PathBuf::from(value(&mut it, a)?)),
            "--stdin" => opts.stdin = Some(PathBuf::from(value(&mut it, a)?)),
            "--file" => opts.files.push(value(&mut it, a)?.clone()),
            "--tier" => {
                tier = match value(&mut it, a)?.as_str() {
                    "auto" => None,
                    t => Some(Tier::parse(t).ok_or("--tier takes auto, interp, O0, O1, O2 or O3")?),
                };
            }
            "--cflags" => opts
                .cflags
                .extend(value(&mut it, a)?.split_whitespace().map(String::from)),
            "--verbose" => opts.verbose = true,
            "--" => {
                program_args.extend(it.by_ref().cloned());
            }
            // Compiler flags a C program commonly needs, passed through.
            flag if ["-D", "-I", "-W", "-U", "-std="]
                .iter()
                .any(|p| flag.starts_with(p)) =>
            {
                opts.cflags.push(flag.to_string())
            }
            other => return Err(usage::unknown("run", other)),
        }
    }
    if let Some(app) = &app {
        if initrd.is_some() || manifest.is_some() {
            return Err("--app builds its own initrd: no --initrd or --manifest with it".into());
        }
        manifest = Some(app_manifest(app, tier, &program_args, &opts, None)?);
        if memory_default {
            memory = "1G".into();
        }
    } else if !program_args.is_empty() {
        return Err("arguments after -- are for --app programs".into());
    } else if opts.stdin.is_some()
        || !opts.files.is_empty()
        || !opts.cflags.is_empty()
        || opts.verbose
    {
        return Err(
            "--stdin, --file, --cflags (-D/-I/-W/-U/-std=) and --verbose are for --app programs"
                .into(),
        );
    }
    let art = build()?;
    if app.is_some()
        && let Some(refusal) = refused_on_the_host(&artifacts::work_dir().join("app/program.ll"))?
    {
        eprintln!(
            "xtask: {}: {refusal}",
            app.as_ref()
                .map_or(String::new(), |a| a.display().to_string())
        );
        return Ok(ipc_abi::proto::jit::app_status::REFUSED as i32);
    }
    let initrd_path = match (initrd, manifest) {
        (Some(_), Some(_)) => return Err("give --initrd or --manifest, not both".into()),
        (Some(p), None) => p,
        (None, Some(m)) => {
            let out = artifacts::work_dir().join("custom-initrd.img");
            artifacts::build_initrd(&m, &art.services_dir, &out)?;
            out
        }
        // No arguments: the whole system on a bundled example, showing
        // the ladder (`initrd/manifests/ladder.toml`).
        (None, None) if app.is_none() => {
            let out = artifacts::work_dir().join("ladder-initrd.img");
            let m = artifacts::workspace_root().join("initrd/manifests/ladder.toml");
            artifacts::build_initrd(&m, &art.services_dir, &out)?;
            if memory_default {
                memory = "1G".into();
            }
            out
        }
        (None, None) => art.initrd.clone(),
    };
    let read =
        |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let esp = artifacts::work_dir().join("esp.img");
    EspContents {
        loader: read(&art.loader)?,
        kernel: Some(read(&art.kernel)?),
        initrd: Some(read(&initrd_path)?),
        cmdline,
    }
    .write(&esp)?;
    let mut cfg = BootConfig::new(esp, firmware);
    cfg.memory = memory;
    cfg.extra_args = extra;
    cfg.echo = match &app {
        Some(_) if !opts.verbose => qemu::Echo::Task("app".into()),
        _ => qemu::Echo::Everything,
    };
    cfg.timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
    if fresh_disk && disk.is_none() {
        return Err("--fresh-disk and --no-disk contradict each other".into());
    }
    if let Some(path) = &disk {
        let done = test_harness::disk::prepare(path, fresh_disk)?;
        let what = test_harness::disk::describe(path)
            .unwrap_or_else(|why| format!("{why} (the system will run without snapshots)"));
        eprintln!(
            "xtask: snapshot disk {} ({}): {what}",
            path.display(),
            match done {
                test_harness::disk::Prepared::Created => "made",
                test_harness::disk::Prepared::Kept => "kept",
            }
        );
    }
    cfg.disk = disk;
    let boot = qemu::boot(&cfg)?;
    let log_path = artifacts::work_dir().join("last-boot.log");
    let _ = std::fs::write(&log_path, &boot.log.text);
    if boot.outcome == qemu::Outcome::TimedOut {
        eprintln!(
            "xtask: the time limit ({} s; --timeout SECS to change it) ran out; still running: {}",
            cfg.timeout.as_secs(),
            boot.still_running().join(", ")
        );
    }
    let code = boot.exit_code();
    match &app {
        Some(app) if !opts.verbose => eprintln!(
            "xtask: {} exited with status {code}; {} (whole log: {})",
            app.display(),
            app_summary(&boot),
            log_path.display()
        ),
        _ => eprintln!(
            "xtask: boot ended: {:?} after {:.1}s, exit status {code} (log: {})",
            boot.outcome,
            boot.wall.as_secs_f64(),
            log_path.display()
        ),
    }
    Ok(code)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(artifacts::workspace_root());
    c
}

fn succeeded(mut cmd: Command) -> Result<bool, String> {
    eprintln!("xtask: {cmd:?}");
    Ok(cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?
        .success())
}

fn test(args: &[String]) -> Result<i32, String> {
    let lint_first = !args.iter().any(|a| a == "--no-lint");
    let rest = args.iter().filter(|a| *a != "--no-lint");
    host::ensure_tools()?;
    if lint_first && lint()? != 0 {
        return Ok(1);
    }
    build()?;
    // The default members are the host crates; the guest crates are
    // exercised by the QEMU tests in test-harness.
    let mut t = cargo();
    t.arg("test").args(rest);
    Ok(if succeeded(t)? { 0 } else { 1 })
}

/// Guest crates and the target each is checked for.
const GUEST_LINTS: &[(&str, &[&str])] = &[
    (
        artifacts::KERNEL_TARGET,
        &["microkernel", "supervisor", "profiler", "rt", "testsvc"],
    ),
    (artifacts::UEFI_TARGET, &["loader"]),
    (artifacts::LINUX_TARGET, artifacts::LINUX_PACKAGES),
];

fn lint() -> Result<i32, String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    let mut ok = succeeded(fmt)?;
    let mut host = cargo();
    host.args(["clippy", "--all-targets", "--", "-D", "warnings"]);
    ok &= succeeded(host)?;
    for (target, crates) in GUEST_LINTS {
        let mut c = cargo();
        c.args(["clippy", "--target", target, "--target-dir"])
            .arg(artifacts::guest_target_dir());
        for krate in *crates {
            c.args(["--package", krate]);
        }
        if *target == artifacts::KERNEL_TARGET {
            c.args(["--features", artifacts::GUEST_FEATURES]);
        }
        c.args(["--", "-D", "warnings"]);
        ok &= succeeded(c)?;
    }
    if !ok {
        eprintln!("xtask: lint failed (run `cargo fmt --all` and fix the clippy findings)");
    }
    Ok(if ok { 0 } else { 1 })
}
