//! Links the LLVM components the JIT uses.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    llvm_link::link(&[
        "core",
        "orcjit",
        "x86",
        "passes",
        "irreader",
        "bitreader",
        "mcjit",
    ]);
}
