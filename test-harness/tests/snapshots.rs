//! Snapshots across boots (`docs/snapshots.md`): the fs service on the
//! snapshot disk, the app host saving what a boot compiled and the next
//! boot starting from it, each refusal, power cuts mid-write. Every boot
//! runs several programs in one app host, each with its own snapshots.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use test_harness::corpus;
use test_harness::disk;
use test_harness::log::{BootLog, Event};
use test_harness::qemu::Boot;

/// The example apps that need no input (cstdlib's `main` is one the
/// interpreter cannot run: compiled at O0 in boot 1, restored after), and
/// one that changes its globals.
fn apps() -> Vec<String> {
    test_harness::artifacts::no_input_apps()
        .into_iter()
        .chain(["globals"])
        .map(String::from)
        .collect()
}

fn boot_on(disk: &Path, programs: &[String], fs_args: &[&str]) -> Boot {
    boot_with(Some(disk), programs, fs_args, &[])
}

fn boot_with(
    disk: Option<&Path>,
    programs: &[String],
    fs_args: &[&str],
    profiler_args: &[&str],
) -> Boot {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("snap.toml");
    let text = corpus::System {
        programs,
        tiers: "auto",
        jit: Some(&[]),
        profiler: Some(profiler_args),
        fs: Some(fs_args),
        jit_on_demand: true,
        ..corpus::System::default()
    }
    .manifest();
    std::fs::write(&manifest, text).unwrap();
    common::boot_manifest_with_disk(&manifest, "1G", disk)
}

fn programs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Every program's output and status are its native build's.
fn outputs_are_native(b: &Boot, programs: &[String], phase: &str) {
    let runs = corpus::runs(&b.log);
    for p in programs {
        let want = corpus::native_in(&test_harness::artifacts::apps_dir(), p).unwrap();
        let r = runs.iter().find(|r| &r.program == p);
        check!(
            b,
            r.is_some_and(|r| r.outcome == want),
            "{phase}: {p}: {:?}, native: {want:?}",
            r.map(|r| &r.outcome)
        );
    }
}

/// Each program's events (`NAME.ll`): those after the previous program's
/// `app.convergence` up to its own.
fn by_program(log: &BootLog) -> BTreeMap<String, Vec<Event>> {
    let mut out = BTreeMap::new();
    let mut chunk = Vec::new();
    for e in &log.events {
        chunk.push(e.clone());
        if e.name == "app.convergence" {
            let file = e.get("file").unwrap_or("?").to_string();
            out.insert(file, std::mem::take(&mut chunk));
        }
    }
    out
}

fn find<'a>(events: &'a [Event], name: &str) -> Option<&'a Event> {
    events.iter().find(|e| e.name == name)
}

/// Each function's tier at the end of the run, from the profiler's table.
fn final_tiers(events: &[Event]) -> BTreeMap<String, String> {
    events
        .iter()
        .filter(|e| e.name == "profile.fn")
        .map(|e| {
            (
                e.get("fn").unwrap_or("?").to_string(),
                e.get("tier").unwrap_or("?").to_string(),
            )
        })
        .collect()
}

fn fresh_disk(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("snapshots.img");
    disk::create(&path).unwrap();
    path
}

