//! Every `cargo xtask` subcommand with its options: one table that
//! `--help`, the errors for unknown options and the tests all read.

/// One subcommand: the words after `cargo xtask`, its options, what it does.
#[derive(Clone, Copy, Debug)]
pub struct Command {
    pub name: &'static str,
    pub options: &'static str,
    pub about: &'static str,
}

pub const COMMANDS: &[Command] = &[
    Command {
        name: "run",
        options: "[--memory SIZE] [--initrd FILE | --manifest FILE] [--cmdline TEXT] \
                  [--qemu-arg ARG]... [--timeout SECS] [--disk PATH | --no-disk] [--fresh-disk]",
        about: "build everything and boot it under QEMU (at most 10 minutes unless --timeout); \
                exits 0 after a clean power-off, else with the supervisor's status (124: time \
                limit, 125: QEMU failed); attaches the snapshot disk (--disk, default \
                target/xtask/snapshot-disk.img, made FAT16 on first use; --fresh-disk makes it anew)",
    },
    Command {
        name: "run",
        options: "--app FILE.c|FILE.ll|FILE.bc [--tier auto|interp|O0|O1|O2|O3] [--cflags \"...\"] [-DX=Y -IDIR -W...] \
                  [--stdin FILE] [--file PATH]... [--verbose] [--memory SIZE] [--timeout SECS] \
                  [--disk PATH | --no-disk] [--fresh-disk] [-- PROGRAM ARGS...]",
        about: "run your own program: started interpreted and moved up the tiers by the profiler (--tier auto, \
                the default), interpreted (--tier interp), or compiled by the JIT server at a fixed --tier; shows \
                only its output and a one-line summary (--verbose: the whole console); exits with \
                the program's status (128 + signal for a fault, 126: refused, 123: the app host \
                could not run it)",
    },
    Command {
        name: "export",
        options: "--app FILE.c|FILE.ll|FILE.bc -o IMAGE [--disk PATH] [--stdin FILE] [--file PATH]... \
                  [--cflags \"...\"] [-- PROGRAM ARGS...]",
        about: "an initrd that runs the program from its newest snapshot on the disk (default \
                target/xtask/snapshot-disk.img; run it there first), with no JIT, no profiler and \
                no fs service; boot it with `cargo xtask run --initrd IMAGE`",
    },
    Command {
        name: "test",
        options: "[--no-lint] [CARGO TEST ARGS]",
        about: "fmt and clippy (unless --no-lint), host unit tests, then QEMU integration tests",
    },
    Command {
        name: "lint",
        options: "",
        about: "cargo fmt --check and clippy -D warnings for every part on its own target",
    },
    Command {
        name: "build",
        options: "",
        about: "build loader, kernel, services and the default initrd",
    },
    Command {
        name: "setup",
        options: "[--dry-run]",
        about: "install what rust-toolchain.toml pins (toolchain, components, targets) and \
                the host tools (QEMU, OVMF, LLVM 19); every other subcommand does both first",
    },
    Command {
        name: "bench boot",
        options: "[--no-icount]",
        about: "boot-phase timings, appended to docs/benchmarks.md",
    },
    Command {
        name: "bench converge",
        options: "",
        about: "boots 1..3 of each app on one snapshot disk and its exported image: boot time, \
                what was restored, tiers, compile time, run time against native, image sizes; \
                appended to docs/benchmarks.md with docs/converge.svg",
    },
    Command {
        name: "bench pgo",
        options: "",
        about: "profile-guided O3 against O3 without profiles, per app (run of the converged \
                code, two boots per series under -icount), appended to docs/benchmarks.md",
    },
    Command {
        name: "bench ipc",
        options: "",
        about: "IPC round trip and null syscall in guest instructions, appended to docs/benchmarks.md",
    },
    Command {
        name: "bench jit",
        options: "",
        about: "every example app at each tier against native clang -O3, and compile cost per \
                function, appended to docs/benchmarks.md",
    },
    Command {
        name: "bench interp",
        options: "",
        about: "every example app interpreted against native (in the OS under -icount, and on the \
                host against lli -force-interpreter), appended to docs/benchmarks.md",
    },
    Command {
        name: "bench suite",
        options: "",
        about: "the conformance corpus (apps/corpus) interpreted, at O0 and at O3 against native: pass table and \
                run-time ratios, appended to docs/benchmarks.md",
    },
    Command {
        name: "bench tiers",
        options: "",
        about: "the ladder (--tier auto) against O3 from the start, interpreted and native, with a plot of \
                tierup's throughput as it climbs (docs/tiers-throughput.svg), appended to docs/benchmarks.md",
    },
];

fn line(c: &Command) -> String {
    let head = if c.options.is_empty() {
        format!("  cargo xtask {}", c.name)
    } else {
        format!("  cargo xtask {} {}", c.name, c.options)
    };
    format!("{head}\n      {}", c.about)
}

/// The whole usage, every subcommand.
pub fn all() -> String {
    let lines: Vec<String> = COMMANDS.iter().map(line).collect();
    format!("usage:\n{}", lines.join("\n"))
}

/// The usage of the subcommands named `name` (e.g. `run`, `bench boot`),
/// or starting with it (`bench`).
pub fn of(name: &str) -> String {
    let lines: Vec<String> = COMMANDS
        .iter()
        .filter(|c| c.name == name || c.name.starts_with(&format!("{name} ")))
        .map(line)
        .collect();
    if lines.is_empty() {
        all()
    } else {
        format!("usage:\n{}", lines.join("\n"))
    }
}

/// The error for an argument `name` does not take.
pub fn unknown(name: &str, arg: &str) -> String {
    format!(
        "unknown argument {arg:?} for `cargo xtask {name}`\n{}",
        of(name)
    )
}

/// Refuses any argument for a subcommand that takes none.
pub fn no_args(name: &str, args: &[String]) -> Result<(), String> {
    match args.first() {
        Some(a) => Err(unknown(name, a)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_is_in_the_full_usage_and_its_own() {
        let full = all();
        for c in COMMANDS {
            assert!(full.contains(&format!("cargo xtask {}", c.name)));
            assert!(of(c.name).contains(c.about));
        }
        assert!(!of("lint").contains("bench"));
    }

    #[test]
    fn unknown_arguments_name_the_subcommand_and_its_usage() {
        let e = unknown("bench boot", "--fast");
        assert!(e.contains("\"--fast\"") && e.contains("cargo xtask bench boot [--no-icount]"));
        assert!(no_args("lint", &["x".into()]).is_err());
        assert!(no_args("lint", &[]).is_ok());
    }
}
