//! Checked access to user memory. A [`UserSlice`] is a range that lies in
//! user space and does not wrap; reading it walks the task's page tables and
//! copies through the direct map, so a wild pointer is an error, never a
//! kernel page fault.

use crate::mem::paging::{AddressSpace, USER};
use crate::mem::phys_to_virt;
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

    /// Copies the slice into `dst` (which must be exactly as long).
    pub fn read(&self, space: &AddressSpace, dst: &mut [u8]) -> Result<(), SysError> {
        debug_assert_eq!(dst.len() as u64, self.len);
        let mut done = 0u64;
        while done < self.len {
            let virt = self.addr + done;
            let (phys, rights) = space.translate(virt).ok_or(SysError::BadAddress)?;
            if rights & USER == 0 {
                return Err(SysError::BadAddress);
            }
            let in_page = (PAGE_SIZE - virt % PAGE_SIZE).min(self.len - done);
            // SAFETY: `phys..phys + in_page` lies within one mapped user page
            // (present, user-accessible), which is RAM reached through the
            // direct map; the kernel is the only code running.
            let src = unsafe {
                core::slice::from_raw_parts(phys_to_virt(phys) as *const u8, in_page as usize)
            };
            dst[done as usize..(done + in_page) as usize].copy_from_slice(src);
            done += in_page;
        }
        Ok(())
    }
}
