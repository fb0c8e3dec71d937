//! `cargo xtask bench converge`: boots 1..3 of each app on one fresh
//! snapshot disk, then its exported image (`cargo xtask export`'s system:
//! no JIT, profiler or fs service), all under `-icount`. Per boot: the
//! time from reset to the program's start, what the snapshot put back,
//! functions by tier, the compile time the profiler's tier-ups took, the
//! run time against the native build, whether LLVM was used, and the
//! initrd's size. Written to `docs/benchmarks.md`, plotted in
//! `docs/converge.svg`.

use super::{BENCH_APPS, ICOUNT, append_report, git_commit, native_us, prepare_esp, today};
use crate::log::BootLog;
use crate::qemu::{self, Boot, BootConfig, Outcome};
use crate::{artifacts, disk, export};
use ipc_abi::exit::GuestStatus;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// Boots per app before the export.
const BOOTS: usize = 3;

/// One boot's figures.
pub(super) struct Figures {
    pub label: String,
    pub reset_to_main_ms: f64,
    pub bytes_loaded: u64,
    pub tiers: [u64; 5],
    pub compile_ms: f64,
    pub run_us: f64,
    pub llvm: String,
    pub initrd_bytes: u64,
}

/// The whole system running `app` under `auto` (with its native build
/// first when `native`), the profiler started with `profiler_args`.
pub(super) fn system(app: &str, native: bool, profiler_args: &[&str]) -> String {
    let native = if native {
        format!(
            "[[service]]\nname = \"native\"\nfile = \"{app}-native\"\npersonality = \"linux\"\npriority = 3\n\n"
        )
    } else {
        String::new()
    };
    format!(
        "version = 1\nfiles = [\"{app}.ll\"]\n\n[[service]]\nname = \"supervisor\"\n\n{native}\
         [[service]]\nname = \"jit\"\npersonality = \"linux\"\nrestart = \"on-failure\"\nstart = \"on-demand\"\n\n\
         [[service]]\nname = \"profiler\"\nargs = {profiler_args:?}\n\n{}\
         [[service]]\nname = \"app\"\nfile = \"app\"\npersonality = \"linux\"\n\
         args = [\"{app}.ll\", \"auto\"]\ncapabilities = [\"initrd\", \"shutdown\"]\n",
        disk::fs_service(&[])
    )
}

/// Boots the manifest at `manifest` (its files beside it) under
/// `-icount`, with `disk`; returns the boot and its initrd's size.
pub(super) fn boot(manifest: &Path, disk: Option<&Path>) -> Result<(Boot, u64), String> {
    let esp = manifest.with_extension("esp");
    let firmware = prepare_esp(Some(manifest), &esp)?;
    let initrd_bytes = std::fs::metadata(esp.with_extension("initrd")).map_or(0, |m| m.len());
    let mut cfg = BootConfig::new(esp, firmware);
    cfg.memory = "1G".into();
    cfg.icount = Some(ICOUNT.into());
    cfg.disk = disk.map(Path::to_path_buf);
    let b = qemu::boot(&cfg)?;
    if b.outcome != Outcome::Guest(GuestStatus::Success) {
        return Err(format!("benchmark boot failed\n{}", b.dump()));
    }
    Ok((b, initrd_bytes))
}

pub(super) fn figures(label: String, log: &BootLog, initrd_bytes: u64) -> Result<Figures, String> {
    let hz = log.tsc_hz().ok_or("no tsc_hz")? as f64;
    let start = log
        .first("app.start")
        .and_then(|e| e.num("tsc"))
        .ok_or("no app.start")?;
    let restored = log.first("snapshot.restored");
    let bytes_loaded = restored.map_or(0, |e| {
        e.num("code_bytes").unwrap_or(0) + e.num("data_bytes").unwrap_or(0)
    });
    let conv = log.first("app.convergence").ok_or("no app.convergence")?;
    let tier = |k: &str| conv.num(k).unwrap_or(0);
    let compile_us: u64 = log
        .events("tier.up")
        .filter_map(|e| e.num("compile_us"))
        .sum();
    let run_us = log
        .first("app.run")
        .and_then(|e| e.num("run_us"))
        .ok_or("no app.run")? as f64;
    Ok(Figures {
        label,
        reset_to_main_ms: start as f64 * 1000.0 / hz,
        bytes_loaded,
        tiers: [
            tier("interp"),
            tier("o0"),
            tier("o1"),
            tier("o2"),
            tier("o3"),
        ],
        compile_ms: compile_us as f64 / 1000.0,
        run_us,
        llvm: conv.get("llvm").unwrap_or("?").to_string(),
        initrd_bytes,
    })
}

