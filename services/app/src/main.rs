//! The app host (Linux personality, no LLVM):
//! `app FILE.ll[,FILE.ll...] TIER[,TIER...] [crash-idle|crash-compile|crash-publish|crash-fatal]
//! [tier-up=TIER[:FN,FN...]] [pin=TIER:FN,FN...]... [probe-unknown] [stdin=NAME] [file=NAME]...
//! [-- ARGS...]` (TIER: `auto` (interpreted first, the profiler moves
//! hot functions up: `profile`), `interp`, `O0`..`O3`, or `O2-count` (a
//! fixed tier that counts as `auto` does); `stdin=` and `file=` name
//! initrd files: the program's standard input and files it may open, see
//! `input`). With several tiers the program runs once per tier, and with
//! several files each in turn, each run with freshly initialized globals.
//! Interpreted runs (`interp`, and `pin=`) are in `interp`; one where
//! everything is interpreted needs no JIT (`standalone`).
//!
//! It finds the program's IR and its function table (`FILE.ll.fns`, made
//! when the initrd was built) in the initrd, sets up the shared regions
//! (code: read-execute here, read-write in the JIT, same address; data:
//! read-write in both), sends the IR, the table and its C-library export
//! table (`exports`) to the JIT server, and calls `main` through its entry
//! stub. Nothing is compiled before that: each function's first call goes
//! through the `resolver`, which asks the JIT for it at the run's level.
//! `tier-up=O3` asks the JIT to recompile every function (or the ones
//! named) at O3 right after its first compile, while the program runs; the new code
//! takes over through the function's dispatch slot.
//!
//! The program's output is its own `printf`s, tagged with the service name
//! on the console; its exit status is logged. A JIT crash is survived
//! (`session`); `crash-*` make the JIT crash on purpose, and
//! `probe-unknown` asks the JIT for a function that does not exist (both
//! test only).

mod exports;
mod input;
mod interp;
mod output;
mod persist;
mod profile;
mod resolver;
mod run;
mod session;
mod standalone;

use ipc_abi::cap::{Rights, Slot};
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto::jit::*;
use ipc_abi::tier::Tier;
use rt::sys;
use session::{CrashPlan, Session};

/// Slot of the read-only initrd (manifest capability `initrd`).
const INITRD_SLOT: u64 = 1;

/// Stops because the app host could not run the program
/// (`app_status::HOST_FAILED`).
pub fn fail(msg: &str) -> ! {
    stop(app_status::HOST_FAILED, "failed", msg)
}

/// Stops because the program was refused before it ran
/// (`app_status::REFUSED`).
pub fn refuse(msg: &str) -> ! {
    stop(app_status::REFUSED, "refused", msg)
}

fn stop(status: u64, why: &str, msg: &str) -> ! {
    eprintln!("app: {msg}");
    let _ = sys::log_event(&format!("app.error why={why} status={status}"));
    let _ = rt::names::shutdown(status);
    std::process::exit(status as i32);
}

const USAGE: &str = "usage: app FILE.ll[,FILE.ll...] TIER[,TIER...] [crash-idle|crash-compile|crash-publish|crash-fatal] [tier-up=TIER[:FN,FN...]] [pin=TIER:FN,FN...]... [probe-unknown] [stdin=NAME] [file=NAME]... [argv0=NAME] [shown=NAME] [-- ARGS...] (TIER: auto, interp, O0, O1, O2, O3, or O0..O3-count)";

