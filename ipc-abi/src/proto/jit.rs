//! The JIT server's protocol, and the address-space layout an app shares
//! with it. The app's code region is one memory object mapped read-execute
//! in the app and read-write in the JIT *at the same address*, so code the
//! JIT links for that address runs in the app unchanged; the data region
//! (globals) is mapped read-write in both, never executable.

use super::Protocol;
use serde::{Deserialize, Serialize};

/// Where the app executes JIT code (and the JIT writes it).
pub const APP_CODE_BASE: u64 = 0x4000_0000;
pub const APP_CODE_PAGES: u64 = 1024;
/// Where the program's globals live in both.
pub const APP_DATA_BASE: u64 = 0x5000_0000;
pub const APP_DATA_PAGES: u64 = 1024;
/// Dispatch slots: the first bytes of the data region hold one 8-byte
/// slot per function of the program (in definition order); every call
/// between program functions loads its callee's slot and jumps there, so a
/// tier-up is one atomic store of the new code's address.
pub const APP_SLOT_BYTES: u64 = 64 * 1024;
/// Where the JIT maps the package (IR and export table) it is sent.
pub const JIT_PACKAGE_BASE: u64 = 0x6000_0000;

pub struct JitProtocol;

impl Protocol for JitProtocol {
    const ID: u32 = 4;
    const VERSION: u32 = 1;
    type Request<'a> = JitRequest;
    type Reply<'a> = JitReply<'a>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JitRequest {
    /// Compile the whole program at `level` (0..=3) into the app's regions
    /// and return the address of `main`. Capabilities: the package (read),
    /// the code region and the data region (read-write). The package holds
    /// `ir_len` bytes of IR text, then the export table: entries of
    /// `u16 name length, name, u64 address` (little-endian).
    Load {
        ir_len: u64,
        exports_len: u64,
        level: u8,
        crash: Option<CrashPoint>,
        /// Recompile every function at this level after replying, while
        /// the app runs, and publish each through its slot.
        tier_up: Option<u8>,
    },
    /// Test only: crash now, between requests.
    CrashIdle,
}

/// Test only: where a `Load` makes the JIT server crash on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrashPoint {
    /// After parsing, in the middle of compiling.
    DuringCompile,
    /// After the code is written into the app's region, before the reply
    /// that publishes its address.
    BeforePublish,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JitReply<'a> {
    Loaded {
        entry: u64,
        code_bytes: u64,
        data_bytes: u64,
        compile_us: u64,
    },
    /// LLVM's own words: IR that does not parse or verify, symbols nothing
    /// defines.
    Failed { message: &'a str },
}

/// Appends one export-table entry.
pub fn push_export(table: &mut [u8], at: usize, name: &str, address: u64) -> Option<usize> {
    let end = at + 2 + name.len() + 8;
    let t = table.get_mut(at..end)?;
    t[..2].copy_from_slice(&(name.len() as u16).to_le_bytes());
    t[2..2 + name.len()].copy_from_slice(name.as_bytes());
    t[2 + name.len()..].copy_from_slice(&address.to_le_bytes());
    Some(end)
}

/// Walks an export table.
pub fn exports(table: &[u8]) -> impl Iterator<Item = (&str, u64)> {
    let mut rest = table;
    core::iter::from_fn(move || {
        let n = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let name = core::str::from_utf8(rest.get(2..2 + n)?).ok()?;
        let addr = u64::from_le_bytes(rest.get(2 + n..10 + n)?.try_into().ok()?);
        rest = &rest[10 + n..];
        Some((name, addr))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_tables_round_trip_and_stop_at_garbage() {
        let mut t = [0u8; 64];
        let at = push_export(&mut t, 0, "printf", 0x1234).unwrap();
        let at = push_export(&mut t, at, "malloc", 0x5678).unwrap();
        let got: Vec<_> = exports(&t[..at]).collect();
        assert_eq!(got, [("printf", 0x1234), ("malloc", 0x5678)]);
        assert_eq!(exports(&t[..at - 1]).count(), 1, "a cut entry is not read");
        assert!(push_export(&mut t, 60, "toolong", 1).is_none());
    }
}
