//! The program's own memory accesses, on real addresses. This is the one
//! place the interpreter touches memory it does not own: a load or store
//! here is exactly the one the program's compiled code would make, with
//! the same consequence for a wild address (the task faults).
#![allow(
    unsafe_code,
    reason = "the program's loads and stores are raw memory accesses"
)]

use crate::format::Size;

#[inline(always)]
pub fn load(addr: u64, size: Size) -> u64 {
    let p = addr as usize;
    // SAFETY: as safe as the program: it computed `addr` and loads from
    // it; unaligned accesses are allowed on x86-64, hence read_unaligned.
    unsafe {
        match size {
            Size::B1 => (p as *const u8).read_volatile() as u64,
            Size::B2 => (p as *const u16).read_unaligned() as u64,
            Size::B4 => (p as *const u32).read_unaligned() as u64,
            Size::B8 => (p as *const u64).read_unaligned(),
        }
    }
}

#[inline(always)]
pub fn store(addr: u64, size: Size, v: u64) {
    let p = addr as usize;
    // SAFETY: as `load`: the program's own store.
    unsafe {
        match size {
            Size::B1 => (p as *mut u8).write_volatile(v as u8),
            Size::B2 => (p as *mut u16).write_unaligned(v as u16),
            Size::B4 => (p as *mut u32).write_unaligned(v as u32),
            Size::B8 => (p as *mut u64).write_unaligned(v),
        }
    }
}

/// `memmove` semantics (`llvm.memcpy`'s operands never overlap, so this
/// serves both).
pub fn copy(dst: u64, src: u64, len: u64) {
    if len == 0 {
        return;
    }
    // SAFETY: the program's own copy of `len` bytes between its buffers.
    unsafe {
        core::ptr::copy(
            src as usize as *const u8,
            dst as usize as *mut u8,
            len as usize,
        )
    }
}

pub fn set(dst: u64, byte: u8, len: u64) {
    if len == 0 {
        return;
    }
    // SAFETY: the program's own fill of `len` bytes of its buffer.
    unsafe { core::ptr::write_bytes(dst as usize as *mut u8, byte, len as usize) }
}

/// Memory that never moves for as long as it lives, reached only through
/// addresses (the interpreter's frame memory).
pub struct Region {
    start: u64,
    len: usize,
}

impl Region {
    pub fn new(len: usize) -> Region {
        let boxed: alloc::boxed::Box<[u128]> =
            alloc::vec![0u128; len.div_ceil(16)].into_boxed_slice();
        let start = alloc::boxed::Box::into_raw(boxed) as *mut u128 as u64;
        Region { start, len }
    }

    /// Its first byte's address (16-byte aligned).
    pub fn start(&self) -> u64 {
        self.start
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let slice = core::ptr::slice_from_raw_parts_mut(
            self.start as usize as *mut u128,
            self.len.div_ceil(16),
        );
        // SAFETY: `start` came from `Box::into_raw` of a slice of this
        // length in `new`, and is freed only here.
        drop(unsafe { alloc::boxed::Box::from_raw(slice) });
    }
}
