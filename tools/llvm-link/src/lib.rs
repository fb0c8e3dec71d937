//! For build scripts: links LLVM 19 statically, only the components asked
//! for (asking `llvm-config --libs` for everything drags in Polly, libxml2
//! and z3), plus the C++ runtime and compression libraries LLVM needs.
#![forbid(unsafe_code)]

use std::process::Command;

const LLVM_CONFIG: &str = "llvm-config-19";

fn llvm_config(args: &[&str]) -> String {
    let out = Command::new(LLVM_CONFIG)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {LLVM_CONFIG} (install llvm-19-dev): {e}"));
    assert!(out.status.success(), "{LLVM_CONFIG} {args:?} failed");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// Where LLVM's C and C++ headers are (for C++ built against it).
pub fn include_dir() -> String {
    llvm_config(&["--includedir"])
}

/// Prints the `cargo:` lines that link `components` of LLVM statically.
pub fn link(components: &[&str]) {
    println!(
        "cargo:rustc-link-search=native={}",
        llvm_config(&["--libdir"])
    );
    let mut args = vec!["--link-static", "--libs"];
    args.extend_from_slice(components);
    for lib in llvm_config(&args).split_whitespace() {
        if let Some(name) = lib.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=static={name}");
        }
    }
    for lib in ["stdc++", "z", "zstd", "ffi"] {
        println!("cargo:rustc-link-lib={lib}");
    }
}
