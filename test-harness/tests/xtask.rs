//! The `xtask` command line on the host, without QEMU: its help, its
//! errors for unknown options, and the check of the pinned toolchain
//! against a rustup that lacks the targets (a stand-in `rustup` script
//! that records what it is asked to do), a machine with no rustup at all,
//! and a real rustup with an empty home.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use test_harness::artifacts::workspace_root;
use test_harness::toolchain::Pin;
use test_harness::usage;

fn xtask(args: &[&str], path: &str, envs: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(args)
        .current_dir(workspace_root())
        .env("PATH", path)
        .env_remove("RUSTUP_TOOLCHAIN");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A `rustup` that has the pinned toolchain and its components but only
/// the host target, and appends every command line it gets to `$LOG`.
fn fake_rustup(dir: &Path, pin: &Pin) {
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> \"$LOG\"\ncase \"$1\" in\n\
         --version) echo 'rustup 1.28.2 (stand-in)';;\n\
         toolchain) echo '{ch}-x86_64-unknown-linux-gnu (active)';;\n\
         component) [ \"$2\" = list ] && {{ echo rustfmt-x86_64-unknown-linux-gnu; echo clippy-x86_64-unknown-linux-gnu; }};;\n\
         target) [ \"$2\" = list ] && echo x86_64-unknown-linux-gnu;;\n\
         esac\nexit 0\n",
        ch = pin.channel
    );
    let path = dir.join("rustup");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn help_lists_every_subcommand_and_its_options() {
    let out = xtask(&["--help"], "/usr/bin:/bin", &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for c in usage::COMMANDS {
        assert!(
            help.contains(
                &format!("cargo xtask {} {}", c.name, c.options)
                    .trim_end()
                    .to_string()
            ),
            "--help lacks {} {}",
            c.name,
            c.options
        );
    }
    for name in ["bench ipc", "bench jit", "bench boot", "setup"] {
        assert!(help.contains(name), "--help lacks {name}");
    }
}

#[test]
fn an_unknown_option_names_the_subcommands_usage() {
    let out = xtask(&["setup", "--fast"], "/usr/bin:/bin", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("\"--fast\"") && err.contains("cargo xtask setup [--dry-run]"),
        "{err}"
    );
    let out = xtask(&["frobnicate"], "/usr/bin:/bin", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cargo xtask bench jit"));
}

#[test]
fn missing_targets_are_installed_with_rustup() {
    let pin = Pin::load(&workspace_root()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fake_rustup(dir.path(), &pin);
    let log = dir.path().join("calls");
    let path = format!("{}:/usr/bin:/bin", dir.path().display());

    // Told what it would do, it does nothing.
    let out = xtask(&["setup", "--dry-run"], &path, &[("LOG", &log)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = format!(
        "rustup target add --toolchain {} {}",
        pin.channel,
        pin.targets.join(" ")
    );
    assert!(text(&out.stdout).contains(&want), "{}", text(&out.stdout));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        !calls.contains("target add"),
        "a dry run installed: {calls}"
    );

    // For real, it runs that command (and installs no component, since
    // every pinned one is there) and says so in one line.
    let out = xtask(&["setup"], &path, &[("LOG", &log)]);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains(&format!(
            "target add --toolchain {} {}",
            pin.channel,
            pin.targets.join(" ")
        )),
        "rustup was not asked to add the targets: {calls}"
    );
    assert!(!calls.contains("component add"), "{calls}");
    let err = text(&out.stderr);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("installing what rust-toolchain.toml pins"))
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn without_rustup_the_exact_commands_are_printed() {
    let pin = Pin::load(&workspace_root()).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = xtask(&["build"], &empty.path().display().to_string(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("rustup is not installed"), "{err}");
    let install = format!("rustup toolchain install {} --profile minimal", pin.channel);
    assert!(err.contains(&install), "{err}");
    for t in &pin.targets {
        assert!(err.contains(&format!("--target {t}")), "{err}");
    }
}

#[test]
fn a_rustup_home_without_the_toolchain_gets_it_installed() {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let rustup_dir = Path::new(&home).join(".cargo/bin");
    if !rustup_dir.join("rustup").is_file() {
        eprintln!("no rustup in ~/.cargo/bin: covered by the stand-in tests");
        return;
    }
    let pin = Pin::load(&workspace_root()).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let path = format!("{}:/usr/bin:/bin", rustup_dir.display());
    let out = xtask(
        &["setup", "--dry-run"],
        &path,
        // Never download a toolchain from a test.
        &[
            ("RUSTUP_HOME", empty.path()),
            ("RUSTUP_AUTO_INSTALL", Path::new("0")),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!(
            "would run: rustup toolchain install {}",
            pin.channel
        )),
        "{}",
        text(&out.stdout)
    );
}