fn main() {
    exports::at_exit(report_exit);
    let all: Vec<String> = std::env::args().collect();
    // Arguments after "--" are the program's own (argv[1..]).
    let (args, program_args) = match all.iter().position(|a| a == "--") {
        Some(i) => (all[..i].to_vec(), all[i + 1..].to_vec()),
        None => (all.clone(), Vec::new()),
    };
    // `auto`: start interpreted, and let the profiler move functions up;
    // `O2-count`: a fixed tier whose code counts as `auto`'s does (to
    // measure what counting costs).
    let levels: Option<Vec<(Tier, Mode)>> = args.get(2).and_then(|l| {
        l.split(',')
            .map(|t| match t {
                "auto" => Some((Tier::Interp, Mode::Auto)),
                t => match t.strip_suffix("-count") {
                    Some(t) => Tier::parse(t).map(|t| (t, Mode::Counted)),
                    None => Tier::parse(t).map(|t| (t, Mode::Fixed)),
                },
            })
            .collect()
    });
    let (Some(file), Some(levels)) = (args.get(1), levels) else {
        fail(USAGE);
    };
    let pages = sys::mem_map(INITRD_SLOT, APP_INITRD_BASE, Rights::READ)
        .unwrap_or_else(|e| fail(&format!("no initrd: {e:?}")));
    // SAFETY: the initrd object was just mapped read-only with `pages`
    // pages at APP_INITRD_BASE and is never unmapped.
    let bytes = unsafe {
        std::slice::from_raw_parts(APP_INITRD_BASE as *const u8, (pages * PAGE_SIZE) as usize)
    };
    let total = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
    let image = initrd::Image::parse(&bytes[..total.min(bytes.len())])
        .unwrap_or_else(|e| fail(&format!("initrd: {e}")));
    let find = |name: &str| {
        image
            .find(name)
            .unwrap_or_else(|| fail(&format!("{name} is not in the initrd")))
            .data
    };
    let option = |key: &str| {
        args[3.min(args.len())..]
            .iter()
            .find_map(|a| a.strip_prefix(key))
    };
    // The program's name for argv[0], and the user's file for messages
    // (`cargo xtask run --app` gives both; the initrd's name otherwise).
    let argv0 = option("argv0=").unwrap_or(file).to_string();
    let shown = option("shown=").unwrap_or(file).to_string();
    let _ = FILE.set(shown.clone());
    // The program's input (initrd files named by `stdin=` and `file=`).
    for a in &args[3.min(args.len())..] {
        if let Some(name) = a.strip_prefix("stdin=") {
            input::set_stdin(find(name));
        } else if let Some(name) = a.strip_prefix("file=") {
            input::provide(name, find(name));
        }
    }
    // Bytecode is loaded (and checked) when a run is interpreted or
    // functions are pinned (the interpreter's host is what knows each
    // function's tier).
    let interpreted = levels.iter().any(|&(t, _)| t == Tier::Interp)
        || args.iter().any(|a| a.starts_with("pin="));
    // One program, or several (`a.ll,b.ll`) run in turn in this app host.
    let programs: Vec<Program> = file
        .split(',')
        .map(|f| {
            let ir = find(f);
            let functions = find(&format!("{f}.fns"));
            let names: Vec<String> = std::str::from_utf8(functions)
                .map(|t| function_table(t).map(str::to_string).collect())
                .unwrap_or_else(|_| fail(&format!("{f}: the function table is not UTF-8")));
            let shown_name = if f == file { shown.as_str() } else { f };
            let main_index = names
                .iter()
                .position(|n| n == "main")
                .unwrap_or_else(|| refuse(&format!("{shown_name} defines no main")));
            // The bytecode, checked before anything runs, when a run is
            // interpreted.
            let bytecode = interpreted.then(|| {
                let name = format!("{f}.bytecode");
                let file = image
                    .find(&name)
                    .unwrap_or_else(|| {
                        refuse(&format!(
                            "{shown_name} has no bytecode ({name} is not in the initrd)"
                        ))
                    })
                    .data;
                interp::load(file, ir, &names).unwrap_or_else(|e| {
                    refuse(&format!("{shown_name}: its bytecode is refused: {e}"))
                })
            });
            Program {
                file: f.to_string(),
                ir,
                functions,
                names,
                main_index,
                bytecode,
            }
        })
        .collect();

    let exported = exports::table();
    let mut table = vec![0u8; exported.iter().map(|(n, _)| n.len() + 10).sum()];
    let mut at = 0;
    for &(name, addr) in &exported {
        at = push_export(&mut table, at, name, addr).unwrap_or_else(|| fail("export table full"));
    }
    table.truncate(at);

    let rw = Rights::READ.union(Rights::WRITE);
    let package_len = |p: &Program| (p.ir.len() + table.len() + p.functions.len()) as u64;
    let largest = programs.iter().map(package_len).max().unwrap_or(0);
    for p in &programs {
        if package_len(p) > MAX_PACKAGE_BYTES {
            let name = if programs.len() == 1 { &shown } else { &p.file };
            refuse(&format!(
                "{name} is too large: its IR and tables take {} bytes, at most {MAX_PACKAGE_BYTES} fit",
                package_len(p)
            ));
        }
    }
    let package = sys::mem_create(largest.div_ceil(PAGE_SIZE).max(1))
        .unwrap_or_else(|e| fail(&format!("{e:?}")));
    sys::mem_map(package, APP_PACKAGE_BASE, rw).unwrap_or_else(|e| fail(&format!("{e:?}")));
    let code_region = sys::mem_create(APP_CODE_PAGES).unwrap_or_else(|e| fail(&format!("{e:?}")));
    sys::mem_map(code_region, APP_CODE_BASE, Rights::READ.union(Rights::EXEC))
        .unwrap_or_else(|e| fail(&format!("code: {e:?}")));
    let data = sys::mem_create(APP_DATA_PAGES).unwrap_or_else(|e| fail(&format!("data: {e:?}")));
    sys::mem_map(data, APP_DATA_BASE, rw).unwrap_or_else(|e| fail(&format!("data: {e:?}")));

    let argv_strings: Vec<std::ffi::CString> = std::iter::once(argv0.as_str())
        .chain(program_args.iter().map(String::as_str))
        .map(|a| std::ffi::CString::new(a).unwrap_or_default())
        .collect();
    let mut argv: Vec<*const std::ffi::c_char> = argv_strings.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());

    let mut session = Session::new(
        [package, code_region, data],
        (0, 0, 0),
        resolver::lazy_entry as *const () as u64,
        Vec::new(),
    );
    session.crash = match args.get(3).map(String::as_str) {
        Some("crash-idle") => Some(CrashPlan::Idle),
        Some("crash-compile") => Some(CrashPlan::Compile(CrashPoint::DuringCompile)),
        Some("crash-publish") => Some(CrashPlan::Compile(CrashPoint::BeforePublish)),
        Some("crash-fatal") => Some(CrashPlan::Compile(CrashPoint::LlvmFatalError)),
        _ => None,
    };
    *resolver::SESSION.lock().unwrap() = Some(session);
    let tier_up = args.iter().find_map(|a| a.strip_prefix("tier-up="));
    // What the system has (the initrd's manifest says): a JIT to compile
    // hot functions, a profiler to decide which.
    let manifest = image.manifest().ok();
    let listed = |name: &str| {
        manifest
            .as_ref()
            .is_some_and(|m| m.services.iter().any(|s| s.name == name))
    };
    let has_jit = listed("jit");
    if !has_jit {
        // No JIT in this system: LLVM is never loaded (an exported image).
        let _ = sys::log_event("app.llvm state=absent");
    }
    let mut profile = levels.iter().any(|&(_, m)| m != Mode::Fixed).then(|| {
        let tables: Vec<(&[String], Vec<profile::Areas>)> = programs
            .iter()
            .map(|p| {
                (
                    &p.names[..],
                    profile::count_areas(p.bytecode, p.names.len()),
                )
            })
            .collect();
        profile::Profile::new(&tables, listed("profiler")).unwrap_or_else(|e| fail(&e))
    });

    let mut code = 0;
    let mut chosen = None;
    let has_fs = listed("fs");
    for program in &programs {
        // Snapshots of an `auto` run the app host lays out (`persist`).
        let auto = program.bytecode.is_some() && levels.iter().any(|&(_, m)| m == Mode::Auto);
        let name = if programs.len() == 1 {
            &shown
        } else {
            &program.file
        };
        let mut snapshots = auto
            .then(|| {
                persist::Snapshots::find(&image, &program.file, name, program.ir, &table, has_fs)
            })
            .flatten();
        // SAFETY: `package` is mapped read-write at APP_PACKAGE_BASE with
        // room for the largest program's package; nothing else in this
        // task uses it, and the JIT reads it only while serving `Load`.
        let dst = unsafe {
            std::slice::from_raw_parts_mut(
                APP_PACKAGE_BASE as *mut u8,
                package_len(program) as usize,
            )
        };
        let mut at = 0;
        for part in [program.ir, &table[..], program.functions] {
            dst[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        chosen = tier_up.map(|v| tier_up_plan(v, &program.names).unwrap_or_else(|e| fail(&e)));
        let pinned = pins(&args, &program.names).unwrap_or_else(|e| fail(&e));
        {
            let mut guard = resolver::SESSION.lock().unwrap();
            let s = guard.as_mut().unwrap();
            s.lengths = (
                program.ir.len() as u64,
                table.len() as u64,
                program.functions.len() as u64,
            );
            s.names = program.names.clone();
            s.tier_up = chosen.clone();
        }
        let every = Every {
            exported: &exported,
            argv: &argv,
            args: &args,
            shown: &shown,
            several: programs.len() > 1,
            has_jit,
        };
        for &(level, mode) in &levels {
            let profile = if mode == Mode::Fixed {
                None
            } else {
                profile.as_mut()
            };
            code = run_once(
                program,
                (level, mode),
                &pinned,
                &every,
                profile,
                snapshots.as_mut(),
            );
        }
    }
    // Which code each tiered-up function's slot holds now.
    if let (Some((_, chosen)), Some(last)) = (chosen, programs.last()) {
        for (i, name) in last.names.iter().enumerate() {
            if chosen.as_ref().is_none_or(|c| c.contains(&i)) {
                // SAFETY: slot i lies in our data region, mapped read-write
                // for our whole life; the JIT writes it atomically.
                let address = unsafe {
                    (*(slot(i) as *const std::sync::atomic::AtomicU64))
                        .load(std::sync::atomic::Ordering::Acquire)
                };
                let _ = sys::log_event(&format!("app.slot fn={name} address={address:#x}"));
            }
        }
    }
    finish(code)
}

/// A program from the initrd: its IR, its function table and `main`.
struct Program {
    file: String,
    ir: &'static [u8],
    functions: &'static [u8],
    names: Vec<String>,
    main_index: usize,
    /// Its bytecode, when a run is interpreted.
    bytecode: Option<&'static bytecode::format::Module>,
}

/// What every run of this app host shares.
struct Every<'a> {
    exported: &'a [(&'static str, u64)],
    argv: &'a [*const std::ffi::c_char],
    args: &'a [String],
    /// The file's name for messages (one program).
    shown: &'a str,
    /// Several programs run in turn.
    several: bool,
    /// The initrd lists a JIT.
    has_jit: bool,
}