/// Boot 1 compiles and saves; boot 2 starts every hot function at its
/// saved tier, compiles nothing it already had, and gives the same output
/// (globals start from their initial values every boot); every program
/// converges (nothing rises, LLVM never started) within three boots.
/// Then each kind of damaged or stale snapshot is refused, naming its
/// check, and the programs still print their native output.
#[test]
fn boots_start_from_the_last_snapshot_converge_and_refuse_bad_ones() {
    common::setup();
    let dir = tempfile::tempdir().unwrap();
    let disk = fresh_disk(dir.path());
    let programs = apps();

    let b1 = boot_on(&disk, &programs, &[]);
    outputs_are_native(&b1, &programs, "boot 1");
    check!(
        b1,
        b1.log.first("fs.mount").is_some(),
        "boot 1: no fs.mount"
    );
    let boot1 = by_program(&b1.log);
    for p in &programs {
        let file = format!("{p}.ll");
        let ev = boot1.get(&file).map(Vec::as_slice).unwrap_or(&[]);
        check!(
            b1,
            find(ev, "snapshot.none").is_some(),
            "boot 1: {p} found a snapshot on a fresh disk"
        );
        check!(
            b1,
            find(ev, "snapshot.saved").is_some(),
            "boot 1: {p} saved no snapshot"
        );
    }

    let b2 = boot_on(&disk, &programs, &[]);
    outputs_are_native(&b2, &programs, "boot 2");
    let boot2 = by_program(&b2.log);
    let mut converged: BTreeMap<String, usize> = BTreeMap::new();
    for p in &programs {
        let file = format!("{p}.ll");
        let before = boot1.get(&file).map(Vec::as_slice).unwrap_or(&[]);
        let now = boot2.get(&file).map(Vec::as_slice).unwrap_or(&[]);
        let saved = find(before, "snapshot.saved").and_then(|e| e.num("compiled"));
        let restored = find(now, "snapshot.restored");
        check!(
            b2,
            restored.is_some_and(|e| e.num("generation") == Some(1) && e.num("functions") == saved),
            "boot 2: {p} restored {restored:?}, boot 1 saved {saved:?} compiled functions"
        );
        // A function starts where boot 1 left it: any step it takes
        // starts from that tier.
        let left = final_tiers(before);
        for up in now.iter().filter(|e| e.name == "tier.up") {
            let f = up.get("fn").unwrap_or("?");
            check!(
                b2,
                left.get(f).map(String::as_str) == up.get("from"),
                "boot 2: {p}: {f} rose from {:?}, boot 1 left it at {:?}",
                up.get("from"),
                left.get(f)
            );
        }
        let conv = find(now, "app.convergence");
        if conv.and_then(|e| e.get("converged")) == Some("1") {
            converged.insert(p.clone(), 2);
        }
    }
    // The JIT starts on demand: a boot in which every program converged
    // never started it (LLVM never loaded).
    if converged.len() == programs.len() {
        check!(
            b2,
            b2.log
                .events_with("task.start", "name", "jit")
                .next()
                .is_none(),
            "boot 2: every program converged, yet the JIT was started"
        );
    }
    check!(
        b1,
        b1.log
            .events_with("svc.demand", "name", "jit")
            .next()
            .is_some(),
        "boot 1: the JIT was not started on demand"
    );
    // Boot 3 for what has not converged yet.
    let rest: Vec<String> = programs
        .iter()
        .filter(|p| !converged.contains_key(*p))
        .cloned()
        .collect();
    if !rest.is_empty() {
        let b3 = boot_on(&disk, &rest, &[]);
        outputs_are_native(&b3, &rest, "boot 3");
        let boot3 = by_program(&b3.log);
        for p in &rest {
            let conv = boot3
                .get(&format!("{p}.ll"))
                .and_then(|ev| find(ev, "app.convergence").cloned());
            check!(
                b3,
                conv.as_ref().and_then(|e| e.get("converged")) == Some("1")
                    && conv.as_ref().and_then(|e| e.get("llvm")) == Some("absent"),
                "boot 3: {p} has not converged: {conv:?}"
            );
        }
    }

    // Exported: the newest snapshots packed in an initrd with the app host
    // and no JIT, profiler or fs service; the same output, LLVM absent.
    let export_dir = tempfile::tempdir().unwrap();
    let mut files: Vec<String> = programs.iter().map(|p| format!("{p}.ll")).collect();
    let mut packed_compiled = BTreeMap::new();
    for p in &programs {
        let (bytes, _) = test_harness::export::newest_snapshot(&disk, &format!("{p}.ll")).unwrap();
        let compiled = snapshot::decode(&bytes)
            .unwrap()
            .functions
            .iter()
            .filter(|f| f.level.is_some())
            .count();
        packed_compiled.insert(p.clone(), compiled as u64);
        let name = format!("{p}.ll{}", ipc_abi::proto::fs::PACKED_SNAPSHOT_SUFFIX);
        std::fs::write(export_dir.path().join(&name), bytes).unwrap();
        files.push(name);
    }
    let list = programs
        .iter()
        .map(|p| format!("{p}.ll"))
        .collect::<Vec<_>>()
        .join(",");
    let manifest = export_dir.path().join("export.toml");
    std::fs::write(
        &manifest,
        test_harness::export::manifest(corpus::SERVICE, &files, &[list, "auto".into()]),
    )
    .unwrap();
    let exported = common::boot_manifest_with_disk(&manifest, "1G", None);
    outputs_are_native(&exported, &programs, "exported");
    for service in ["jit", "profiler", "fs"] {
        check!(
            exported,
            exported
                .log
                .events_with("task.start", "name", service)
                .next()
                .is_none(),
            "the exported system started {service}"
        );
    }
    let exported_runs = by_program(&exported.log);
    for p in &programs {
        let ev = exported_runs
            .get(&format!("{p}.ll"))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let conv = find(ev, "app.convergence");
        check!(
            exported,
            conv.is_some_and(|e| e.get("llvm") == Some("absent") && e.get("converged") == Some("1")),
            "exported: {p}: {conv:?}"
        );
        let saved = packed_compiled.get(p).copied();
        check!(
            exported,
            find(ev, "snapshot.restored").and_then(|e| e.num("functions")) == saved,
            "exported: {p} restored {:?}, the packed snapshot has {saved:?} compiled functions",
            find(ev, "snapshot.restored")
        );
    }
    check!(
        exported,
        exported
            .log
            .first("app.llvm")
            .is_some_and(|e| e.get("state") == Some("absent")),
        "no app.llvm state=absent"
    );

    // Damage: each program gets one bad snapshot and no other.
    let name = |p: &str, slot: usize| format!("{p}.ll.{slot}");
    let newest = |p: &str| -> (usize, Vec<u8>) {
        let files: Vec<(usize, Vec<u8>)> = (0..2)
            .filter_map(|s| {
                disk::read_snapshot_file(&disk, &name(p, s))
                    .unwrap()
                    .map(|f| (s, f))
            })
            .collect();
        files
            .into_iter()
            .max_by_key(|(_, f)| snapshot::decode(f).map_or(0, |s| s.generation))
            .expect("a snapshot")
    };
    let reencoded = |p: &str, change: &dyn Fn(&mut snapshot::Snapshot)| {
        let mut s = snapshot::decode(&newest(p).1).unwrap();
        change(&mut s);
        snapshot::encode(&s)
    };
    let mut bad: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    bad.push(("fib", newest("sieve").1, "stale: made for other IR"));
    let mut flipped = newest("sieve").1;
    let at = flipped.len() / 2;
    flipped[at] ^= 0x40;
    bad.push(("sieve", flipped, "checksum mismatch"));
    let whole = newest("checksum").1;
    bad.push(("checksum", whole[..whole.len() - 7].to_vec(), "truncated"));
    let mut version = newest("nbody").1;
    version[8] = version[8].wrapping_add(1);
    bad.push(("nbody", version, "format version"));
    bad.push((
        "spectralnorm",
        reencoded("spectralnorm", &|s| s.valid_for.ir[0] ^= 1),
        "stale: made for other IR",
    ));
    bad.push((
        "fannkuch",
        reencoded("fannkuch", &|s| s.valid_for.app_host[5] ^= 1),
        "stale: made for another app host build",
    ));
    bad.push((
        "lazy",
        reencoded("lazy", &|s| s.valid_for.abi += 1),
        "stale: made for another ABI version",
    ));
    bad.push((
        "libc",
        reencoded("libc", &|s| s.valid_for.cpu ^= 1),
        "stale: made for a CPU with other features",
    ));
    bad.push((
        "mixed",
        reencoded("mixed", &|s| {
            if let Some(f) = s.functions.iter_mut().find(|f| f.level.is_some()) {
                f.entry = 0x1000;
            } else {
                s.code.base = 0x10;
            }
        }),
        "out of range",
    ));
    for (p, file, _) in &bad {
        disk::put_snapshot_file(&disk, &name(p, 0), Some(file)).unwrap();
        disk::put_snapshot_file(&disk, &name(p, 1), None).unwrap();
    }
    let damaged: Vec<String> = bad.iter().map(|(p, _, _)| p.to_string()).collect();
    let b4 = boot_on(&disk, &damaged, &[]);
    outputs_are_native(&b4, &damaged, "damaged snapshots");
    let boot4 = by_program(&b4.log);
    for (p, _, why) in &bad {
        let ev = boot4
            .get(&format!("{p}.ll"))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let refused = ev.iter().find(|e| e.name == "snapshot.refused");
        check!(
            b4,
            refused.is_some_and(|e| e.get("why").is_some_and(|w| w.contains(why))),
            "{p}: expected a refusal naming {why:?}, got {refused:?}"
        );
        check!(
            b4,
            find(ev, "snapshot.restored").is_none(),
            "{p}: a refused snapshot was restored"
        );
    }
}

