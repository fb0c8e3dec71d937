//! `cargo xtask bench tiers`: the ladder (`--tier auto`) against fixed
//! tiers and native code, and a plot of one program's throughput over
//! time as its functions climb.
//!
//! One boot per app, under `-icount`: its native build alone at top
//! priority, then one app host running it under `auto`, at O3 from the
//! start, and interpreted, with the JIT and the profiler beside it. Times
//! are whole runs (`run_us`: `main`, exit handlers, flushing), compile
//! waits included (O3 from the start waits for its first compiles; `auto`
//! never waits). For `tierup` the profiler also samples `main`'s loop
//! count at every poll (`profile.sample`): its outer loop runs `mix` once
//! per iteration, so iterations per millisecond is the program's
//! throughput, drawn in `docs/tiers-throughput.svg` with the tier-ups and
//! the on-stack replacement marked.

use super::{
    BENCH_APPS, append_report, boot_generated, first_outputs, git_commit, native_us, today,
};
use crate::artifacts;
use crate::log::BootLog;
use plotters::prelude::*;
use std::fmt::Write as _;

/// The apps measured: the usual ones, and the two the ladder was made for.
fn apps() -> Vec<&'static str> {
    BENCH_APPS
        .iter()
        .copied()
        .chain(["tierup", "hotloop"])
        .collect()
}

fn manifest(app: &str) -> String {
    let sample = if app == "tierup" {
        "args = [\"sample=main\"]\n"
    } else {
        ""
    };
    // tierup runs minutes interpreted (guest time): once is enough.
    let counted = if app == "tierup" { "" } else { "interp-count," };
    format!(
        "version = 1\nfiles = [\"{app}.ll\"]\n\n[[service]]\nname = \"supervisor\"\n\n\
         [[service]]\nname = \"native\"\nfile = \"{app}-native\"\npersonality = \"linux\"\npriority = 3\n\n\
         [[service]]\nname = \"jit\"\npersonality = \"linux\"\nrestart = \"on-failure\"\n\n\
         [[service]]\nname = \"profiler\"\n{sample}\n\
         [[service]]\nname = \"app\"\nfile = \"app\"\npersonality = \"linux\"\n\
         args = [\"{app}.ll\", \"auto,O3,interp,{counted}O2,O2-count,O0\"]\ncapabilities = [\"initrd\", \"shutdown\"]\n"
    )
}

