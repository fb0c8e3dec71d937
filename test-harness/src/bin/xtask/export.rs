//! `cargo xtask export --app FILE --disk PATH -o IMAGE`: an initrd that
//! runs the program from its newest snapshot on the disk, with no JIT, no
//! profiler and no fs service (`test_harness::export`); `cargo xtask run
//! --initrd IMAGE` boots it.

use crate::app::{AppOptions, app_manifest};
use std::path::PathBuf;
use test_harness::{artifacts, usage};

pub fn export(args: &[String]) -> Result<i32, String> {
    let mut app: Option<PathBuf> = None;
    let mut disk = artifacts::work_dir().join("snapshot-disk.img");
    let mut out: Option<PathBuf> = None;
    let mut opts = AppOptions::default();
    let mut program_args = Vec::new();
    let mut it = args.iter();
    let value = |it: &mut std::slice::Iter<'_, String>, flag: &str| {
        it.next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage::of("export")))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--app" => app = Some(value(&mut it, a)?.into()),
            "--disk" => disk = value(&mut it, a)?.into(),
            "-o" | "--output" => out = Some(value(&mut it, a)?.into()),
            "--stdin" => opts.stdin = Some(value(&mut it, a)?.into()),
            "--file" => opts.files.push(value(&mut it, a)?),
            "--cflags" => opts
                .cflags
                .extend(value(&mut it, a)?.split_whitespace().map(String::from)),
            "--" => program_args.extend(it.by_ref().cloned()),
            other => return Err(usage::unknown("export", other)),
        }
    }
    let (Some(app), Some(out)) = (app, out) else {
        return Err(format!(
            "export needs --app FILE and -o IMAGE\n{}",
            usage::of("export")
        ));
    };
    if !disk.is_file() {
        return Err(format!("no snapshot disk at {}", disk.display()));
    }
    // The name the app host saved the program's snapshots under.
    let name = snapshot::program_name(&app.display().to_string());
    let (packed, generation) = test_harness::export::newest_snapshot(&disk, &name)?;
    let art = artifacts::build_all()?;
    // The first boot's system, to compare sizes with.
    let first = app_manifest(&app, None, &program_args, &opts, None)?;
    let first_initrd = artifacts::work_dir().join("first-boot-initrd.img");
    artifacts::build_initrd(&first, &art.services_dir, &first_initrd)?;
    let manifest = app_manifest(&app, None, &program_args, &opts, Some(&packed))?;
    artifacts::build_initrd(&manifest, &art.services_dir, &out)?;
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (ours, theirs) = (size(&out), size(&first_initrd));
    println!(
        "xtask: exported {} (snapshot generation {generation} from {}, {} bytes) to {}: \
         {ours} bytes, the first boot's initrd {theirs} bytes ({:.1}x smaller); no JIT, \
         no profiler, no fs service. Boot it: cargo xtask run --initrd {}",
        app.display(),
        disk.display(),
        packed.len(),
        out.display(),
        theirs as f64 / ours.max(1) as f64,
        out.display()
    );
    Ok(0)
}