/// Loads `program` at `tier` (fresh globals; functions in `pinned` at
/// theirs) and runs its `main` to the end (`run`); returns its status.
fn run_once(
    program: &Program,
    (tier, mode): (Tier, Mode),
    pinned: &[Option<Tier>],
    every: &Every<'_>,
    mut profile: Option<&mut profile::Profile>,
    mut snapshots: Option<&mut persist::Snapshots>,
) -> i32 {
    let Every {
        exported,
        argv,
        args,
        shown,
        several,
        has_jit,
    } = *every;
    let auto = mode == Mode::Auto;
    let counting = profile.is_some();
    let counts = profile.as_ref().and_then(|p| p.for_the_jit());
    let file = &program.file;
    let name = if several { file.as_str() } else { shown };
    let tiers: Vec<Tier> = pinned.iter().map(|p| p.unwrap_or(tier)).collect();
    // Everything starts interpreted: we lay the program out and need no
    // JIT, unless a function the interpreter cannot run has no compiled
    // code (a snapshot may have it). Under `auto` with a JIT in the
    // system, the profiler loads the program into it, in our layout, once
    // a function is hot.
    let own = program.bytecode.is_some() && standalone::possible(&tiers);
    let offered = own && auto && has_jit;
    // Each run's compile waits are its own (a run without the JIT has none).
    if let Some(s) = resolver::SESSION.lock().unwrap().as_mut() {
        s.compile_wait_us = 0;
    }
    if !own {
        // An interpreted run compiles (at O0) only what the interpreter
        // cannot run (`interp::choose`).
        load_into_jit(name, tier, (counting, counts), false);
        if args.iter().any(|a| a == "probe-unknown") {
            let mut guard = resolver::SESSION.lock().unwrap();
            let refusal = guard
                .as_mut()
                .unwrap()
                .ask_for_unknown()
                .unwrap_or_else(|e| fail(&e));
            eprintln!("app: the JIT refused an unknown function: {refusal}");
        }
    }
    // A fresh count (before the interpreter reads where its edges go).
    if let Some(p) = profile.as_mut() {
        p.reset(
            &program.names,
            &profile::count_areas(program.bytecode, program.names.len()),
        );
    }
    let counters = profile.as_ref().map(|p| p.counters());
    match program.bytecode {
        Some(module) => interp::start(module, tiers, exported, (own, offered), counters)
            .unwrap_or_else(|e| fail(&format!("{name}: {e}"))),
        None => interp::clear(),
    }
    // What the last boot compiled, back in place (an `auto` run we laid
    // out): functions start at the tiers they had reached.
    if !(own && auto) {
        snapshots = None;
    }
    let restored = match (snapshots.as_mut(), program.bytecode) {
        (Some(s), Some(module)) => {
            let code_region = resolver::SESSION
                .lock()
                .unwrap()
                .as_ref()
                .map_or(0, |s| s.caps[1]);
            s.restore(module, code_region)
        }
        _ => persist::Restored::default(),
    };
    if own {
        let tier_bytes = persist::Snapshots::tiers(program.names.len());
        if let Some(p) = profile.as_mut() {
            p.set_start_tiers(&tier_bytes);
        }
        // A function only the JIT can run: the program goes to the JIT in
        // our layout now (its first call compiles it at O0; the profiler
        // borrows our connection).
        if program
            .bytecode
            .is_some_and(|m| standalone::needs_jit(m, &tier_bytes))
        {
            load_into_jit(name, tier, (counting, counts), true);
        }
    }
    let lent = resolver::SESSION
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|s| s.loaded());
    if let Some(p) = profile.as_mut() {
        // Under `auto` the profiler asks for tier-ups in our name: through
        // our connection when we loaded the program, or loading it itself
        // when we laid it out; a counted fixed tier it only watches.
        let jit = {
            let guard = resolver::SESSION.lock().unwrap();
            match guard.as_ref() {
                Some(s) if auto && lent => s
                    .jit_endpoint()
                    .map_or(profile::Jit::None, profile::Jit::Lent),
                Some(s) if auto && offered => profile::Jit::OnDemand {
                    caps: s.caps,
                    lengths: s.lengths,
                    resolver: s.resolver,
                },
                Some(s) if auto && !own => s
                    .jit_endpoint()
                    .map_or(profile::Jit::None, profile::Jit::Lent),
                _ => profile::Jit::None,
            }
        };
        // Snapshots while the program runs: the profiler saves them.
        let kit = snapshots
            .as_ref()
            .and_then(|s| s.template())
            .map(|template| {
                let caps = resolver::SESSION
                    .lock()
                    .unwrap()
                    .as_ref()
                    .map_or([0; 3], |s| s.caps);
                profile::SnapshotKit {
                    template,
                    code: caps[1],
                    data: caps[2],
                }
            });
        p.watch(jit, if auto { None } else { tier.level() }, kit);
    }
    if own {
        let _ = sys::log_event(&format!(
            "app.loaded tier=interp jit={} functions={} globals={}",
            if lent {
                "lent"
            } else if offered {
                "on-demand"
            } else {
                "none"
            },
            program.names.len(),
            program.bytecode.map_or(0, |m| m.globals.len())
        ));
    }
    let level = tier.level().map_or("-".to_string(), |l| l.to_string());
    let shown_tier = match mode {
        Mode::Auto => "auto".to_string(),
        Mode::Counted => format!("{tier}-count"),
        Mode::Fixed => tier.to_string(),
    };
    let _ = sys::log_event(&format!(
        "app.start file={file} tier={shown_tier} level={level}"
    ));
    let entry = if own {
        standalone::entry_stub(program.main_index)
    } else {
        entry_stub(program.main_index)
    };
    // SAFETY: main's entry stub jumps through its slot, which points at its
    // lazy stub: the first call compiles `main` against our exports, in our
    // read-execute code region, or enters the interpreter. C's `main` takes
    // `(argc, argv)` or nothing; under the System V ABI passing both to a
    // `main(void)` is harmless.
    let main: run::Main = unsafe { std::mem::transmute(entry as usize) };
    let started = std::time::Instant::now();
    output::start_run();
    // The flush at the end is timed too: a native program's run includes
    // writing its buffered output at exit, and so must ours.
    let code = run::run(main, argv.len() as i32 - 1, argv.as_ptr());
    let run_us = started.elapsed().as_micros();
    let compile_us = resolver::SESSION
        .lock()
        .unwrap()
        .as_ref()
        .map_or(0, |s| s.compile_wait_us);
    let _ = sys::log_event(&format!(
        "app.run file={file} tier={shown_tier} level={level} code={code} run_us={run_us} compile_wait_us={compile_us}"
    ));
    let profiled = profile.map(|p| (p.end(snapshots.is_some()), p.counters()));
    if let (Some(s), Some(module)) = (snapshots, program.bytecode) {
        let done = profiled.and_then(|(d, _)| d).unwrap_or_default();
        if let Some((slot, generation)) = done.saved {
            s.saved_by_profiler(slot, generation);
        }
        s.save(module, profiled.map(|(_, c)| c));
        persist::convergence(
            file,
            program.names.len(),
            restored,
            done.tier_ups,
            done.jit_loads,
        );
    }
    if let Some(s) = resolver::SESSION.lock().unwrap().as_mut() {
        s.release();
    }
    code
}

