//! One boot under QEMU (q35, OVMF, TCG): serial console captured line by
//! line (and echoed when asked), a timeout, and the guest's exit status
//! decoded from `isa-debug-exit`.

use crate::host::{Firmware, QEMU};
use crate::log::BootLog;
use ipc_abi::exit::GuestStatus;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct BootConfig {
    pub esp: PathBuf,
    pub firmware: Firmware,
    pub memory: String,
    pub timeout: Duration,
    /// `-icount` argument, for instruction-exact guest time.
    pub icount: Option<String>,
    pub extra_args: Vec<String>,
    /// The snapshot disk, attached as a second virtio-blk device
    /// (`crate::disk`).
    pub disk: Option<PathBuf>,
    /// What of the serial console to show as it arrives.
    pub echo: Echo,
}

/// What a boot shows on the terminal while it runs (the whole log is
/// kept either way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Echo {
    Nothing,
    /// Every console line, on stdout.
    Everything,
    /// Only one task's own output, untagged: its `[name]` lines on stdout
    /// and its `[name:err]` lines on stderr.
    Task(String),
}

impl Echo {
    /// Shows one console line (with its newline) as asked.
    fn show(&self, line: &str) {
        match self {
            Echo::Nothing => {}
            Echo::Everything => {
                print!("{line}");
                let _ = std::io::stdout().flush();
            }
            Echo::Task(name) => {
                if let Some(out) = line.strip_prefix(&format!("[{name}] ")) {
                    print!("{out}");
                    let _ = std::io::stdout().flush();
                } else if let Some(err) = line.strip_prefix(&format!("[{name}:err] ")) {
                    eprint!("{err}");
                }
            }
        }
    }
}

impl BootConfig {
    pub fn new(esp: PathBuf, firmware: Firmware) -> BootConfig {
        BootConfig {
            esp,
            firmware,
            memory: "256M".into(),
            timeout: Duration::from_secs(120),
            icount: None,
            extra_args: Vec::new(),
            disk: None,
            echo: Echo::Nothing,
        }
    }
}

/// How a boot ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest reported a status through the debug-exit device.
    Guest(GuestStatus),
    /// QEMU exited on its own with this code (bad arguments, firmware
    /// missing, guest reset with `-no-reboot`, ...).
    QemuExited(i32),
    /// Killed by a signal.
    Killed,
    /// Still running at the timeout; we killed it.
    TimedOut,
}

/// `cargo xtask run`'s status when the run hit its time limit.
pub const STATUS_TIMED_OUT: i32 = 124;
/// `cargo xtask run`'s status when QEMU itself failed or was killed.
pub const STATUS_QEMU_FAILED: i32 = 125;

#[derive(Clone, Debug)]
pub struct Boot {
    pub outcome: Outcome,
    pub log: BootLog,
    pub wall: Duration,
}

impl Boot {
    /// The status `cargo xtask run` exits with: 0 after a clean power-off;
    /// the supervisor's own status when it ended non-zero (with `--app`,
    /// the program's: its exit code, 128 + signal for a fault, or the app
    /// host's refusal or failure status), from the kernel's `shutdown`
    /// event; the guest status number for a kernel failure; 124 at the
    /// time limit; 125 when QEMU failed.
    pub fn exit_code(&self) -> i32 {
        match self.outcome {
            Outcome::Guest(GuestStatus::Success) => 0,
            Outcome::Guest(GuestStatus::SupervisorFailed) => self
                .log
                .first("shutdown")
                .and_then(|e| e.num("supervisor_code"))
                .map_or(1, |c| u8::try_from(c).unwrap_or(255).max(1) as i32),
            Outcome::Guest(s) => s as i32,
            Outcome::TimedOut => STATUS_TIMED_OUT,
            Outcome::QemuExited(_) | Outcome::Killed => STATUS_QEMU_FAILED,
        }
    }

    /// Tasks that started and never exited (what was still running when
    /// a run hit its time limit).
    pub fn still_running(&self) -> Vec<String> {
        let mut running: Vec<(u64, String)> = Vec::new();
        for e in &self.log.events {
            let (Some(id), Some(name)) = (e.num("id"), e.get("name")) else {
                continue;
            };
            match e.name.as_str() {
                "task.start" => running.push((id, name.to_string())),
                "task.exit" => running.retain(|(i, _)| *i != id),
                _ => {}
            }
        }
        running.into_iter().map(|(_, n)| n).collect()
    }

    /// The whole serial log with a heading, for failing tests.
    pub fn dump(&self) -> String {
        format!(
            "--- boot ended {:?} after {:.1}s; serial log follows ---\n{}\n--- end of serial log ---",
            self.outcome,
            self.wall.as_secs_f64(),
            self.log.text
        )
    }
}

