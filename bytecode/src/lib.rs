//! The interpreter tier's bytecode: the format ([`format`], versioned and
//! encoded with postcard behind a checked header), the checks a file must
//! pass before it runs ([`validate`]), where System V puts a call's
//! arguments ([`abi`]), and the interpreter itself ([`interp`]: its loop,
//! calls and frames; `exec`: the code in the form the loop runs, one op
//! per operation and width; `inline`: small leaf callees copied into
//! their callers' execution form; `step`: those ops; `ops`: the generic
//! operations). The lowering from LLVM IR lives in the host tool
//! `irlower`; running bytecode inside the OS is the app host's job.
//!
//! Everything here is pure logic tested on the host, except [`mem`] (the
//! program's own loads and stores), [`native`] (calls to and from
//! native code) and `checked` (the loop's unchecked op fetch, from ops
//! whose every reachable position was checked), the only modules with
//! `unsafe`.
#![deny(unsafe_code)]

extern crate alloc;

pub mod abi;
mod checked;
mod exec;
pub mod format;
mod inline;
pub mod interp;
pub mod mem;
pub mod native;
mod ops;
mod step;
pub mod validate;

pub use exec::{edge_words, target_words};

#[cfg(test)]
mod tests;