/// How a run's tier is chosen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every function at the run's tier (or its pinned one).
    Fixed,
    /// The same, with the counting `auto` does (`O2-count`).
    Counted,
    /// `auto`: interpreted first, the profiler moves functions up.
    Auto,
}

/// The program's file name, for `finish`.
static FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The status the program ends with, once it ends (`i64::MIN` before).
static EXIT_CODE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);

/// Ends the program with `code` (a return from the last run's `main`, or
/// the program's `exit`) the way C does: the C library's `exit` runs the
/// program's `atexit` handlers, then [`report_exit`] (registered first,
/// so run last) flushes its output, reports the status and stops.
pub fn finish(code: i32) -> ! {
    EXIT_CODE.store(code as i64, std::sync::atomic::Ordering::SeqCst);
    std::process::exit(code);
}

/// The app host's own `atexit` handler: after the program's, when the
/// program ended (not when the app host gave up on it).
extern "C" fn report_exit() {
    let code = EXIT_CODE.load(std::sync::atomic::Ordering::SeqCst);
    if code == i64::MIN {
        return;
    }
    exports::flush();
    let file = event_word(FILE.get().map_or("?", String::as_str));
    let _ = sys::log_event(&format!("app.exit file={file} code={code}"));
    let _ = rt::names::shutdown(code as u64);
}