/// The fs service stops writing part-way through a snapshot (a power cut
/// at several points): the next boot restores a generation that was
/// completely written, or none, never a torn one, and output is native.
#[test]
fn a_power_cut_while_saving_never_leaves_a_torn_snapshot_in_use() {
    common::setup();
    let dir = tempfile::tempdir().unwrap();
    let disk = fresh_disk(dir.path());
    let programs = programs(&["fib", "sieve", "globals"]);
    let first = boot_on(&disk, &programs, &[]);
    outputs_are_native(&first, &programs, "before the cuts");
    let mut torn = 0;
    for cut in [1u64, 3, 9] {
        let arg = format!("cut-after-writes={cut}");
        let b = boot_on(&disk, &programs, &[&arg]);
        outputs_are_native(&b, &programs, &format!("cut after {cut} sector writes"));
        check!(
            b,
            b.log.first("snapshot.not_saved").is_some(),
            "the cut after {cut} sector writes stopped no snapshot"
        );
        // What the disk holds now, read on the host: per program, the
        // newest generation that decodes (checksum included).
        let mut newest: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for p in &programs {
            for slot in 0..2 {
                let name = format!("{p}.ll.{slot}");
                let Some(file) = disk::read_snapshot_file(&disk, &name).unwrap() else {
                    continue;
                };
                match snapshot::decode(&file) {
                    Ok(s) => {
                        if newest.get(p).is_none_or(|(_, g)| s.generation > *g) {
                            newest.insert(p.clone(), (format!("SNAPSHOT/{name}"), s.generation));
                        }
                    }
                    Err(_) => torn += 1,
                }
            }
        }
        let after = boot_on(&disk, &programs, &[]);
        outputs_are_native(&after, &programs, &format!("after the cut at {cut}"));
        let restored: BTreeMap<String, (String, u64)> = by_program(&after.log)
            .into_iter()
            .filter_map(|(file, ev)| {
                let r = find(&ev, "snapshot.restored")?;
                Some((
                    file.trim_end_matches(".ll").to_string(),
                    (r.get("file")?.to_string(), r.num("generation")?),
                ))
            })
            .collect();
        check!(
            after,
            restored == newest,
            "after the cut at {cut}: restored {restored:?}, the newest whole snapshots on the disk are {newest:?}"
        );
    }
    assert!(
        torn > 0,
        "no cut left a torn file: the power-cut hook was not exercised"
    );
}

