//! Shared set-up for QEMU tests: build once per test binary, then boot
//! ESPs assembled per test.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of this shared module"
)]

use std::sync::OnceLock;
use test_harness::artifacts::{self, Artifacts};
use test_harness::esp::EspContents;
use test_harness::host::{self, Firmware};
use test_harness::qemu::{self, Boot, BootConfig};

pub struct Setup {
    pub artifacts: Artifacts,
    pub firmware: Firmware,
}

pub fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| Setup {
        firmware: host::ensure_tools().expect("QEMU and OVMF"),
        artifacts: artifacts::build_all().expect("guest build"),
    })
}

/// The ESP of a normal boot.
pub fn default_esp() -> EspContents {
    let a = &setup().artifacts;
    EspContents {
        loader: std::fs::read(&a.loader).unwrap(),
        kernel: Some(std::fs::read(&a.kernel).unwrap()),
        initrd: Some(std::fs::read(&a.initrd).unwrap()),
        cmdline: None,
    }
}

/// Boots `esp` and returns what happened; panics only on harness trouble.
pub fn boot(esp: &EspContents) -> Boot {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("esp.img");
    esp.write(&path).unwrap();
    let cfg = BootConfig::new(path, setup().firmware.clone());
    qemu::boot(&cfg).unwrap()
}

/// Asserts with the serial log attached.
#[macro_export]
macro_rules! check {
    ($boot:expr, $cond:expr, $($msg:tt)*) => {
        assert!($cond, "{}\n{}", format!($($msg)*), $boot.dump())
    };
}

/// Boots the default ESP with an initrd built from
/// `test-harness/manifests/NAME.toml`.
pub fn boot_manifest(name: &str) -> Boot {
    boot_manifest_with_memory(name, "256M")
}

/// As [`boot_manifest`], with `memory` for QEMU's `-m`.
pub fn boot_manifest_with_memory(name: &str, memory: &str) -> Boot {
    let manifest = artifacts::workspace_root()
        .join("test-harness/manifests")
        .join(format!("{name}.toml"));
    boot_manifest_file(&manifest, memory)
}

/// Boots the system `system` describes (its manifest written to a
/// temporary file), with 1 GiB of memory.
#[allow(dead_code, reason = "not every test file boots a `System`")]
pub fn boot_system(system: &test_harness::corpus::System<'_>) -> Boot {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("system.toml");
    std::fs::write(&manifest, system.manifest()).unwrap();
    boot_manifest_file(&manifest, "1G")
}

/// Builds an initrd from the manifest at `manifest` (files are found beside
/// it and among the build outputs) and boots it with `memory`.
pub fn boot_manifest_file(manifest: &std::path::Path, memory: &str) -> Boot {
    boot_manifest_with_disk(manifest, memory, None)
}

/// As [`boot_manifest_file`], with `disk` attached as the snapshot disk.
pub fn boot_manifest_with_disk(
    manifest: &std::path::Path,
    memory: &str,
    disk: Option<&std::path::Path>,
) -> Boot {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("initrd.img");
    artifacts::build_initrd(manifest, &setup().artifacts.services_dir, &img).unwrap();
    let mut esp = default_esp();
    esp.initrd = Some(std::fs::read(&img).unwrap());
    let path = dir.path().join("esp.img");
    esp.write(&path).unwrap();
    let mut cfg = BootConfig::new(path, setup().firmware.clone());
    cfg.memory = memory.into();
    cfg.disk = disk.map(std::path::Path::to_path_buf);
    qemu::boot(&cfg).unwrap()
}

/// Boots an app: the JIT server plus the app host running `file` (an
/// initrd file: `NAME.ll` from `apps/`, or one beside the manifests) at
/// `level`, under the service name `name`.
pub fn boot_app(name: &str, file: &str, level: u8) -> Boot {
    boot_app_with_args(name, file, &[&level.to_string()])
}

/// As [`boot_app`], with the app host's arguments after the file name.
pub fn boot_app_with_args(name: &str, file: &str, rest: &[&str]) -> Boot {
    boot_app_with_files(name, file, rest, &[])
}

/// As [`boot_app_with_args`], with more files from
/// `test-harness/manifests` in the initrd (for `stdin=` and `file=`).
pub fn boot_app_with_files(name: &str, file: &str, rest: &[&str], inputs: &[&str]) -> Boot {
    let files: Vec<&str> = std::iter::once(file)
        .chain(inputs.iter().copied())
        .collect();
    let files = format!("{files:?}");
    let args: Vec<String> = std::iter::once(file.to_string())
        .chain(rest.iter().map(|a| a.to_string()))
        .collect();
    let args = format!("{args:?}");
    // The JIT honours test-only crash requests only when told to.
    let jit_args = if rest.iter().any(|a| a.starts_with("crash-")) {
        format!("args = [\"{}\"]", ipc_abi::proto::jit::ALLOW_TEST_CRASHES)
    } else {
        String::new()
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("app.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"version = 1
files = {files}

[[service]]
name = "supervisor"

[[service]]
name = "jit"
personality = "linux"
restart = "on-failure"
{jit_args}

[[service]]
name = "{name}"
file = "app"
personality = "linux"
args = {args}
capabilities = ["initrd", "shutdown"]
shutdown_on_exit = true
"#
        ),
    )
    .unwrap();
    for f in std::iter::once(file).chain(inputs.iter().copied()) {
        let extra = artifacts::workspace_root()
            .join("test-harness/manifests")
            .join(f);
        if extra.is_file() {
            std::fs::copy(&extra, dir.path().join(f)).unwrap();
        }
    }
    boot_manifest_file(&manifest, "1G")
}

/// What a task printed, without the `[name] ` tag.
pub fn output_of(boot: &Boot, name: &str) -> Vec<String> {
    let tag = format!("[{name}] ");
    boot.log
        .text
        .lines()
        .filter_map(|l| l.strip_prefix(&tag))
        .map(str::to_string)
        .collect()
}

/// The JIT's O3 compiles in `log`, and among them those whose profile's
/// numbering did not match the function's (`pgo_mismatch`,
/// `pgo_site_mismatch`: profile-guided O3 found other branches or calls
/// than the bytecode counted).
pub fn o3_compiles(
    log: &test_harness::log::BootLog,
) -> (
    Vec<&test_harness::log::Event>,
    Vec<&test_harness::log::Event>,
) {
    let o3: Vec<_> = log
        .events("jit.compile")
        .filter(|e| e.get("level") == Some("3"))
        .collect();
    let mismatched = o3
        .iter()
        .copied()
        .filter(|e| e.get("pgo_mismatch").is_some() || e.get("pgo_site_mismatch").is_some())
        .collect();
    (o3, mismatched)
}
