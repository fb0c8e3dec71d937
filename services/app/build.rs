//! Generates the app host's export table from the static C library it is
//! linked with: every public function and data object defined in glibc's
//! `libc.a` and `libm` (found with `cc -print-file-name`), and the
//! compiler-rt helpers in `libgcc.a` that LLVM emits calls to
//! (`__divti3`, `__muldc3`, `__powidf2`, ...). The generated Rust refers
//! to each by its link name, so the linker pulls all of them into the app
//! host and the table holds their real addresses (an IFUNC's address is
//! its resolved entry, as for any C caller). Nothing here is a list of
//! functions: what glibc defines is what programs get.

use object::read::archive::ArchiveFile;
use object::{Object, ObjectSymbol, SymbolKind};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `name`, defined by the C library, is part of what programs may
/// call: ordinary names, one leading underscore (`_setjmp`, `_Exit`), and
/// the double-underscore names that headers and compilers themselves emit
/// calls to (C99 `scanf` is `__isoc99_scanf`, `errno` is
/// `__errno_location()`, `assert` is `__assert_fail`, fortified calls are
/// `__*_chk`, ctype macros use `__ctype_*_loc`, ...).
fn public(name: &str) -> bool {
    if name.contains('.') {
        return false;
    }
    const DOUBLE: &[&str] = &[
        "__isoc99_",
        "__isoc23_",
        "__errno_location",
        "__ctype_",
        "__assert",
        "__stack_chk_fail",
        "__sigsetjmp",
        "__cxa_atexit",
        "__cxa_finalize",
        "__fpclassify",
        "__signbit",
        "__isnan",
        "__isinf",
        "__finite",
        "__iseqsig",
        "__issignaling",
        "__xpg_",
        "__sysv_signal",
        "__overflow",
        "__uflow",
        "__strtol_internal",
        "__strtoul_internal",
        "__strtod_internal",
        "__libc_single_threaded",
    ];
    let bytes = name.as_bytes();
    match bytes {
        [b'_', b'_', c, ..] if *c != b'_' => {
            DOUBLE.iter().any(|p| name.starts_with(p))
                || (name.ends_with("_chk") && !name.starts_with("___"))
        }
        [b'_', c, ..] if c.is_ascii_alphabetic() => {
            !name.starts_with("_dl_") && !name.starts_with("_nl_") && !name.starts_with("_IO_")
        }
        [c, ..] => c.is_ascii_alphabetic(),
        [] => false,
    }
}

/// A library the compiler driver would link, by file name.
fn library(file: &str) -> PathBuf {
    let out = Command::new("cc")
        .arg(format!("-print-file-name={file}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run cc to find {file}: {e}"));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The archives behind `path`: itself, or the members of a linker script's
/// `GROUP ( ... )` (glibc's `libm.a` is one).
fn archives(path: &Path) -> Vec<PathBuf> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if bytes.starts_with(b"!<arch>") {
        return vec![path.to_path_buf()];
    }
    let text = String::from_utf8_lossy(&bytes);
    let group = text
        .split_once("GROUP")
        .and_then(|(_, g)| g.split_once('('))
        .and_then(|(_, g)| g.split_once(')'))
        .map(|(g, _)| g)
        .unwrap_or_else(|| panic!("{}: neither an archive nor a GROUP script", path.display()));
    group
        .split_whitespace()
        .filter(|w| w.ends_with(".a") && !w.contains("libmvec"))
        .map(PathBuf::from)
        .collect()
}

/// Defined global functions and data objects of an archive, filtered.
fn symbols(archive: &Path, keep: impl Fn(&str) -> bool, into: &mut BTreeMap<String, bool>) {
    let data = std::fs::read(archive).unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
    let ar = ArchiveFile::parse(&*data).unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
    for member in ar.members() {
        let Ok(member) = member else { continue };
        let Ok(bytes) = member.data(&*data) else {
            continue;
        };
        let Ok(obj) = object::File::parse(bytes) else {
            continue;
        };
        for sym in obj.symbols() {
            // Defined in one of the member's sections (an IFUNC, such as
            // `strstr`, counts: object's `is_definition` leaves it out).
            if !sym.is_global() || sym.section_index().is_none() {
                continue;
            }
            let is_function = match sym.kind() {
                SymbolKind::Text => true,
                SymbolKind::Data => false,
                _ => continue, // TLS (errno itself), sections, untyped labels
            };
            let Ok(name) = sym.name() else { continue };
            if keep(name) {
                into.entry(name.to_string()).or_insert(is_function);
            }
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let mut found: BTreeMap<String, bool> = BTreeMap::new();
    for lib in ["libc.a", "libm.a"] {
        for a in archives(&library(lib)) {
            println!("cargo:rerun-if-changed={}", a.display());
            symbols(&a, public, &mut found);
        }
    }
    let libgcc = library("libgcc.a");
    symbols(
        &libgcc,
        |n| n.starts_with("__") && !n.starts_with("___"),
        &mut found,
    );

    let mut decls = String::new();
    let mut rows = String::new();
    for (i, (name, is_function)) in found.iter().enumerate() {
        if *is_function {
            writeln!(decls, "    #[link_name = \"{name}\"] fn F{i}();").unwrap();
            writeln!(rows, "        (\"{name}\", F{i} as *const () as u64),").unwrap();
        } else {
            writeln!(decls, "    #[link_name = \"{name}\"] static D{i}: u8;").unwrap();
            writeln!(rows, "        (\"{name}\", &raw const D{i} as u64),").unwrap();
        }
    }
    // The names again, NUL-separated, in an ELF section of their own: host
    // tools read the exports from the binary (`EXPORTS_SECTION`).
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut names: Vec<u8> = Vec::new();
    for name in found.keys() {
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let names_path = out_dir.join("export_names.bin");
    std::fs::write(&names_path, &names).unwrap();
    let code = format!(
        "// Generated by services/app/build.rs from the C library's archives.\n\
         unsafe extern \"C\" {{\n{decls}}}\n\n\
         /// (name, address) of every public symbol of the linked C library.\n\
         pub fn c_library() -> Vec<(&'static str, u64)> {{\n    vec![\n{rows}    ]\n}}\n\n\
         /// The same names for host tools, in section `{section}`.\n\
         #[used]\n\
         #[unsafe(link_section = \"{section}\")]\n\
         pub static EXPORT_NAMES: [u8; {len}] = *include_bytes!({path:?});\n",
        section = ipc_abi::proto::jit::EXPORTS_SECTION,
        len = names.len(),
        path = names_path,
    );
    std::fs::write(out_dir.join("c_library.rs"), code).unwrap();
    // libgcc's helpers that Rust's own compiler_builtins lacks.
    println!("cargo:rustc-link-arg={}", libgcc.display());
}
