//! Links the LLVM components reading IR and running `mem2reg` need.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    llvm_link::link(&["core", "irreader", "bitreader", "target", "passes"]);
}
