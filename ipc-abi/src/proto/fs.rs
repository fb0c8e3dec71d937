//! The fs service's protocol: files on the snapshot disk (FAT16), by path.
//!
//! Stateless: every request names its file, so a client that dies leaves
//! nothing open and a restarted server needs no state. Bulk data never
//! travels in the message: `Read`, `Write` and `List` carry one memory
//! object (the first capability), which the server maps for the request
//! and unmaps before it answers (writable for `Read` and `List`, readable
//! for `Write`). `Write` reaches the disk (the device's cache flushed)
//! before its reply: a client that got `Written` will find the data after
//! a power loss.

use super::Protocol;
use serde::{Deserialize, Serialize};

pub struct FsProtocol;

impl Protocol for FsProtocol {
    const ID: u32 = 6;
    const VERSION: u32 = 2;
    type Request<'a> = FsRequest<'a>;
    type Reply<'a> = FsReply<'a>;
}

/// The name the fs service registers.
pub const FS_SERVICE: &str = "fs";

/// The serial number of the snapshot disk (QEMU's `serial=`), by which
/// the fs service tells it from the boot disk.
pub const SNAPSHOT_DISK_SERIAL: &str = "jitos-snapshots";
/// The directory snapshots live in.
pub const SNAPSHOT_DIR: &str = "SNAPSHOT";

/// A snapshot packed in an initrd by `cargo xtask export` is the file
/// `NAME.ll` + this (read by the app host; no fs service needed).
pub const PACKED_SNAPSHOT_SUFFIX: &str = ".snapshot";

/// Longest path a request may name.
pub const PATH_MAX: usize = 200;
/// Longest component of a path.
pub const NAME_MAX: usize = 64;
/// Largest transfer one request moves (the buffer object may be larger).
pub const TRANSFER_MAX: u64 = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsRequest<'a> {
    /// Whether the service has a volume, and its free space.
    Status,
    /// The size of `path`; with `create`, an empty file is made when it
    /// is missing (its directory must exist).
    Open { path: &'a str, create: bool },
    /// Up to `len` bytes of `path` from `offset` into the buffer, `at`
    /// bytes into it (the buffer must hold `at + len`). How a snapshot's
    /// code reaches the app's code region: the app host passes the region
    /// itself, and never maps it writable.
    Read {
        path: &'a str,
        offset: u64,
        len: u64,
        at: u64,
    },
    /// `len` bytes from the buffer into `path` at `offset` (the file is
    /// made when missing); with `truncate`, the file ends after them.
    Write {
        path: &'a str,
        offset: u64,
        len: u64,
        truncate: bool,
    },
    /// The names in directory `path` ("" is the root) into the buffer,
    /// one per line, directories with a trailing `/`.
    List { path: &'a str },
    /// Removes the file (or empty directory) `path`.
    Remove { path: &'a str },
    /// Makes directory `path` (no error when it exists).
    MakeDir { path: &'a str },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsError {
    /// The service runs without a volume (no disk, not FAT, damaged):
    /// `message` says which.
    NoVolume,
    NotFound,
    /// A path that is empty, too long, absolute, or has an empty, `.`,
    /// `..` or over-long component, or a character other than
    /// `A-Z a-z 0-9 . _ -`.
    BadPath,
    /// The buffer is missing, not a memory object, lacks the rights, or
    /// is smaller than `len`; or `len` is over [`TRANSFER_MAX`].
    BadBuffer,
    /// The volume is full: nothing of this write is promised.
    NoSpace,
    /// A directory where a file is wanted, or the reverse, or a
    /// directory that is not empty.
    WrongType,
    /// The device or the file system failed.
    Io,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsReply<'a> {
    Status {
        mounted: bool,
        free_bytes: u64,
        total_bytes: u64,
    },
    Opened {
        size: u64,
    },
    Read {
        len: u64,
    },
    Written {
        len: u64,
    },
    Listed {
        /// Bytes written to the buffer.
        len: u64,
        count: u64,
    },
    Done,
    Failed {
        error: FsError,
        message: &'a str,
    },
}

/// Checks a path the way the server does: relative, `/`-separated,
/// components of `A-Z a-z 0-9 . _ -` that are not `.` or `..`.
pub fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= PATH_MAX
        && path.split('/').all(|c| {
            !c.is_empty()
                && c.len() <= NAME_MAX
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_plain_and_bounded() {
        for good in ["a", "SNAPSHOT/fib.0", "x-y_z.1/b"] {
            assert!(valid_path(good), "{good}");
        }
        let long = "a".repeat(NAME_MAX + 1);
        let longer = "a/".repeat(PATH_MAX);
        for bad in [
            "", "/a", "a/", "a//b", ".", "a/..", "../x", "a b", "a\\b", "é", &long, &longer,
        ] {
            assert!(!valid_path(bad), "{bad}");
        }
    }
}
