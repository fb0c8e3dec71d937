//! Builds each part for its own target and finds the results.
//!
//! Guest parts build into `target/guest` so that a `cargo test` that is
//! itself running under cargo never waits on its own build lock.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const UEFI_TARGET: &str = "x86_64-unknown-uefi";
/// Programs for the Linux personality: static glibc, not position
/// independent (the kernel loads `ET_EXEC` files only).
pub const LINUX_TARGET: &str = "x86_64-unknown-linux-gnu";
pub const LINUX_PACKAGES: &[&str] = &["linuxhello", "hostile", "jit", "app", "fs"];
const LINUX_RUSTFLAGS: &str = "-C\x1ftarget-feature=+crt-static\x1f-C\x1frelocation-model=static";
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// Crates built for `KERNEL_TARGET`: the kernel and the native services.
pub const GUEST_PACKAGES: &[&str] = &["microkernel", "supervisor", "profiler", "testsvc"];
/// Features that turn on the ring-3 programs of those crates.
pub const GUEST_FEATURES: &str = "supervisor/guest,profiler/guest";

/// Paths of everything a boot needs.
#[derive(Clone, Debug)]
pub struct Artifacts {
    pub loader: PathBuf,
    pub kernel: PathBuf,
    /// Where the native services' ELF files are (the initrd's search dir).
    pub services_dir: PathBuf,
    /// The default initrd, built from `initrd/manifests/default.toml`.
    pub initrd: PathBuf,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-harness sits in the workspace")
        .to_path_buf()
}

/// Linux-personality programs build apart: their RUSTFLAGS differ.
pub fn linux_target_dir() -> PathBuf {
    workspace_root().join("target").join("linux")
}

/// Where Linux-personality programs end up.
pub fn linux_dir() -> PathBuf {
    linux_target_dir().join(LINUX_TARGET).join("release")
}

pub fn guest_target_dir() -> PathBuf {
    workspace_root().join("target").join("guest")
}

/// Scratch space for images and logs.
pub fn work_dir() -> PathBuf {
    let d = workspace_root().join("target").join("xtask");
    let _ = std::fs::create_dir_all(&d);
    d
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    // Flags meant for the host build must not leak into guest builds.
    c.env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    c
}

fn run(mut cmd: Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

/// Builds loader, kernel and native services (release), then the default
/// initrd.
pub fn build_all() -> Result<Artifacts, String> {
    let target_dir = guest_target_dir();
    let mut loader = cargo();
    loader
        .args([
            "build",
            "--release",
            "--package",
            "loader",
            "--target",
            UEFI_TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    run(loader)?;
    let mut kernel = cargo();
    kernel.args(["build", "--release", "--target", KERNEL_TARGET]);
    for package in GUEST_PACKAGES {
        kernel.args(["--package", package]);
    }
    kernel
        .args(["--features", GUEST_FEATURES])
        .arg("--target-dir")
        .arg(&target_dir);
    run(kernel)?;

    let mut linux = cargo();
    linux
        .args(["build", "--release", "--target", LINUX_TARGET])
        .env("CARGO_ENCODED_RUSTFLAGS", LINUX_RUSTFLAGS)
        // The JIT links LLVM (tens of MB); debug info would double the
        // initrd for nothing the guest can use.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .arg("--target-dir")
        .arg(linux_target_dir());
    for package in LINUX_PACKAGES {
        linux.args(["--package", package]);
    }
    run(linux)?;

    build_apps()?;
    // The host tool that lowers programs' IR to bytecode for the initrd.
    let mut irlower = cargo();
    irlower.args([
        "build",
        "--release",
        "--package",
        "irlower",
        "--bin",
        "irlower",
    ]);
    run(irlower)?;

    let services_dir = target_dir.join(KERNEL_TARGET).join("release");
    let initrd = work_dir().join("initrd.img");
    let manifest = workspace_root().join("initrd/manifests/default.toml");
    build_initrd(&manifest, &services_dir, &initrd)?;
    Ok(Artifacts {
        loader: target_dir
            .join(UEFI_TARGET)
            .join("release")
            .join("loader.efi"),
        kernel: services_dir.join("kernel"),
        services_dir,
        initrd,
    })
}

/// Where the example apps' IR and native reference builds go.
pub fn apps_dir() -> PathBuf {
    workspace_root().join("target").join("apps")
}

/// Flags that turn C into the IR apps arrive as: unoptimized, but
/// optimizable (no `optnone`), without unwind tables (nothing unwinds
/// through app code).
pub const APP_IR_FLAGS: &[&str] = &[
    "-O0",
    "-Xclang",
    "-disable-O0-optnone",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-emit-llvm",
    "-S",
];

/// Compiles every `apps/*.c` to `NAME.ll`, and with `-O3` to a native,
/// static, non-PIE `NAME-native`: the reference output, and the
/// ahead-of-time baseline the Linux personality can run. The conformance
/// corpus (`apps/corpus/*.c`, third-party test programs) goes the same way
/// into [`corpus_dir`], with warnings off (they are others' code, kept
/// unchanged). Outputs newer than their source are kept.
pub fn build_apps() -> Result<(), String> {
    let root = workspace_root().join("apps");
    build_c_dir(&root, &apps_dir(), &[])?;
    build_c_dir(&root.join("corpus"), &corpus_dir(), &["-w"])
}

/// The example apps (`apps/`) that need no input and that the
/// interpreter runs entirely (`tierup.c`, `hotloop.c`, `inlining.c` and `vectors.c` are left out:
/// loops written to be compiled, minutes interpreted under emulation).
pub const INTERPRETABLE_APPS: &[&str] = &[
    // The computing ones first (`COMPUTING_APPS`).
    "fib",
    "sieve",
    "checksum",
    "nbody",
    "spectralnorm",
    "fannkuch",
    "lazy",
    "libc",
    "echoargs",
    "mixed",
];

/// The example apps that need no input: the interpretable ones, and
/// `cstdlib.c`, whose long-double `main` the interpreter cannot run (it
/// starts at O0).
pub fn no_input_apps() -> Vec<&'static str> {
    INTERPRETABLE_APPS
        .iter()
        .copied()
        .chain(["cstdlib"])
        .collect()
}

/// The example apps that compute something (the benchmarks' set; the
/// rest test features): the first of the interpretable ones.
pub const COMPUTING_APPS: &[&str] = INTERPRETABLE_APPS.split_at(6).0;

/// Example apps written for the vector units (`cargo xtask bench jit`
/// compares code for this CPU with baseline x86-64 on them).
pub const VECTOR_APPS: &[&str] = &["vectors"];

/// Where the conformance corpus's IR and native builds go.
pub fn corpus_dir() -> PathBuf {
    apps_dir().join("corpus")
}

/// The names (file stems) of the conformance corpus's programs, sorted.
pub fn corpus_programs() -> Result<Vec<String>, String> {
    Ok(c_files(&workspace_root().join("apps").join("corpus"))?
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect())
}

fn c_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    entries.sort();
    Ok(entries)
}

/// Whether `out` exists and is newer than `src`.
fn up_to_date(src: &Path, out: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(src), modified(out)), (Some(s), Some(o)) if o > s)
}