pub fn run() -> Result<i32, String> {
    artifacts::build_all()?;
    let mut report = String::new();
    writeln!(report, "\n## Convergence across boots ({})\n", today()).unwrap();
    writeln!(
        report,
        "Command: `cargo xtask bench converge` (commit {}). Per app, on one fresh snapshot disk, \
         boots 1 to {BOOTS} of the whole system (supervisor, JIT, profiler, fs service, app host; \
         `auto`), then the exported image (`cargo xtask export`'s initrd: supervisor and app host \
         with the newest snapshot packed in; no JIT, profiler or fs service), all under `-icount \
         shift=0` (guest microseconds = thousands of guest instructions). Reset to main: guest \
         time from machine reset to the program's start (`app.start`). Loaded: code and data \
         the snapshot put back. Compile: the guest time of the profiler's tier-ups (the JIT's \
         `compile_us`, settling at the end of a run included). Run: the program's run (`run_us`) \
         against its native `clang-19 -O3 -static` build (measured in boot 1). LLVM: whether the \
         program was loaded into a JIT in that boot.\n",
        git_commit()
    )
    .unwrap();
    writeln!(
        report,
        "| app | boot | reset to main ms | loaded bytes | interp/O0/O1/O2/O3 | compile ms | run us | run / native | LLVM | initrd MB |\n| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |"
    )
    .unwrap();
    let mut plotted: Vec<(String, Vec<Figures>)> = Vec::new();
    for app in BENCH_APPS {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let disk_path = dir.path().join("disk.img");
        disk::create(&disk_path)?;
        let mut rows = Vec::new();
        let mut native = None;
        for n in 1..=BOOTS {
            let manifest = dir.path().join(format!("boot{n}.toml"));
            std::fs::write(&manifest, system(app, n == 1, &[])).map_err(|e| e.to_string())?;
            let (b, size) = boot(&manifest, Some(&disk_path))?;
            if n == 1 {
                native = native_us(&b);
                // The first boot's initrd without the native build beside it.
                let plain = dir.path().join("first.toml");
                std::fs::write(&plain, system(app, false, &[])).map_err(|e| e.to_string())?;
                let out = dir.path().join("first.initrd");
                let art = artifacts::build_all()?;
                artifacts::build_initrd(&plain, &art.services_dir, &out)?;
                let first = std::fs::metadata(&out).map_or(size, |m| m.len());
                rows.push(figures(format!("{n}"), &b.log, first)?);
            } else {
                rows.push(figures(format!("{n}"), &b.log, size)?);
            }
        }
        // The exported image.
        let (packed, _) = export::newest_snapshot(&disk_path, &format!("{app}.ll"))?;
        let out = tempfile::tempdir().map_err(|e| e.to_string())?;
        let packed_name = format!("{app}.ll{}", ipc_abi::proto::fs::PACKED_SNAPSHOT_SUFFIX);
        std::fs::write(out.path().join(&packed_name), &packed).map_err(|e| e.to_string())?;
        let manifest = out.path().join("export.toml");
        let files = [format!("{app}.ll"), packed_name];
        let args = [format!("{app}.ll"), "auto".to_string()];
        std::fs::write(&manifest, export::manifest("app", &files, &args))
            .map_err(|e| e.to_string())?;
        let (b, size) = boot(&manifest, None)?;
        rows.push(figures("exported".into(), &b.log, size)?);
        for f in &rows {
            let ratio = native.map_or("-".into(), |n| format!("{:.2}x", f.run_us / n.max(1.0)));
            writeln!(
                report,
                "| {app} | {} | {:.1} | {} | {} | {:.1} | {:.0} | {ratio} | {} | {:.1} |",
                f.label,
                f.reset_to_main_ms,
                f.bytes_loaded,
                f.tiers.map(|t| t.to_string()).join("/"),
                f.compile_ms,
                f.run_us,
                f.llvm,
                f.initrd_bytes as f64 / 1e6,
            )
            .unwrap();
            eprintln!(
                "xtask: {app} boot {}: run {:.0} us ({ratio}), compile {:.1} ms, LLVM {}",
                f.label, f.run_us, f.compile_ms, f.llvm
            );
        }
        plotted.push((app.to_string(), rows));
    }
    // The two image sizes the seed's plan names.
    let sizes: Vec<(u64, u64)> = plotted
        .iter()
        .filter_map(|(_, r)| Some((r.first()?.initrd_bytes, r.last()?.initrd_bytes)))
        .collect();
    if let Some(&(first, exported)) = sizes.first() {
        writeln!(
            report,
            "\nImage sizes: the first boot's initrd {:.1} MB (the seed's plan expected 545 MB), the \
             exported one {:.1} MB (it expected 5-10 MB after convergence): {:.1}x smaller. \
             Most of the first is the JIT with LLVM linked in; the exported one is the \
             supervisor, the app host (with the C library it exports to programs) and the \
             program with its snapshot.",
            first as f64 / 1e6,
            exported as f64 / 1e6,
            first as f64 / exported.max(1) as f64
        )
        .unwrap();
    }
    let plot = plot(&plotted)?;
    writeln!(report, "\nPlot: [`docs/{plot}`]({plot}).").unwrap();
    append_report(&report)?;
    print!("{report}");
    Ok(0)
}