pub fn run() -> Result<i32, String> {
    artifacts::build_all()?;
    let mut report = String::new();
    writeln!(report, "\n## The ladder (`--tier auto`) ({})\n", today()).unwrap();
    writeln!(
        report,
        "Command: `cargo xtask bench tiers` (commit {}). One boot per app under `-icount \
         shift=0` (guest microseconds = thousands of guest instructions): the native `clang-19 \
         -O3 -static` build alone (its whole task life), then the app under `auto` (starts \
         interpreted; the profiler moves hot functions up at 10/100/1000/10000 calls or \
         1000..1000000 loop back-edges), at O3 from the start (waiting for its first compiles), \
         and interpreted. Run times include compile waits (`auto` has none). The cost of counting: \
         the app at O2 with the counting `auto`'s compiled code does (`O2-count`: calls, loops and \
         naming the running function for the sampling profiler) against plain O2, compile waits left out, and \
         interpreted with the counting `auto`'s interpreter does (`interp-count`: the same and \
         branch edges) against plain interpreted (not for tierup, which runs minutes interpreted). First output: from the start of `main` to the program's \
         first call of a C output function (`app.first_output`), under `auto` and at O0 (whose \
         first calls wait for the JIT).\n",
        git_commit()
    )
    .unwrap();
    writeln!(
        report,
        "| app | native us | auto us | auto / native | O3 us | auto / O3 | interp us | auto / interp | tier-ups | OSR | O2 us | O2 counting us | counting cost | interp counting us | interp counting cost | first output auto us | first output O0 us |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    .unwrap();
    let mut plot = None;
    for app in apps() {
        let b = boot_generated(&manifest(app))?;
        let native_us =
            native_us(&b).ok_or_else(|| format!("{app}: no native timing\n{}", b.dump()))?;
        let run = |tier: &str| {
            b.log
                .events("app.run")
                .find(|e| e.get("tier") == Some(tier))
                .and_then(|e| e.num("run_us"))
                .ok_or_else(|| format!("{app}: no {tier} run\n{}", b.dump()))
        };
        let (auto, o3, interp) = (run("auto")?, run("O3")?, run("interp")?);
        let interp_counted = run("interp-count").ok();
        // Compile waits out: what counting costs the code itself.
        let compiled = |tier: &str| {
            b.log
                .events("app.run")
                .find(|e| e.get("tier") == Some(tier))
                .and_then(|e| Some(e.num("run_us")? - e.num("compile_wait_us")?))
                .ok_or_else(|| format!("{app}: no {tier} run\n{}", b.dump()))
        };
        let (o2, counted) = (compiled("O2")?, compiled("O2-count")?);
        let first = first_outputs(&b.log);
        let (first_auto, first_o0) = (first("auto"), first("O0"));
        let ups = b.log.events("tier.up").count();
        let osr = b.log.events("app.osr").count();
        writeln!(
            report,
            "| {app} | {native_us:.0} | {auto} | {:.1} | {o3} | {:.2} | {interp} | {:.2} | {ups} | {osr} | {o2} | {counted} | {:+.1}% | {} | {} | {first_auto} | {first_o0} |",
            auto as f64 / native_us,
            auto as f64 / o3 as f64,
            auto as f64 / interp as f64,
            (counted as f64 / o2 as f64 - 1.0) * 100.0,
            interp_counted.map_or("-".into(), |c| c.to_string()),
            interp_counted.map_or("-".into(), |c| format!(
                "{:+.1}%",
                (c as f64 / interp as f64 - 1.0) * 100.0
            )),
        )
        .unwrap();
        if app == "tierup" {
            plot = Some(draw(&b.log)?);
        }
    }
    if let Some(path) = plot {
        writeln!(
            report,
            "\nThroughput of `tierup` under `auto` (outer-loop iterations per millisecond, each one \
             call of `mix`, 20,000 rounds of `step`), with each tier-up and on-stack replacement \
             marked: [{path}]({path}).\n\n![tierup under auto]({path})"
        )
        .unwrap();
    }
    print!("{report}");
    append_report(&report)?;
    Ok(0)
}

/// Draws `main`'s loop rate over the auto run and the profiler's
/// decisions; returns the SVG's path relative to `docs/`.
fn draw(log: &BootLog) -> Result<String, String> {
    let samples: Vec<(f64, f64)> = log
        .events_with("profile.sample", "fn", "main")
        .filter_map(|e| Some((e.num("at_ms")? as f64, e.num("backedges")? as f64)))
        .collect();
    if samples.len() < 3 {
        return Err("too few throughput samples from the profiler".into());
    }
    // Iterations per ms between samples at least 20 ms apart.
    let mut rate = Vec::new();
    let mut last = samples[0];
    for &(t, n) in &samples[1..] {
        if t - last.0 >= 20.0 {
            rate.push(((t + last.0) / 2.0, (n - last.1) / (t - last.0)));
            last = (t, n);
        }
    }
    let marks: Vec<(f64, String)> = log
        .events("tier.up")
        .filter_map(|e| {
            Some((
                e.num("at_ms")? as f64,
                format!("{} {}", e.get("fn")?, e.get("to")?),
            ))
        })
        .chain(
            log.events("tier.osr")
                .filter_map(|e| Some((e.num("at_ms")? as f64, format!("{} OSR", e.get("fn")?)))),
        )
        .collect();
    let name = "tiers-throughput.svg";
    let path = artifacts::workspace_root().join("docs").join(name);
    let end = samples.last().map_or(1.0, |s| s.0).max(1.0);
    let top = rate.iter().map(|r| r.1).fold(1.0, f64::max) * 1.15;
    let area = SVGBackend::new(&path, (900, 480)).into_drawing_area();
    let err = |e: &dyn std::fmt::Debug| format!("plot: {e:?}");
    area.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&area)
        .caption("tierup under --tier auto", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("guest ms since the run began")
        .y_desc("iterations / ms")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(rate.iter().copied(), &BLUE))
        .map_err(|e| err(&e))?;
    for (k, (t, label)) in marks.iter().enumerate() {
        let color = if label.ends_with("OSR") { &RED } else { &BLACK };
        chart
            .draw_series(LineSeries::new([(*t, 0.0), (*t, top)], color.mix(0.4)))
            .map_err(|e| err(&e))?;
        let y = top * (0.95 - 0.06 * (k % 8) as f64);
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (*t, y),
                ("sans-serif", 12).into_font(),
            )))
            .map_err(|e| err(&e))?;
    }
    area.present().map_err(|e| err(&e))?;
    Ok(name.to_string())
}
