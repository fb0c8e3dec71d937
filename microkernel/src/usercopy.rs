//! Checked access to user memory. A [`UserSlice`] is a range that lies in
//! user space and does not wrap; reading it walks the task's page tables and
//! copies through the direct map, so a wild pointer is an error, never a
//! kernel page fault.

use crate::mem::paging::{USER, WRITABLE};
use crate::mem::phys_to_virt;
use crate::mem::user::UserSpace;
use ipc_abi::layout::{PAGE_SIZE, USER_END, USER_START};
use ipc_abi::syscall::SysError;

#[derive(Clone, Copy, Debug)]
pub struct UserSlice {
    addr: u64,
    len: u64,
}

impl UserSlice {
    pub fn new(addr: u64, len: u64) -> Result<UserSlice, SysError> {
        let end = addr.checked_add(len).ok_or(SysError::BadAddress)?;
        if len > 0 && (addr < USER_START || end > USER_END) {
            return Err(SysError::BadAddress);
        }
        Ok(UserSlice { addr, len })
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Calls `f(offset, page_bytes)` for each piece of the slice, one page
    /// at a time, after checking that the page is user-accessible (and
    /// writable if `write`).
    fn for_each_page(
        &self,
        space: &UserSpace,
        write: bool,
        mut f: impl FnMut(usize, &mut [u8]),
    ) -> Result<(), SysError> {
        let need = if write { USER | WRITABLE } else { USER };
        if self.len > 0 && self.addr % PAGE_SIZE + self.len <= PAGE_SIZE {
            // Within one page (most copies: a message header, a small
            // message): one translation, without the loop's bookkeeping.
            return Self::in_page(space, self.addr, self.len, need, |b| f(0, b));
        }
        let mut done = 0u64;
        while done < self.len {
            let virt = self.addr + done;
            let in_page = (PAGE_SIZE - virt % PAGE_SIZE).min(self.len - done);
            Self::in_page(space, virt, in_page, need, |b| f(done as usize, b))?;
            done += in_page;
        }
        Ok(())
    }

    /// Calls `f` with the `len` bytes at `virt`, which lie in one page, if
    /// that page is mapped with the rights `need`.
    #[inline]
    fn in_page(
        space: &UserSpace,
        virt: u64,
        len: u64,
        need: u64,
        f: impl FnOnce(&mut [u8]),
    ) -> Result<(), SysError> {
        let (phys, rights) = space.translate(virt).ok_or(SysError::BadAddress)?;
        if rights & need != need {
            return Err(SysError::BadAddress);
        }
        // SAFETY: `phys..phys + len` lies within one mapped user page
        // (present, with the rights asked for), which is RAM reached
        // through the direct map; the kernel is the only code running, and
        // the user task is stopped while the kernel handles its call.
        f(unsafe { core::slice::from_raw_parts_mut(phys_to_virt(phys) as *mut u8, len as usize) });
        Ok(())
    }

    /// Checks that every page is mapped (writable too if `write`) without
    /// copying anything.
    pub fn check(&self, space: &UserSpace, write: bool) -> Result<(), SysError> {
        self.for_each_page(space, write, |_, _| {})
    }

    /// Copies the slice into `dst` (which must be exactly as long).
    pub fn read(&self, space: &UserSpace, dst: &mut [u8]) -> Result<(), SysError> {
        debug_assert_eq!(dst.len() as u64, self.len);
        self.for_each_page(space, false, |off, page| {
            dst[off..off + page.len()].copy_from_slice(page)
        })
    }

    /// Copies `src` (exactly as long as the slice) into user memory.
    pub fn write(&self, space: &UserSpace, src: &[u8]) -> Result<(), SysError> {
        debug_assert_eq!(src.len() as u64, self.len);
        self.for_each_page(space, true, |off, page| {
            let n = page.len();
            page.copy_from_slice(&src[off..off + n])
        })
    }

    /// Reads a plain-data value (no padding-sensitive invariants).
    pub fn read_value<T: Copy + Default>(space: &UserSpace, addr: u64) -> Result<T, SysError> {
        let slice = UserSlice::new(addr, core::mem::size_of::<T>() as u64)?;
        let mut value = T::default();
        // SAFETY: `value` is a `Copy` plain-data struct of `size_of::<T>()`
        // bytes; every byte pattern is a valid value for the ABI structs
        // this is used with (integers only).
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(
                &mut value as *mut T as *mut u8,
                core::mem::size_of::<T>(),
            )
        };
        slice.read(space, bytes)?;
        Ok(value)
    }

    /// Writes a plain-data value.
    pub fn write_value<T: Copy>(space: &UserSpace, addr: u64, value: &T) -> Result<(), SysError> {
        let slice = UserSlice::new(addr, core::mem::size_of::<T>() as u64)?;
        // SAFETY: reading the bytes of a `Copy` value of integer fields.
        let bytes = unsafe {
            core::slice::from_raw_parts(value as *const T as *const u8, core::mem::size_of::<T>())
        };
        slice.write(space, bytes)
    }
}
