//! The host tools a build and boot need (QEMU, OVMF, static glibc for
//! Linux-personality programs, LLVM 19 and its static dependencies for the
//! JIT server): found, installed with
//! apt-get when we are root on Debian, or named exactly when we cannot.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const QEMU: &str = "qemu-system-x86_64";
const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "ovmf",
    "libc6-dev",
    "llvm-19-dev",
    "clang-19",
    "libffi-dev",
    "zlib1g-dev",
    "libzstd-dev",
];
/// Files whose presence says the packages above are installed.
const REQUIRED_FILES: &[&str] = &[
    STATIC_LIBC,
    "/usr/bin/llvm-config-19",
    "/usr/bin/clang-19",
    "/usr/lib/x86_64-linux-gnu/libffi.a",
    "/usr/lib/x86_64-linux-gnu/libz.a",
    "/usr/lib/x86_64-linux-gnu/libzstd.a",
];
/// Static glibc, for Linux-personality programs.
const STATIC_LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.a";

/// Firmware code and the variable-store template that goes with it.
#[derive(Clone, Debug)]
pub struct Firmware {
    pub code: PathBuf,
    pub vars: PathBuf,
}

const FIRMWARE_CANDIDATES: &[(&str, &str)] = &[
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
];

fn find_firmware() -> Option<Firmware> {
    if let (Ok(code), Ok(vars)) = (std::env::var("OVMF_CODE"), std::env::var("OVMF_VARS")) {
        return Some(Firmware {
            code: code.into(),
            vars: vars.into(),
        });
    }
    FIRMWARE_CANDIDATES
        .iter()
        .find(|(c, v)| Path::new(c).is_file() && Path::new(v).is_file())
        .map(|(c, v)| Firmware {
            code: c.into(),
            vars: v.into(),
        })
}

fn have_files() -> bool {
    REQUIRED_FILES.iter().all(|f| Path::new(f).is_file())
}

fn have_qemu() -> bool {
    Command::new(QEMU)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure QEMU and OVMF are present, installing them if we can.
pub fn ensure_tools() -> Result<Firmware, String> {
    if have_qemu()
        && have_files()
        && let Some(fw) = find_firmware()
    {
        return Ok(fw);
    }
    let hint = format!(
        "install them with: sudo apt-get install {}",
        PACKAGES.join(" ")
    );
    if !is_root() || Command::new("apt-get").arg("--version").output().is_err() {
        return Err(format!(
            "QEMU ({QEMU}), OVMF firmware or static glibc is missing; {hint}"
        ));
    }
    eprintln!("xtask: installing {} with apt-get", PACKAGES.join(" "));
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    if !ok(Command::new("apt-get").args(["update", "-q"]))
        || !ok(Command::new("apt-get")
            .args(["install", "-y", "-q"])
            .args(PACKAGES)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    {
        return Err(format!("apt-get could not install the packages; {hint}"));
    }
    match (
        have_qemu() && Path::new(STATIC_LIBC).is_file(),
        find_firmware(),
    ) {
        (true, Some(fw)) => Ok(fw),
        _ => Err(format!(
            "QEMU, OVMF or static glibc still missing after apt-get; {hint}"
        )),
    }
}