/// The fs protocol against a hostile client (`fsprobe`): malformed
/// messages, bad paths, missing or wrong buffers, a full disk; every one
/// answered with an error, files written before intact, the service up.
#[test]
fn the_fs_service_answers_bad_requests_and_a_full_disk_with_errors_and_stays_up() {
    common::setup();
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("small.img");
    disk::create_sized(&disk, 24 << 20).unwrap();
    let manifest = dir.path().join("fsprobe.toml");
    std::fs::write(
        &manifest,
        format!(
            "version = 1\n\n[[service]]\nname = \"supervisor\"\n\n{}\
             [[service]]\nname = \"fsprobe\"\ncapabilities = [\"shutdown\"]\nshutdown_on_exit = true\n",
            disk::fs_service(&[])
        ),
    )
    .unwrap();
    let b = common::boot_manifest_with_disk(&manifest, "256M", Some(&disk));
    let done = b.log.first("fsprobe.done");
    check!(
        b,
        done.is_some_and(|e| e.num("failed") == Some(0) && e.num("cases") >= Some(25)),
        "fsprobe: {done:?}"
    );
    check!(
        b,
        b.log
            .events_with("task.exit", "name", "fs")
            .all(|e| e.get("reason") == Some("killed")),
        "the fs service died"
    );
    check!(
        b,
        b.log.events_with("svc.start", "name", "fs").count() == 1,
        "the fs service was restarted"
    );
}