fn build_c_dir(src: &Path, out: &Path, extra: &[&str]) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for c in c_files(src)? {
        let stem = c
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("app")
            .to_string();
        let ll = out.join(format!("{stem}.ll"));
        if !up_to_date(&c, &ll) {
            let mut ir = Command::new("clang-19");
            ir.args(APP_IR_FLAGS).args(extra).arg(&c).arg("-o").arg(&ll);
            run(ir)?;
        }
        let native_exe = out.join(format!("{stem}-native"));
        if !up_to_date(&c, &native_exe) {
            let mut native = Command::new("clang-19");
            native
                .args(["-O3", "-static"])
                .args(extra)
                .arg(&c)
                .arg("-lm")
                .arg("-o")
                .arg(&native_exe);
            run(native)?;
        }
    }
    Ok(())
}

/// Builds an initrd from a TOML manifest, looking files up next to the
/// manifest, in the services directory and among the Linux programs and
/// apps. Every program's IR (`NAME.ll`) is lowered to bytecode
/// (`NAME.ll.bytecode`, by `irlower`) for the interpreter tier first,
/// unless the manifest's directory holds one already; IR that does not
/// lower gets none (the app host refuses to interpret it).
pub fn build_initrd(manifest: &Path, services_dir: &Path, out: &Path) -> Result<(), String> {
    let own = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut dirs = vec![
        own,
        services_dir.to_path_buf(),
        linux_dir(),
        apps_dir(),
        corpus_dir(),
    ];
    let lowered = tempfile::tempdir().map_err(|e| e.to_string())?;
    lower_programs(manifest, &dirs, lowered.path())?;
    dirs.insert(0, lowered.path().to_path_buf());
    let image = initrd::writer::build_from_manifest(manifest, &dirs)?;
    std::fs::write(out, image).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// Builds `bcrun`, the host runner of bytecode (`tools/irlower`), for the
/// benchmarks that compare the interpreter on the host; returns its path.
pub fn build_bcrun() -> Result<PathBuf, String> {
    let mut bcrun = cargo();
    bcrun.args([
        "build",
        "--release",
        "--package",
        "irlower",
        "--bin",
        "bcrun",
    ]);
    run(bcrun)?;
    Ok(workspace_root().join("target/release/bcrun"))
}

/// Where `cargo xtask build` puts the `irlower` host tool.
pub fn irlower_path() -> PathBuf {
    workspace_root().join("target/release/irlower")
}

/// Puts the bytecode of every `.ll` file `manifest` names into `out`
/// (running `irlower` when its cached output is older than the IR or the
/// tool).
fn lower_programs(manifest: &Path, dirs: &[PathBuf], out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let m =
        initrd::writer::parse_toml(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    for name in m.files.iter().filter(|f| f.ends_with(".ll")) {
        // A bytecode file beside the manifest is used as it is (tests
        // give damaged ones on purpose).
        if dirs[0].join(format!("{name}.bytecode")).is_file() {
            continue;
        }
        let Some(src) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) else {
            continue; // the writer reports missing files
        };
        // Lowered once per source and `irlower` build, kept under
        // target/xtask/bytecode (many initrds name the same programs).
        let cache_dir = work_dir().join("bytecode");
        std::fs::create_dir_all(&cache_dir).map_err(|e| format!("{}: {e}", cache_dir.display()))?;
        let key: String = src
            .to_string_lossy()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let cached = cache_dir.join(format!("{key}.bytecode"));
        if !(up_to_date(&src, &cached) && up_to_date(&irlower_path(), &cached)) {
            let _ = std::fs::remove_file(&cached);
            Command::new(irlower_path())
                .arg(&src)
                .arg(&cached)
                .stderr(std::process::Stdio::null())
                .status()
                .map_err(|e| format!("{}: {e}", irlower_path().display()))?;
        }
        // IR that does not lower simply has no bytecode.
        if cached.is_file() {
            let to = out.join(format!("{name}.bytecode"));
            std::fs::copy(&cached, &to).map_err(|e| format!("{}: {e}", to.display()))?;
        }
    }
    Ok(())
}
