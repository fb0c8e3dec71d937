//! Links the LLVM components the JIT uses, and builds `src/codegen.cpp`
//! (a code generation pipeline reused across units, which LLVM's C API
//! cannot express) against the same LLVM's headers.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/codegen.cpp");
    cc::Build::new()
        .cpp(true)
        .compiler("clang++-19")
        .file("src/codegen.cpp")
        // LLVM's headers as system headers: their warnings are not ours.
        .flag(format!("-isystem{}", llvm_link::include_dir()))
        .flag("-std=c++17")
        .flag("-fno-exceptions")
        .flag("-fno-rtti")
        .compile("jitcodegen");
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