/// Loads the run's program into the JIT (in our layout with `resume`),
/// compiling at `tier`'s level (O0 for `interp`) and counting when
/// `counting` (with the counters object `counts` for the JIT to read); a
/// refusal or failure ends the app host, naming the program (`name`).
fn load_into_jit(name: &str, tier: Tier, (counting, counts): (bool, Option<Slot>), resume: bool) {
    let mut guard = resolver::SESSION.lock().unwrap();
    let s = guard.as_mut().unwrap();
    s.level = tier.level().unwrap_or(0);
    s.counters = counting;
    s.counts = counts;
    s.load(resume).unwrap_or_else(|e| match e {
        session::Failure::Refused(m) => refuse(&format!("{name}: {m}")),
        session::Failure::Failed(m) => fail(&format!("{name}: {m}")),
    });
}

/// Each function's pinned tier from the `pin=TIER:FN,FN...` arguments
/// (`None`: the run's tier).
fn pins(args: &[String], names: &[String]) -> Result<Vec<Option<Tier>>, String> {
    let mut out = vec![None; names.len()];
    for spec in args.iter().filter_map(|a| a.strip_prefix("pin=")) {
        let (tier, list) = spec
            .split_once(':')
            .ok_or_else(|| format!("pin={spec}: write pin=TIER:FN,FN..."))?;
        let tier = Tier::parse(tier)
            .ok_or_else(|| format!("pin={spec}: the tier must be interp, O0, O1, O2 or O3"))?;
        for f in list.split(',') {
            let i = names
                .iter()
                .position(|n| n == f)
                .ok_or_else(|| format!("pin: the program defines no function {f}"))?;
            out[i] = Some(tier);
        }
    }
    Ok(out)
}

/// `name` as one word of a log event (anything that could end or forge
/// one becomes `?`).
pub fn event_word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// `TIER` (every function) or `TIER:FN,FN...`, TIER one of `O0`..`O3`
/// (or `0`..`3`).
fn tier_up_plan(spec: &str, names: &[String]) -> Result<(u8, Option<Vec<usize>>), String> {
    let (level, list) = match spec.split_once(':') {
        Some((l, list)) => (l, Some(list)),
        None => (spec, None),
    };
    let level = Tier::parse(level)
        .and_then(Tier::level)
        .ok_or_else(|| format!("tier-up={spec}: the tier must be O0, O1, O2 or O3"))?;
    let chosen = list
        .map(|list| {
            list.split(',')
                .map(|f| {
                    names
                        .iter()
                        .position(|n| n == f)
                        .ok_or_else(|| format!("tier-up: the program defines no function {f}"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok((level, chosen))
}
