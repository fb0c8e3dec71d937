//! The conformance corpus (`apps/corpus/`, third-party C test programs):
//! what each does natively, a manifest that runs them all in one app host
//! in one boot, and the runs read back from that boot's log.

use crate::artifacts::corpus_dir;
use crate::log::{BootLog, parse_line};

/// The service name the corpus runs under (its output is `[corpus] ...`).
pub const SERVICE: &str = "corpus";

/// What one program did: its output lines and its exit status (0-255;
/// 128 + the signal for a program killed by one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub output: Vec<String>,
    pub status: i32,
}

/// One run in the OS: which program at which tier (`interp`, `O0`..), what
/// it did, and how long it took (guest microseconds, compile waits
/// excluded).
#[derive(Clone, Debug)]
pub struct Run {
    pub program: String,
    pub tier: String,
    pub outcome: Outcome,
    pub run_us: u64,
}

/// Runs the native build of `program` (from a scratch directory: some
/// programs write files) and returns what it did.
pub fn native(program: &str) -> Result<Outcome, String> {
    native_in(&corpus_dir(), program)
}

/// As [`native`], for the program `NAME-native` in `dir`.
pub fn native_in(dir: &std::path::Path, program: &str) -> Result<Outcome, String> {
    let exe = dir.join(format!("{program}-native"));
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(&exe)
        .current_dir(scratch.path())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    use std::os::unix::process::ExitStatusExt;
    let status = match (out.status.code(), out.status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => -1,
    };
    Ok(Outcome {
        output: lines(&String::from_utf8_lossy(&out.stdout)),
        status,
    })
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

/// A manifest that runs `programs` (`NAME` for `NAME.ll`) one after
/// another at each of `tiers` (`"interp,O0,O3"`) in one app host named
/// [`SERVICE`], with the JIT beside it.
pub fn manifest(programs: &[String], tiers: &str) -> String {
    manifest_with(programs, tiers, true)
}

/// As [`manifest`], with the JIT server in the initrd or not.
pub fn manifest_with(programs: &[String], tiers: &str, jit: bool) -> String {
    System {
        programs,
        tiers,
        jit: jit.then_some(&[]),
        ..System::default()
    }
    .manifest()
}

/// As [`manifest_with`], at tier `auto`, with the profiler service given
/// `profiler_args` (its thresholds).
pub fn manifest_auto(programs: &[String], jit: bool, profiler_args: &[&str]) -> String {
    manifest_profiled(programs, "auto", jit, profiler_args)
}

/// As [`manifest_auto`], at `tiers` (`"auto,O2-count"`).
pub fn manifest_profiled(
    programs: &[String],
    tiers: &str,
    jit: bool,
    profiler_args: &[&str],
) -> String {
    System {
        programs,
        tiers,
        jit: jit.then_some(&[]),
        profiler: Some(profiler_args),
        ..System::default()
    }
    .manifest()
}

/// The system a test or a benchmark boots: `programs` run one after
/// another at each of `tiers` in one app host named [`SERVICE`], with the
/// services asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct System<'a> {
    pub programs: &'a [String],
    pub tiers: &'a str,
    /// The JIT server, with these arguments (`None`: not in the initrd).
    pub jit: Option<&'a [&'a str]>,
    /// The profiler, with these arguments (`None`: not in the initrd).
    pub profiler: Option<&'a [&'a str]>,
    /// The app host's scheduling priority (`None`: the manifest's default).
    pub app_priority: Option<u8>,
    /// The fs service (snapshots), with these arguments (`None`: not in
    /// the initrd).
    pub fs: Option<&'a [&'a str]>,
    /// The JIT starts when first looked up (`start = "on-demand"`), not
    /// at boot.
    pub jit_on_demand: bool,
    /// More arguments for the app host, after the tiers (`pin=...`).
    pub app_args: &'a [&'a str],
}

