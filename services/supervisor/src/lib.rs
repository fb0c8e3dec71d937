//! The supervisor's decisions, kept apart from its syscalls so that they
//! are tested on the host: when to restart a service, and who holds which
//! name.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod policy;
pub mod registry;
