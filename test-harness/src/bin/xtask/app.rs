//! `--app`: a program of the user's, its input, and the manifest that
//! runs it (`cargo xtask run --app`, `cargo xtask export`).

use ipc_abi::tier::Tier;
use std::path::PathBuf;
use std::process::Command;
use test_harness::artifacts;

/// How an `--app` program is built and run: compiler flags, its standard
/// input and the files it may open (by the paths it opens them with), and
/// whether to show the whole console instead of only its output.
#[derive(Default)]
pub struct AppOptions {
    pub stdin: Option<PathBuf>,
    pub files: Vec<String>,
    pub cflags: Vec<String>,
    pub verbose: bool,
}

/// Puts the program's input beside its manifest, so the initrd carries
/// each file under the name the program uses; returns the manifest's
/// file names and the app host's arguments for them.
fn stage_input(
    dir: &std::path::Path,
    input: &AppOptions,
) -> Result<(Vec<String>, Vec<String>), String> {
    let (mut files, mut args) = (Vec::new(), Vec::new());
    if let Some(stdin) = &input.stdin {
        std::fs::copy(stdin, dir.join("program.stdin"))
            .map_err(|e| format!("--stdin {}: {e}", stdin.display()))?;
        files.push("program.stdin".to_string());
        args.push("stdin=program.stdin".to_string());
    }
    for path in &input.files {
        let p = std::path::Path::new(path);
        if p.components().any(|c| c == std::path::Component::ParentDir) {
            return Err(format!(
                "--file {path}: give a path without `..` (the program opens it by this name)"
            ));
        }
        if !p.is_file() {
            return Err(format!("--file {path}: no such file"));
        }
        if p.is_relative() {
            let to = dir.join(p);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::copy(p, &to).map_err(|e| format!("--file {path}: {e}"))?;
        }
        files.push(path.clone());
        args.push(format!("file={path}"));
    }
    Ok((files, args))
}

/// Prepares `--app FILE`: a `.c` file is compiled to IR with `clang-19`
/// (the flags of `apps/`), a `.bc` file is turned into text with
/// `llvm-dis-19` (the initrd writer reads the function table from text), a
/// `.ll` file is taken as it is; returns a manifest that runs it through
/// the JIT server and the app host, or, with `packed` (a snapshot,
/// `cargo xtask export`), from that snapshot alone (`test_harness::export`).
pub fn app_manifest(
    app: &std::path::Path,
    tier: Option<Tier>,
    args: &[String],
    input: &AppOptions,
    packed: Option<&[u8]>,
) -> Result<PathBuf, String> {
    let dir = artifacts::work_dir().join("app");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let ext = app.extension().and_then(|e| e.to_str()).unwrap_or("");
    let file = match ext {
        "c" => {
            let out = dir.join("program.ll");
            let status = Command::new("clang-19")
                .args(artifacts::APP_IR_FLAGS)
                .args(&input.cflags)
                .arg(app)
                .arg("-o")
                .arg(&out)
                .status()
                .map_err(|e| format!("cannot run clang-19: {e}"))?;
            if !status.success() {
                return Err(format!("clang-19 could not compile {}", app.display()));
            }
            "program.ll"
        }
        "ll" => {
            std::fs::copy(app, dir.join("program.ll"))
                .map_err(|e| format!("{}: {e}", app.display()))?;
            "program.ll"
        }
        "bc" => {
            let status = Command::new("llvm-dis-19")
                .arg(app)
                .arg("-o")
                .arg(dir.join("program.ll"))
                .status()
                .map_err(|e| format!("cannot run llvm-dis-19: {e}"))?;
            if !status.success() {
                return Err(format!("llvm-dis-19 could not read {}", app.display()));
            }
            "program.ll"
        }
        _ => {
            return Err(format!(
                "{}: --app takes a .c, .ll or .bc file",
                app.display()
            ));
        }
    };
    if ext != "c" && !input.cflags.is_empty() {
        return Err("--cflags (and -D/-I/-W/-U/-std=) apply to a .c file only".into());
    }
    let (mut files, input_args) = stage_input(&dir, input)?;
    files.insert(0, file.to_string());
    // As natively (`cc prog.c -o prog; ./prog`): argv[0] is the program's
    // name, and messages name the file the user gave.
    let stem = app
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("program");
    let mut argv = vec![
        file.to_string(),
        tier.map_or("auto".to_string(), |t| t.to_string()),
        format!("argv0={stem}"),
        format!("shown={}", app.display()),
    ];
    argv.extend(input_args);
    argv.push("--".to_string());
    argv.extend(args.iter().cloned());
    if let Some(snapshot) = packed {
        let name = format!("{file}{}", ipc_abi::proto::fs::PACKED_SNAPSHOT_SUFFIX);
        std::fs::write(dir.join(&name), snapshot).map_err(|e| e.to_string())?;
        files.push(name);
        let path = dir.join("export.toml");
        std::fs::write(&path, test_harness::export::manifest("app", &files, &argv))
            .map_err(|e| e.to_string())?;
        return Ok(path);
    }
    // Under `auto` the profiler decides the tier-ups.
    let profiler = if tier.is_none() {
        "[[service]]\nname = \"profiler\"\n\n"
    } else {
        ""
    };
    let fs = test_harness::disk::fs_service(&[]);
    let manifest = format!(
        "version = 1\nfiles = {files:?}\n\n[[service]]\nname = \"supervisor\"\n\n\
         [[service]]\nname = \"jit\"\npersonality = \"linux\"\nrestart = \"on-failure\"\nstart = \"on-demand\"\n\n\
         {profiler}{fs}\
         [[service]]\nname = \"app\"\nfile = \"app\"\npersonality = \"linux\"\nargs = {argv:?}\n\
         capabilities = [\"initrd\", \"shutdown\"]\nshutdown_on_exit = true\n"
    );
    let path = dir.join("app.toml");
    std::fs::write(&path, manifest).map_err(|e| e.to_string())?;
    Ok(path)
}