impl System<'_> {
    pub fn manifest(&self) -> String {
        let files: Vec<String> = self.programs.iter().map(|p| format!("{p}.ll")).collect();
        let args = |args: &[&str]| {
            if args.is_empty() {
                String::new()
            } else {
                format!("args = {args:?}\n")
            }
        };
        let mut services = String::new();
        if let Some(jit) = self.jit {
            let start = if self.jit_on_demand {
                "start = \"on-demand\"\n"
            } else {
                ""
            };
            services += &format!(
                "[[service]]\nname = \"jit\"\npersonality = \"linux\"\nrestart = \"on-failure\"\n{start}{}\n",
                args(jit)
            );
        }
        if let Some(profiler) = self.profiler {
            services += &format!("[[service]]\nname = \"profiler\"\n{}\n", args(profiler));
        }
        if let Some(fs) = self.fs {
            services += &crate::disk::fs_service(fs);
        }
        let priority = self
            .app_priority
            .map_or(String::new(), |p| format!("priority = {p}\n"));
        let app_args: String = self.app_args.iter().map(|a| format!(", {a:?}")).collect();
        format!(
            r#"version = 1
files = {files:?}

[[service]]
name = "supervisor"

{services}[[service]]
name = "{SERVICE}"
file = "app"
personality = "linux"
{priority}args = ["{list}", "{tiers}"{app_args}]
capabilities = ["initrd", "shutdown"]
shutdown_on_exit = true
"#,
            list = files.join(","),
            tiers = self.tiers,
        )
    }
}

/// The runs in `log`, in order: each starts at an `app.start` event, owns
/// the `[corpus] ` lines after it, and ends at its `app.run` event. A run
/// with no `app.run` (the app host died in it) is returned with status -1
/// so the caller can name the program that was running.
pub fn runs(log: &BootLog) -> Vec<Run> {
    let tag = format!("[{SERVICE}] ");
    let mut done = Vec::new();
    let mut open: Option<Run> = None;
    for line in log.text.lines() {
        if let Some(e) = parse_line(line) {
            match e.name.as_str() {
                "app.start" => {
                    done.extend(open.take());
                    open = Some(Run {
                        program: e
                            .get("file")
                            .unwrap_or("?")
                            .trim_end_matches(".ll")
                            .to_string(),
                        tier: e.get("tier").unwrap_or("?").to_string(),
                        outcome: Outcome {
                            output: Vec::new(),
                            status: -1,
                        },
                        run_us: 0,
                    });
                }
                "app.run" => {
                    if let Some(mut r) = open.take() {
                        let code = e.get("code").and_then(|c| c.parse::<i64>().ok());
                        r.outcome.status = code.map_or(-1, |c| (c & 0xff) as i32);
                        r.run_us = e.num("run_us").unwrap_or(0)
                            - e.num("compile_wait_us")
                                .unwrap_or(0)
                                .min(e.num("run_us").unwrap_or(0));
                        done.push(r);
                    }
                }
                _ => {}
            }
        } else if let (Some(r), Some(text)) = (open.as_mut(), line.strip_prefix(&tag)) {
            r.outcome
                .output
                .push(text.trim_end_matches('\r').to_string());
        }
    }
    done.extend(open);
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_split_by_their_events_and_keep_their_own_output() {
        let p = ipc_abi::log::EVENT_PREFIX;
        let text = format!(
            "{p}app.start file=a.ll tier=O0\n[corpus] one\n[jit] noise\n{p}app.run file=a.ll tier=O0 code=256 run_us=50 compile_wait_us=20\n\
             {p}app.start file=b.ll tier=interp\n[corpus] two\n"
        );
        let r = runs(&BootLog::from_text(text));
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].program.as_str(), r[0].tier.as_str()), ("a", "O0"));
        assert_eq!(r[0].outcome.output, vec!["one".to_string()]);
        assert_eq!(
            r[0].outcome.status, 0,
            "statuses are one byte, as exit() gives them"
        );
        assert_eq!(r[0].run_us, 30);
        assert_eq!((r[1].program.as_str(), r[1].tier.as_str()), ("b", "interp"));
        assert_eq!(r[1].outcome.status, -1, "a run that never ended");
    }
}
