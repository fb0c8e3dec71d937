//! Host-side tooling: builds every part for its target, assembles the ESP
//! and initrd, boots QEMU, parses the kernel's structured serial log, and
//! measures. The `xtask` binary is the command-line face of this library;
//! the integration tests in `tests/` use it directly.
#![deny(unsafe_code)]

pub mod artifacts;
pub mod bench;
pub mod corpus;
pub mod disk;
pub mod esp;
pub mod export;
pub mod host;
pub mod log;
pub mod qemu;
pub mod toolchain;
pub mod usage;