pub fn boot(cfg: &BootConfig) -> Result<Boot, String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let vars = scratch.path().join("OVMF_VARS.fd");
    std::fs::copy(&cfg.firmware.vars, &vars)
        .map_err(|e| format!("cannot copy {}: {e}", cfg.firmware.vars.display()))?;

    let mut cmd = Command::new(QEMU);
    cmd.args([
        "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "1",
    ])
    .args(["-m", &cfg.memory])
    .arg("-drive")
    .arg(format!(
        "if=pflash,format=raw,readonly=on,file={}",
        cfg.firmware.code.display()
    ))
    .arg("-drive")
    .arg(format!("if=pflash,format=raw,file={}", vars.display()))
    .arg("-drive")
    .arg(format!(
        "if=none,format=raw,id=esp,file={}",
        cfg.esp.display()
    ))
    .args(["-device", "virtio-blk-pci,drive=esp,bootindex=0"])
    .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
    .args(["-serial", "stdio", "-display", "none", "-monitor", "none"])
    .args(["-nic", "none", "-no-reboot"]);
    if let Some(disk) = &cfg.disk {
        cmd.arg("-drive")
            .arg(format!(
                "if=none,format=raw,id=snapshots,file={}",
                disk.display()
            ))
            .args([
                "-device",
                &format!(
                    "virtio-blk-pci,drive=snapshots,serial={}",
                    crate::disk::DISK_SERIAL
                ),
            ]);
    }
    if let Some(ic) = &cfg.icount {
        cmd.args(["-icount", ic]);
    }
    cmd.args(&cfg.extra_args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {QEMU}: {e}"))?;
    let text = Arc::new(Mutex::new(String::new()));
    let reader = {
        let text = Arc::clone(&text);
        let stdout = child.stdout.take().expect("piped");
        let echo = cfg.echo.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let line = console_line(&buf);
                echo.show(&line);
                text.lock().unwrap().push_str(&line);
                buf.clear();
            }
        })
    };
    let stderr_reader = {
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default())
    };

    let outcome = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break match status.code() {
                Some(code) => match GuestStatus::from_qemu_exit_code(code) {
                    Some(s) => Outcome::Guest(s),
                    None => Outcome::QemuExited(code),
                },
                None => Outcome::Killed,
            };
        }
        if start.elapsed() > cfg.timeout {
            let _ = child.kill();
            let _ = child.wait();
            break Outcome::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = start.elapsed();
    let _ = reader.join();
    let stderr = stderr_reader.join().unwrap_or_default();
    let mut text = std::mem::take(&mut *text.lock().unwrap());
    if !stderr.trim().is_empty() {
        text.push_str("\n[qemu stderr]\n");
        text.push_str(&stderr);
    }
    Ok(Boot {
        outcome,
        log: BootLog::from_text(text),
        wall,
    })
}

/// One console line as the user and the saved log see it: the firmware's
/// terminal control sequences (OVMF clears the screen with `ESC[2J` and
/// sets modes with `ESC[=3h`) and carriage returns removed, everything the
/// kernel and tasks printed kept.
pub fn console_line(raw: &[u8]) -> String {
    let plain = strip_ansi_escapes::strip(raw);
    String::from_utf8_lossy(&plain)
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot_with(outcome: Outcome, log: &str) -> Boot {
        Boot {
            outcome,
            log: BootLog::from_text(log.into()),
            wall: Duration::ZERO,
        }
    }

    #[test]
    fn the_run_status_is_the_supervisors_or_the_failures() {
        let ok = boot_with(Outcome::Guest(GuestStatus::Success), "");
        assert_eq!(ok.exit_code(), 0);
        let failed = "@@ shutdown status=supervisor-failed reason=last-task-exited supervisor_code=139 frames_free=1\n";
        let b = boot_with(Outcome::Guest(GuestStatus::SupervisorFailed), failed);
        assert_eq!(b.exit_code(), 139);
        let huge = failed.replace("139", "4096");
        let b = boot_with(Outcome::Guest(GuestStatus::SupervisorFailed), &huge);
        assert_eq!(b.exit_code(), 255);
        let b = boot_with(Outcome::Guest(GuestStatus::SupervisorFailed), "");
        assert_eq!(b.exit_code(), 1);
        assert_eq!(boot_with(Outcome::TimedOut, "").exit_code(), 124);
        assert_eq!(boot_with(Outcome::Killed, "").exit_code(), 125);
        let panic = boot_with(Outcome::Guest(GuestStatus::KernelPanic), "");
        assert_eq!(panic.exit_code(), GuestStatus::KernelPanic as i32);
    }

    #[test]
    fn still_running_lists_tasks_that_never_exited() {
        let log = [
            "@@ task.start id=1 name=supervisor ring=3 tsc=1",
            "@@ task.start id=2 name=jit ring=3 tsc=2",
            "@@ task.start id=3 name=app ring=3 tsc=3",
            "@@ task.exit id=3 name=app reason=exit code=0 tsc=4",
        ]
        .join("\n");
        let log = log.as_str();
        let b = boot_with(Outcome::TimedOut, log);
        assert_eq!(b.still_running(), ["supervisor", "jit"]);
    }

    #[test]
    fn firmware_control_sequences_are_removed_and_text_kept() {
        let raw = b"\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001\r\n";
        assert_eq!(console_line(raw), "BdsDxe: loading Boot0001\n");
        let kernel = b"@@ kernel.entry tsc=123 name=a-b_c [x] {y}\n";
        assert_eq!(console_line(kernel), String::from_utf8_lossy(kernel));
        assert!(!console_line(b"a\x1b[0mb\x07c\n").contains(|c: char| c.is_control() && c != '\n'));
    }
}
