//! Kernel algorithms that need no hardware, so that they are tested on the
//! host with `cargo test` (after Hubris' `kerncore`): ELF load plans shared
//! by the loader and the kernel, and the physical frame bitmap.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod elf;
pub mod frames;
