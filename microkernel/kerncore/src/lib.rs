//! Kernel algorithms that need no hardware, so that they are tested on the
//! host with `cargo test` (after Hubris' `kerncore`): ELF load plans shared
//! by the loader and the kernel, the physical frame bitmap, capability
//! tables, the IPC objects' wait queues and reference counts, a task's
//! lifetime (references, reaping, the queue of deaths), and the
//! generational arena kernel objects live in.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod cap;
pub mod elf;
pub mod frames;
pub mod ipc;
pub mod lifetime;
pub mod quota;
pub mod slab;
pub mod user;
