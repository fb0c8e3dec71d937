//! Links the LLVM components that reading IR and running the optimization
//! passes before lowering (`irlower::PIPELINE`) need.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    llvm_link::link(&["core", "irreader", "bitreader", "target", "passes"]);
}