/// No snapshot disk, or one that is not FAT: the fs service says why
/// (`fs.unavailable`), the app host runs without snapshots
/// (`snapshot.off`), and the program's output is native.
#[test]
fn without_a_usable_disk_programs_run_without_snapshots() {
    common::setup();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.img");
    std::fs::write(&junk, vec![0x5a; 8 << 20]).unwrap();
    let programs = programs(&["fib"]);
    for (what, disk) in [("no disk", None), ("not FAT", Some(junk.as_path()))] {
        let b = boot_with(disk, &programs, &[], &[]);
        outputs_are_native(&b, &programs, what);
        let why = b
            .log
            .first("fs.unavailable")
            .and_then(|e| e.get("why").map(str::to_string));
        let expected = if disk.is_none() {
            "no virtio block device"
        } else {
            "not a FAT volume"
        };
        check!(
            b,
            why.as_deref().is_some_and(|w| w.contains(expected)),
            "{what}: fs.unavailable why={why:?}, expected {expected:?}"
        );
        check!(
            b,
            b.log.first("snapshot.off").is_some(),
            "{what}: no snapshot.off"
        );
        check!(
            b,
            b.log.first("snapshot.saved").is_none(),
            "{what}: a snapshot was saved"
        );
    }
}

/// While a program runs, the profiler saves a snapshot every
/// `snapshot-every-ms`; the app host's at the end goes one generation
/// above the last of them, and the next boot restores that one.
#[test]
fn snapshots_are_saved_while_the_program_runs() {
    common::setup();
    let dir = tempfile::tempdir().unwrap();
    let disk = fresh_disk(dir.path());
    let programs = programs(&["tierup"]);
    let b = boot_with(Some(&disk), &programs, &[], &["snapshot-every-ms=200"]);
    outputs_are_native(&b, &programs, "periodic snapshots");
    let ended = b
        .log
        .first("app.run")
        .and_then(|e| e.num("tsc"))
        .unwrap_or(0);
    // Every profiler save (one may land between the end of the run and
    // the profiler's last answer), and those while the program ran.
    let by_profiler: Vec<(u64, u64)> = b
        .log
        .events_with("snapshot.saved", "by", "profiler")
        .filter_map(|e| Some((e.num("tsc")?, e.num("generation")?)))
        .collect();
    let during = by_profiler.iter().filter(|(t, _)| *t < ended).count();
    check!(b, during > 0, "no snapshot was saved while tierup ran");
    let generations: Vec<u64> = by_profiler.iter().map(|&(_, g)| g).collect();
    check!(
        b,
        generations.windows(2).all(|w| w[1] == w[0] + 1),
        "the periodic generations do not count up by one: {generations:?}"
    );
    let last = b
        .log
        .events_with("snapshot.saved", "by", "app")
        .last()
        .and_then(|e| e.num("generation"));
    check!(
        b,
        last == generations.last().map(|g| g + 1),
        "the app host's snapshot is generation {last:?}, the profiler's last {:?}",
        generations.last()
    );
    let next = boot_on(&disk, &programs, &[]);
    outputs_are_native(&next, &programs, "after periodic snapshots");
    let restored = next
        .log
        .first("snapshot.restored")
        .and_then(|e| e.num("generation"));
    check!(
        next,
        restored == last,
        "restored generation {restored:?}, the newest is {last:?}"
    );
}

/// Profile-guided O3: with thresholds that put a function at O3 once it
/// leaves the interpreter, the profiler settles branchy's hot functions
/// at O3 when the run ends (before the snapshot), each compile carrying
/// the interpreter's branch counts and call targets; the JIT finds every
/// branch and call site where the bytecode numbered them, weighs the
/// classifier's if-chain, promotes `fold`'s call through its table to a
/// test and a direct call, and the output is native.
#[test]
fn o3_compiles_are_guided_by_the_interpreters_counts() {
    common::setup();
    let programs = vec!["branchy".to_string()];
    let dir = tempfile::tempdir().unwrap();
    let disk = fresh_disk(dir.path());
    let b = boot_with(
        Some(&disk),
        &programs,
        &[],
        &["calls=10,11,12,13", "loops=1000,1001,1002,1003", "pgo=on"],
    );
    outputs_are_native(&b, &programs, "branchy");
    let (o3, mismatched) = common::o3_compiles(&b.log);
    check!(
        b,
        mismatched.is_empty(),
        "profiles that did not match: {mismatched:?}"
    );
    let of = |name: &str, field: &str| {
        o3.iter()
            .filter(|e| e.get("fn") == Some(name))
            .filter_map(|e| e.num(field))
            .max()
            .unwrap_or(0)
    };
    check!(
        b,
        of("classify", "pgo_weighted") >= 5,
        "classify's branches were not weighed: {o3:?}"
    );
    check!(
        b,
        of("fold", "pgo_promoted") >= 1,
        "fold's call through its table was not promoted: {o3:?}"
    );
}
