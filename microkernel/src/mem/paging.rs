//! Four-level page tables, reached through the direct map.
//!
//! An [`AddressSpace`] owns its top-level table and every table and frame
//! it maps in the lower (user) half; the higher half is the kernel's and is
//! shared by copying its PML4 entries. W^X is enforced here, at the one
//! place every mapping passes through.

use super::{frames, phys_to_virt};
use ipc_abi::layout::KERNEL_PML4_FIRST;

pub const PRESENT: u64 = 1;
pub const WRITABLE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
pub const WRITE_THROUGH: u64 = 1 << 3;
pub const CACHE_DISABLE: u64 = 1 << 4;
pub const HUGE: u64 = 1 << 7;
pub const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
pub const HUGE_PAGE_SIZE: u64 = 2 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    AlreadyMapped,
    /// The mapping would be writable and executable.
    WritableAndExecutable,
}

/// Access to a page table by physical address.
fn table(phys: u64) -> &'static mut [u64; 512] {
    // SAFETY: every address passed here is a page-table frame that this
    // module allocated (or the kernel's PML4), mapped by the direct map. The
    // kernel is single-CPU with interrupts off, so no two references to one
    // table are used at the same time.
    unsafe { &mut *(phys_to_virt(phys) as *mut [u64; 512]) }
}

fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * level)) & 511) as usize
}

#[derive(Debug)]
pub struct AddressSpace {
    pml4: u64,
}

impl AddressSpace {
    /// An empty address space.
    pub(super) fn new_empty() -> Result<AddressSpace, MapError> {
        Ok(AddressSpace {
            pml4: frames::alloc_zeroed().ok_or(MapError::OutOfMemory)?,
        })
    }

    /// A user address space that shares `kernel`'s higher half.
    pub(super) fn new_user(kernel: &AddressSpace) -> Result<AddressSpace, MapError> {
        let space = Self::new_empty()?;
        let src = table(kernel.pml4);
        table(space.pml4)[KERNEL_PML4_FIRST..].copy_from_slice(&src[KERNEL_PML4_FIRST..]);
        Ok(space)
    }

    pub fn pml4(&self) -> u64 {
        self.pml4
    }

    /// Returns the table under `parent[idx]`, creating it if absent.
    fn next_table(parent: u64, idx: usize, user: bool) -> Result<u64, MapError> {
        let entry = table(parent)[idx];
        if entry & PRESENT != 0 {
            if entry & HUGE != 0 {
                return Err(MapError::AlreadyMapped);
            }
            return Ok(entry & ADDR_MASK);
        }
        let t = frames::alloc_zeroed().ok_or(MapError::OutOfMemory)?;
        let mut flags = PRESENT | WRITABLE;
        if user {
            flags |= USER;
        }
        table(parent)[idx] = t | flags;
        Ok(t)
    }

    pub(super) fn check_wx(flags: u64) -> Result<(), MapError> {
        if flags & WRITABLE != 0 && flags & NO_EXECUTE == 0 {
            return Err(MapError::WritableAndExecutable);
        }
        Ok(())
    }

    /// Maps one 4 KiB page; `flags` holds the leaf rights (PRESENT is
    /// implied). Refuses writable+executable and existing mappings.
    pub(super) fn map(&mut self, virt: u64, phys: u64, flags: u64) -> Result<(), MapError> {
        Self::check_wx(flags)?;
        let user = flags & USER != 0;
        let pdpt = Self::next_table(self.pml4, index(virt, 3), user)?;
        let pd = Self::next_table(pdpt, index(virt, 2), user)?;
        let pt = Self::next_table(pd, index(virt, 1), user)?;
        let slot = &mut table(pt)[index(virt, 0)];
        if *slot & PRESENT != 0 {
            return Err(MapError::AlreadyMapped);
        }
        *slot = (phys & ADDR_MASK) | flags | PRESENT;
        Ok(())
    }

