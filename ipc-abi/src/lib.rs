//! The ABI shared by the loader, the kernel, ring-3 services and the host
//! tools: boot hand-off, address-space layout, syscall numbers and raw
//! wrappers, error codes, guest exit statuses and the structured log format.
//!
//! Every number that two components must agree on lives here and nowhere
//! else.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod boot;
pub mod cap;
pub mod counters;
pub mod exit;
pub mod ipc;
pub mod layout;
pub mod linux;
pub mod log;
pub mod proto;
pub mod syscall;
pub mod tier;
