//! The Rust toolchain `rust-toolchain.toml` pins, with its components and
//! targets: checked before anything is built, and whatever is missing is
//! installed with rustup (rustup adds a toolchain file's targets only when
//! it installs the toolchain itself, so a machine whose rustup already had
//! a matching toolchain lacks them). Without rustup, the exact commands are
//! printed instead. The pin is read from the file, never repeated here.

use serde::Deserialize;
use std::path::Path;
use std::process::Command;

/// What `rust-toolchain.toml` asks for.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Pin {
    pub channel: String,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub targets: Vec<String>,
}

#[derive(Deserialize)]
struct ToolchainFile {
    toolchain: Pin,
}

impl Pin {
    pub fn parse(text: &str) -> Result<Pin, String> {
        toml::from_str::<ToolchainFile>(text)
            .map(|f| f.toolchain)
            .map_err(|e| format!("rust-toolchain.toml: {e}"))
    }

    pub fn load(workspace: &Path) -> Result<Pin, String> {
        let path = workspace.join("rust-toolchain.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Pin::parse(&text)
    }
}

/// What rustup reports as installed for the pinned channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    pub toolchain: bool,
    pub components: Vec<String>,
    pub targets: Vec<String>,
}

/// The rustup commands (arguments after `rustup`) that make `installed`
/// match `pin`; empty when nothing is missing.
pub fn plan(pin: &Pin, installed: &Installed) -> Vec<Vec<String>> {
    let ch = pin.channel.clone();
    if !installed.toolchain {
        let mut c = vec!["toolchain".into(), "install".into(), ch, "--profile".into()];
        c.push("minimal".into());
        for comp in &pin.components {
            c.extend(["--component".into(), comp.clone()]);
        }
        for t in &pin.targets {
            c.extend(["--target".into(), t.clone()]);
        }
        return vec![c];
    }
    // rustup lists components with their host suffix (`clippy-x86_64-...`).
    let has_component = |want: &str| {
        installed
            .components
            .iter()
            .any(|c| c == want || c.strip_prefix(want).is_some_and(|r| r.starts_with('-')))
    };
    let missing_components: Vec<String> = pin
        .components
        .iter()
        .filter(|c| !has_component(c))
        .cloned()
        .collect();
    let missing_targets: Vec<String> = pin
        .targets
        .iter()
        .filter(|t| !installed.targets.contains(t))
        .cloned()
        .collect();
    let mut out = Vec::new();
    if !missing_components.is_empty() {
        let mut c = vec![
            "component".into(),
            "add".into(),
            "--toolchain".into(),
            ch.clone(),
        ];
        c.extend(missing_components);
        out.push(c);
    }
    if !missing_targets.is_empty() {
        let mut c = vec!["target".into(), "add".into(), "--toolchain".into(), ch];
        c.extend(missing_targets);
        out.push(c);
    }
    out
}

fn lines_of(mut cmd: Command) -> Option<Vec<String>> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    })
}

fn rustup(args: &[&str]) -> Command {
    let mut c = Command::new("rustup");
    c.args(args);
    c
}

/// Asks rustup what the pinned channel has; `None` when there is no rustup.
fn installed(pin: &Pin) -> Option<Installed> {
    lines_of(rustup(&["--version"]))?;
    let ch = pin.channel.as_str();
    let toolchains = lines_of(rustup(&["toolchain", "list"])).unwrap_or_default();
    let toolchain = toolchains.iter().any(|t| {
        let name = t.split_whitespace().next().unwrap_or("");
        name == ch || name.strip_prefix(ch).is_some_and(|r| r.starts_with('-'))
    });
    if !toolchain {
        return Some(Installed::default());
    }
    let list = |what: &str| {
        lines_of(rustup(&[what, "list", "--installed", "--toolchain", ch])).unwrap_or_default()
    };
    Some(Installed {
        toolchain,
        components: list("component"),
        targets: list("target"),
    })
}

fn shown(cmd: &[String]) -> String {
    format!("rustup {}", cmd.join(" "))
}

/// Makes sure the pinned toolchain, components and targets are installed.
/// With `dry_run`, only says what it would run.
pub fn ensure(workspace: &Path, dry_run: bool) -> Result<(), String> {
    let pin = Pin::load(workspace)?;
    let Some(have) = installed(&pin) else {
        let cmds = plan(&pin, &Installed::default());
        let cmds: Vec<String> = cmds.iter().map(|c| shown(c)).collect();
        return Err(format!(
            "rustup is not installed, and this project pins Rust {} with targets {}. \
             Install rustup (https://rustup.rs), then run:\n  {}",
            pin.channel,
            pin.targets.join(", "),
            cmds.join("\n  ")
        ));
    };
    for cmd in plan(&pin, &have) {
        if dry_run {
            println!("xtask: would run: {}", shown(&cmd));
            continue;
        }
        eprintln!(
            "xtask: installing what rust-toolchain.toml pins: {}",
            shown(&cmd)
        );
        let ok = Command::new("rustup")
            .args(&cmd)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("`{}` failed; run it by hand", shown(&cmd)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> Pin {
        Pin::parse(
            "[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"rustfmt\", \"clippy\"]\n\
             targets = [\"x86_64-unknown-none\", \"x86_64-unknown-uefi\"]\nprofile = \"minimal\"\n",
        )
        .unwrap()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_repositorys_own_pin_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let p = Pin::load(root).unwrap();
        assert!(!p.channel.is_empty());
        assert!(p.targets.iter().any(|t| t == "x86_64-unknown-none"));
    }

    #[test]
    fn a_missing_toolchain_is_installed_with_everything_it_pins() {
        let cmds = plan(&pin(), &Installed::default());
        assert_eq!(cmds.len(), 1);
        let c = cmds[0].join(" ");
        assert!(c.starts_with("toolchain install 1.95.0"), "{c}");
        for part in [
            "--component rustfmt",
            "--component clippy",
            "--target x86_64-unknown-none",
            "--target x86_64-unknown-uefi",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
    }

    #[test]
    fn only_the_missing_targets_and_components_are_added() {
        let have = Installed {
            toolchain: true,
            components: strs(&[
                "cargo-x86_64-unknown-linux-gnu",
                "rustfmt-x86_64-unknown-linux-gnu",
            ]),
            targets: strs(&["x86_64-unknown-linux-gnu", "x86_64-unknown-none"]),
        };
        assert_eq!(
            plan(&pin(), &have),
            vec![
                strs(&["component", "add", "--toolchain", "1.95.0", "clippy"]),
                strs(&[
                    "target",
                    "add",
                    "--toolchain",
                    "1.95.0",
                    "x86_64-unknown-uefi"
                ]),
            ]
        );
    }

    #[test]
    fn nothing_is_run_when_everything_is_there() {
        let have = Installed {
            toolchain: true,
            components: strs(&[
                "rustfmt-x86_64-unknown-linux-gnu",
                "clippy-x86_64-unknown-linux-gnu",
            ]),
            targets: strs(&["x86_64-unknown-none", "x86_64-unknown-uefi"]),
        };
        assert!(plan(&pin(), &have).is_empty());
    }
}
