//! The fs service from a client's side (`ipc_abi::proto::fs`): whole
//! files in and out, through a memory object made for each transfer and
//! mapped at the client's chosen address while it lasts. Used by the app
//! host and the profiler (both save snapshots).

use crate::sys;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use ipc_abi::cap::{Rights, Slot};
use ipc_abi::ipc::Message;
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto::{self, fs::*};

/// How long to wait for the fs service at start (it mounts the disk
/// first).
const WAIT_TICKS: u64 = 300;

pub struct Files {
    ep: Slot,
    msg: Message,
    /// Where transfers are mapped in this task (one at a time, at most
    /// [`TRANSFER_MAX`] bytes): a range the task keeps free for it.
    buffer_va: u64,
}

/// A memory object mapped for one transfer.
struct Buffer {
    slot: Slot,
    va: u64,
    len: usize,
}

impl Buffer {
    fn new(va: u64, len: usize) -> Result<Buffer, String> {
        let pages = (len as u64).div_ceil(PAGE_SIZE).max(1);
        let slot = sys::mem_create(pages).map_err(|e| format!("buffer: {e:?}"))?;
        if let Err(e) = sys::mem_map(slot, va, Rights::READ.union(Rights::WRITE)) {
            let _ = sys::cap_drop(slot);
            return Err(format!("buffer: {e:?}"));
        }
        Ok(Buffer { slot, va, len })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `new` mapped at least `len` bytes read-write at `va`,
        // unmapped only when `self` drops; one buffer at a time per
        // `Files`, whose owner keeps that range free.
        unsafe { core::slice::from_raw_parts_mut(self.va as *mut u8, self.len) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let _ = sys::mem_unmap(self.va);
        let _ = sys::cap_drop(self.slot);
    }
}

fn failure(reply: Result<FsReply<'_>, proto::CallError>) -> String {
    match reply {
        Ok(FsReply::Failed { error, message }) => format!("{error:?}: {message}"),
        Ok(other) => format!("unexpected answer {other:?}"),
        Err(e) => format!("{e:?}"),
    }
}

impl Files {
    /// The fs service, when the system has one with a volume; the error
    /// says why not.
    /// Transfers are mapped at `buffer_va` (page-aligned, with
    /// [`TRANSFER_MAX`] bytes free above it).
    pub fn connect(buffer_va: u64) -> Result<Files, String> {
        let ep = crate::names::connect_wait::<FsProtocol>(FS_SERVICE, WAIT_TICKS)
            .map_err(|e| format!("no fs service: {e:?}"))?;
        let mut files = Files {
            ep,
            msg: Message::new(),
            buffer_va,
        };
        match proto::call::<FsProtocol>(files.ep, &mut files.msg, &FsRequest::Status, &[]) {
            Ok(FsReply::Status { mounted: true, .. }) => Ok(files),
            Ok(FsReply::Status { mounted: false, .. }) => {
                Err("the fs service has no volume (see fs.unavailable)".to_string())
            }
            other => Err(failure(other)),
        }
    }

    /// The whole file, or `None` when there is none; at most `limit`
    /// bytes (a longer file is an error).
    pub fn read(&mut self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, String> {
        let open = FsRequest::Open {
            path,
            create: false,
        };
        let size = match proto::call::<FsProtocol>(self.ep, &mut self.msg, &open, &[]) {
            Ok(FsReply::Opened { size }) => size,
            Ok(FsReply::Failed {
                error: FsError::NotFound,
                ..
            }) => return Ok(None),
            other => return Err(failure(other)),
        };
        if size > limit {
            return Err(format!("{size} bytes, more than {limit}"));
        }
        let mut buf = Buffer::new(self.buffer_va, size as usize)?;
        let read = FsRequest::Read {
            path,
            offset: 0,
            len: size,
            at: 0,
        };
        match proto::call::<FsProtocol>(self.ep, &mut self.msg, &read, &[buf.slot]) {
            Ok(FsReply::Read { len }) if len == size => Ok(Some(buf.bytes().to_vec())),
            Ok(FsReply::Read { len }) => Err(format!("read {len} of {size} bytes")),
            other => Err(failure(other)),
        }
    }

    /// Replaces the file's content with `bytes` (on the disk when this
    /// returns `Ok`).
    pub fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), String> {
        let mut buf = Buffer::new(self.buffer_va, bytes.len())?;
        buf.bytes().copy_from_slice(bytes);
        let write = FsRequest::Write {
            path,
            offset: 0,
            len: bytes.len() as u64,
            truncate: true,
        };
        match proto::call::<FsProtocol>(self.ep, &mut self.msg, &write, &[buf.slot]) {
            Ok(FsReply::Written { len }) if len == bytes.len() as u64 => Ok(()),
            other => Err(failure(other)),
        }
    }

    /// Has the fs service copy `len` bytes of `path` from `offset` into
    /// the memory object `into` (writable), `at` bytes in: the object
    /// never has to be mapped here.
    pub fn read_into(
        &mut self,
        path: &str,
        (offset, len): (u64, u64),
        into: Slot,
        at: u64,
    ) -> Result<(), String> {
        let read = FsRequest::Read {
            path,
            offset,
            len,
            at,
        };
        match proto::call::<FsProtocol>(self.ep, &mut self.msg, &read, &[into]) {
            Ok(FsReply::Read { len: got }) if got == len => Ok(()),
            Ok(FsReply::Read { len: got }) => Err(format!("read {got} of {len} bytes")),
            other => Err(failure(other)),
        }
    }

    /// Makes directory `path` if it is missing.
    pub fn make_dir(&mut self, path: &str) -> Result<(), String> {
        match proto::call::<FsProtocol>(self.ep, &mut self.msg, &FsRequest::MakeDir { path }, &[]) {
            Ok(FsReply::Done) => Ok(()),
            other => Err(failure(other)),
        }
    }
}
