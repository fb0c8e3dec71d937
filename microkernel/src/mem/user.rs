//! User address spaces as a type that only accepts user ranges.
//!
//! Every change a syscall makes to a task's page tables (native `MemMap`,
//! `MemUnmap`, the Linux personality's `mmap`, `munmap`, `mprotect`, `brk`,
//! and loading an ELF) goes through [`UserSpace`], whose methods take a
//! [`UserPages`]: a page-aligned range inside `USER_START..USER_END`, built
//! with checked arithmetic. `USER_END` is one page below the canonical hole
//! (the last page before it can never be mapped, so a `syscall` at its end
//! cannot return to a non-canonical address), and every user address is
//! below PML4 slot 256, so no syscall can reach the kernel's shared
//! higher-half tables whatever it passes.
//!
//! Range operations walk only the page tables that exist, so unmapping or
//! protecting a huge range costs what is mapped in it, not its length.

use super::kernel_space::kernel_space;
use super::paging::{
    AddressSpace, CACHE_DISABLE, MapError, NO_EXECUTE, USER, WRITABLE, WRITE_THROUGH,
};
use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};
use ipc_abi::layout::{PAGE_SIZE, USER_END, USER_START};
pub use kerncore::user::{RangeError, UserPages};

/// The rights of a user page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Reachable from ring 3 at all (`PROT_NONE` pages keep their frame
    /// but are not).
    pub user: bool,
    pub write: bool,
    pub exec: bool,
    /// Device registers: caching disabled (PCD and PWT).
    pub uncached: bool,
}

impl Access {
    pub const READ_WRITE: Access = Access {
        user: true,
        write: true,
        exec: false,
        uncached: false,
    };

    fn flags(self) -> u64 {
        let mut f = 0;
        if self.user {
            f |= USER;
        }
        if self.write {
            f |= WRITABLE;
        }
        if !self.exec {
            f |= NO_EXECUTE;
        }
        if self.uncached {
            f |= CACHE_DISABLE | WRITE_THROUGH;
        }
        f
    }
}

/// A task's address space: the kernel's higher half, shared, plus user
/// pages that only [`UserPages`] ranges can name.
#[derive(Debug)]
pub struct UserSpace {
    space: AddressSpace,
    /// The last pages the kernel translated (a software TLB for its own
    /// copies: IPC reads and writes the same message buffer on every
    /// call, and a page-table walk costs more than the rest of a small
    /// message's copy). Only `translate` adds entries; `unmap` and
    /// `protect` clear them all, and `map` never changes a page that is
    /// mapped, so an entry always says what the page tables say.
    recent: [Cell<Recent>; 2],
    /// Changes (to a number no space had before) when a mapping is removed
    /// or loses rights (see [`UserSpace::generation`]).
    generation: u64,
}

/// A generation number never handed out before, to any space (so a
/// space made later never repeats one an older space had).
fn new_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One remembered translation; `page == 0` (never a user page) is empty.
#[derive(Clone, Copy, Debug, Default)]
struct Recent {
    page: u64,
    frame: u64,
    rights: u64,
}

impl UserSpace {
    pub fn new() -> Result<UserSpace, MapError> {
        Ok(UserSpace {
            space: AddressSpace::new_user(kernel_space())?,
            recent: Default::default(),
            generation: new_generation(),
        })
    }

    pub fn pml4(&self) -> u64 {
        self.space.pml4()
    }

    /// Maps `frames` (one per page, in order) over `pages`. On failure
    /// nothing new stays mapped and the frames still belong to the caller.
    pub fn map(
        &mut self,
        pages: UserPages,
        frames: impl Iterator<Item = u64>,
        access: Access,
    ) -> Result<(), MapError> {
        for (i, frame) in (0..pages.count()).zip(frames) {
            if let Err(e) = self.space.map(pages.page(i), frame, access.flags()) {
                if i > 0 {
                    // Undo the pages mapped before this one.
                    let mapped = UserPages::pages(pages.start(), i).expect("inside");
                    self.unmap(mapped, |_| {});
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Maps one frame at `pages`' first page.
    pub fn map_one(
        &mut self,
        pages: UserPages,
        frame: u64,
        access: Access,
    ) -> Result<(), MapError> {
        self.map(pages, core::iter::once(frame), access)
    }

    /// Unmaps every mapped page in `pages`, handing each frame to `freed`.
    /// Returns how many pages were mapped.
    pub fn unmap(&mut self, pages: UserPages, mut freed: impl FnMut(u64)) -> u64 {
        self.mappings_shrink();
        let mut n = 0;
        self.space
            .for_each_leaf(pages.start(), pages.end(), |_, entry| {
                freed(AddressSpace::take_leaf(entry));
                n += 1;
            });
        n
    }

    /// Gives every mapped page in `pages` the rights `access`, keeping its
    /// frame. Returns how many pages were mapped.
    pub fn protect(&mut self, pages: UserPages, access: Access) -> Result<u64, MapError> {
        let flags = access.flags();
        AddressSpace::check_wx(flags)?;
        self.mappings_shrink();
        let mut n = 0;
        self.space
            .for_each_leaf(pages.start(), pages.end(), |_, entry| {
                AddressSpace::set_leaf_rights(entry, flags);
                n += 1;
            });
        Ok(n)
    }

    /// Physical address and effective rights of a user address.
    #[inline]
    pub fn translate(&self, virt: u64) -> Option<(u64, u64)> {
        if !(USER_START..USER_END).contains(&virt) {
            return None;
        }
        let (page, offset) = (virt & !(PAGE_SIZE - 1), virt & (PAGE_SIZE - 1));
        let [newest, older] = &self.recent;
        let r = newest.get();
        if r.page == page {
            return Some((r.frame + offset, r.rights));
        }
        let r = older.get();
        if r.page == page {
            return Some((r.frame + offset, r.rights));
        }
        let (phys, rights) = self.space.translate(virt)?;
        older.set(newest.get());
        newest.set(Recent {
            page,
            frame: phys - offset,
            rights,
        });
        Some((phys, rights))
    }

    /// A number that changes whenever a page may have been unmapped or
    /// lost rights (mapping new pages leaves it): a range found accessible
    /// is still accessible while it is the same.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn mappings_shrink(&mut self) {
        for r in &self.recent {
            r.set(Recent::default());
        }
        self.generation = new_generation();
    }

    /// Frees every user page and table, then the top-level table. Pages of
    /// memory objects must have been unmapped first (their frames are not
    /// this space's).
    pub fn destroy(self) {
        self.space.destroy();
    }
}
