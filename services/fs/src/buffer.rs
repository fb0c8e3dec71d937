//! A client's buffer (the memory object a request carries), mapped for
//! one request and unmapped, with its capability dropped, when done.

use ipc_abi::cap::{Rights, Slot};
use ipc_abi::layout::PAGE_SIZE;
use rt::sys;

/// Where a request's buffer is mapped (one at a time), above the device
/// window `hal` uses.
const BUFFER_VA: u64 = 0x7000_0000_0000;
const _: () = assert!(BUFFER_VA >= ipc_abi::linux::MMAP_END);
const _: () = assert!(BUFFER_VA + (1 << 40) < ipc_abi::layout::USER_STACK_TOP);

pub struct Buffer {
    len: usize,
}

impl Buffer {
    /// Maps `slot` readable (and writable when `write`); the error says
    /// why it cannot be a buffer.
    pub fn map(slot: Slot, write: bool) -> Result<Buffer, String> {
        let rights = if write {
            Rights::READ.union(Rights::WRITE)
        } else {
            Rights::READ
        };
        let pages = sys::mem_map(slot, BUFFER_VA, rights)
            .map_err(|e| format!("the buffer cannot be mapped {rights:?}: {e:?}"))?;
        Ok(Buffer {
            len: (pages * PAGE_SIZE) as usize,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `map` mapped `len` readable bytes at BUFFER_VA, which
        // stay mapped until `self` drops; the client may change them
        // meanwhile, which only changes what we copy.
        unsafe { core::slice::from_raw_parts(BUFFER_VA as *const u8, self.len) }
    }

    /// Only for a buffer mapped with `write`.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, mapped writable (the caller asked for
        // `write`, or the write faults on our own mapping, never another's).
        unsafe { core::slice::from_raw_parts_mut(BUFFER_VA as *mut u8, self.len) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let _ = sys::mem_unmap(BUFFER_VA);
    }
}
