//! The profiler's decisions, kept apart from its syscalls so that they are
//! tested on the host: when a function rises a tier (`ladder`), where the
//! time goes (`sampler`), what an O3 compile is told of the counts (`pgo`).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod ladder;
pub mod pgo;
pub mod sampler;