/// Run time per boot (log scale, one line per app) above the initrd size
/// per boot.
fn plot(apps: &[(String, Vec<Figures>)]) -> Result<String, String> {
    let name = "converge.svg";
    let path = artifacts::workspace_root().join("docs").join(name);
    let err = |e: &dyn std::fmt::Debug| format!("plot: {e:?}");
    let area = SVGBackend::new(&path, (900, 700)).into_drawing_area();
    area.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, bottom) = area.split_vertically(460);
    let boots = BOOTS as f64 + 1.0;
    let max_us = apps
        .iter()
        .flat_map(|(_, r)| r.iter().map(|f| f.run_us))
        .fold(10.0, f64::max)
        * 2.0;
    let min_us = apps
        .iter()
        .flat_map(|(_, r)| r.iter().map(|f| f.run_us))
        .fold(f64::MAX, f64::min)
        .max(1.0)
        / 2.0;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "run time per boot (boot 4 = the exported image)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5..boots + 0.5, (min_us..max_us).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("boot")
        .y_desc("guest us")
        .draw()
        .map_err(|e| err(&e))?;
    for (k, (app, rows)) in apps.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let points: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .map(|(i, f)| (i as f64 + 1.0, f.run_us.max(min_us)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(app.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    let sizes: Vec<(f64, f64)> = apps
        .first()
        .map(|(_, r)| {
            r.iter()
                .enumerate()
                .map(|(i, f)| (i as f64 + 1.0, f.initrd_bytes as f64 / 1e6))
                .collect()
        })
        .unwrap_or_default();
    let top_mb = sizes.iter().map(|s| s.1).fold(1.0, f64::max) * 1.2;
    let mut size_chart = ChartBuilder::on(&bottom)
        .caption("initrd size per boot", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5..boots + 0.5, 0.0..top_mb)
        .map_err(|e| err(&e))?;
    size_chart
        .configure_mesh()
        .x_desc("boot")
        .y_desc("MB")
        .draw()
        .map_err(|e| err(&e))?;
    size_chart
        .draw_series(sizes.iter().map(|&(x, mb)| {
            Rectangle::new([(x - 0.3, 0.0), (x + 0.3, mb)], BLUE.mix(0.6).filled())
        }))
        .map_err(|e| err(&e))?;
    area.present().map_err(|e| err(&e))?;
    Ok(name.to_string())
}