    /// Maps one 2 MiB page (kernel direct map).
    pub(super) fn map_huge(&mut self, virt: u64, phys: u64, flags: u64) -> Result<(), MapError> {
        Self::check_wx(flags)?;
        let pdpt = Self::next_table(self.pml4, index(virt, 3), false)?;
        let pd = Self::next_table(pdpt, index(virt, 2), false)?;
        let slot = &mut table(pd)[index(virt, 1)];
        if *slot & PRESENT != 0 {
            return Err(MapError::AlreadyMapped);
        }
        *slot = (phys & ADDR_MASK) | flags | PRESENT | HUGE;
        Ok(())
    }

    /// The physical address behind `virt` and the effective rights along
    /// the walk (WRITABLE and USER only if every level grants them,
    /// NO_EXECUTE if any level sets it).
    pub(super) fn translate(&self, virt: u64) -> Option<(u64, u64)> {
        let mut t = self.pml4;
        let mut rights = WRITABLE | USER;
        let mut nx = 0;
        for level in (0..4).rev() {
            let e = table(t)[index(virt, level)];
            if e & PRESENT == 0 {
                return None;
            }
            rights &= e;
            nx |= e & NO_EXECUTE;
            if level == 0 || (e & HUGE != 0 && level <= 2) {
                let page = 1u64 << (12 + 9 * level);
                let phys = (e & ADDR_MASK & !(page - 1)) + (virt & (page - 1));
                return Some((phys, PRESENT | rights | nx));
            }
            t = e & ADDR_MASK;
        }
        None
    }

    /// Calls `f(virt, entry)` for every present 4 KiB leaf of the lower
    /// half in `start..end` (`end` at most 2^47), descending only into
    /// tables that exist: the work is bounded by what is mapped, not by the
    /// length of the range.
    pub(super) fn for_each_leaf(&mut self, start: u64, end: u64, mut f: impl FnMut(u64, &mut u64)) {
        fn walk(
            t: u64,
            level: u32,
            base: u64,
            range: (u64, u64),
            f: &mut dyn FnMut(u64, &mut u64),
        ) {
            let span = 1u64 << (12 + 9 * level);
            let first = range.0.saturating_sub(base) / span;
            let last = (range.1 - base).div_ceil(span).min(512);
            for i in first..last {
                let lo = base + i * span;
                let e = &mut table(t)[i as usize];
                if *e & PRESENT == 0 {
                    continue;
                }
                if level == 0 {
                    f(lo, e);
                } else if *e & HUGE == 0 {
                    walk(*e & ADDR_MASK, level - 1, lo, range, f);
                }
            }
        }
        debug_assert!(start <= end && end <= 1 << 47);
        if start < end {
            walk(self.pml4, 3, 0, (start, end), &mut f);
        }
    }

    /// Clears a leaf entry, returning the frame it mapped.
    pub(super) fn take_leaf(entry: &mut u64) -> u64 {
        let phys = *entry & ADDR_MASK;
        *entry = 0;
        phys
    }

    /// Gives a leaf entry new rights, keeping its frame.
    pub(super) fn set_leaf_rights(entry: &mut u64, flags: u64) {
        *entry = (*entry & ADDR_MASK) | (flags & (USER | WRITABLE | NO_EXECUTE)) | PRESENT;
    }

    /// Frees every frame and table of the lower half: the mapped user pages
    /// and the tables that held them, then the PML4 itself. Pages that
    /// belong to memory objects must have been unmapped first.
    pub(super) fn destroy(self) {
        /// Frees a table of the given level (2 = PDPT, 0 = PT), what it maps,
        /// and everything below it.
        fn free_table(t: u64, level: u32) {
            for &e in table(t).iter().filter(|&&e| e & PRESENT != 0) {
                if level == 0 {
                    let _ = frames::free(e & ADDR_MASK);
                } else {
                    free_table(e & ADDR_MASK, level - 1);
                }
            }
            let _ = frames::free(t);
        }
        for &e in table(self.pml4)[..KERNEL_PML4_FIRST].iter() {
            if e & PRESENT != 0 {
                free_table(e & ADDR_MASK, 2);
            }
        }
        let _ = frames::free(self.pml4);
    }
}
