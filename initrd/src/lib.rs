//! The initrd: a flat, checksummed archive of named files, one of which is
//! the manifest that tells the supervisor which services to run.
//!
//! * [`format`]: the byte layout and its constants.
//! * [`reader`]: `no_std` parsing that rejects every malformed image with a
//!   specific [`reader::Error`]; the kernel and the loader use it.
//! * [`manifest`]: the manifest schema (services, files, arguments, restart
//!   policy, personality, capabilities).
//! * `writer` (feature `std`): builds an image from a TOML manifest,
//!   adding the function table (`functions`) of every IR file it packs.
//!
//! `docs/initrd.md` describes the format for people.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod format;
#[cfg(feature = "std")]
pub mod functions;
pub mod manifest;
pub mod reader;
#[cfg(feature = "std")]
pub mod writer;

pub use manifest::Manifest;
pub use reader::{Error, Image};
