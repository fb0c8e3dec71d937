//! User ranges: the only kind of address range a syscall may change the
//! page tables of. A [`UserPages`] is a non-empty, page-aligned run of
//! pages inside `USER_START..USER_END`, built with checked arithmetic from
//! whatever ring 3 passed. `USER_END` is one page below the canonical hole,
//! and every user address lies below the kernel's PML4 slots.

use ipc_abi::layout::{PAGE_SIZE, USER_END, USER_START};

/// A non-empty, page-aligned range of user pages inside
/// `USER_START..USER_END`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserPages {
    start: u64,
    count: u64,
}

/// Why a range is not a user range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// The start is not page-aligned.
    Unaligned,
    /// The length is zero.
    Empty,
    /// Some of it lies outside user space (or the end overflows).
    NotUser,
}

impl UserPages {
    /// The pages covering `len` bytes from the page-aligned `addr`.
    pub fn new(addr: u64, len: u64) -> Result<UserPages, RangeError> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(RangeError::Unaligned);
        }
        if len == 0 {
            return Err(RangeError::Empty);
        }
        let end = len
            .checked_next_multiple_of(PAGE_SIZE)
            .and_then(|l| addr.checked_add(l))
            .ok_or(RangeError::NotUser)?;
        if addr < USER_START || end > USER_END {
            return Err(RangeError::NotUser);
        }
        Ok(UserPages {
            start: addr,
            count: (end - addr) / PAGE_SIZE,
        })
    }

    /// `count` pages from `addr`.
    pub fn pages(addr: u64, count: u64) -> Result<UserPages, RangeError> {
        let len = count.checked_mul(PAGE_SIZE).ok_or(RangeError::NotUser)?;
        Self::new(addr, len)
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.start + self.count * PAGE_SIZE
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether any page of `self` lies in `start..end`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end()
    }

    /// The address of page `i` (below [`UserPages::count`]).
    pub fn page(&self, i: u64) -> u64 {
        debug_assert!(i < self.count);
        self.start + i * PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_abi::layout::KERNEL_PML4_FIRST;
    use proptest::prelude::*;

    #[test]
    fn refuses_kernel_non_canonical_and_wrapping_ranges() {
        for (addr, len) in [
            (0xffff_ffff_8000_0000, 16 << 20),
            (0xffff_8000_0000_0000, 4096),
            (0x8000_0000_0000, 4096),
            (USER_END, 4096),
            (USER_END - 4096, 8192),
            (0x1000, u64::MAX),
            (0x1000, u64::MAX - 0xfff),
            (u64::MAX - 0xfff, 0x1000),
            (0, 4096),
        ] {
            assert_eq!(
                UserPages::new(addr, len),
                Err(RangeError::NotUser),
                "{addr:#x}+{len:#x}"
            );
        }
        assert_eq!(UserPages::new(0x1001, 1), Err(RangeError::Unaligned));
        assert_eq!(UserPages::new(0x1000, 0), Err(RangeError::Empty));
        assert_eq!(UserPages::pages(0x1000, u64::MAX), Err(RangeError::NotUser));
    }

    #[test]
    fn the_last_user_page_is_one_below_the_canonical_hole() {
        let last = UserPages::new(USER_END - 4096, 1).unwrap();
        assert_eq!(last.end(), USER_END);
        assert_eq!(USER_END, 0x7fff_ffff_f000, "a page below 0x8000_0000_0000");
        let first = UserPages::new(USER_START, 4096).unwrap();
        assert_eq!((first.start(), first.count()), (0x1000, 1));
        assert_eq!(UserPages::new(0x2000, 4097).unwrap().count(), 2);
    }

    proptest! {
        /// Whatever ring 3 passes, an accepted range lies wholly in user
        /// space, below the kernel's PML4 slots, and covers the length.
        #[test]
        fn accepted_ranges_are_user_ranges(addr in any::<u64>(), len in any::<u64>()) {
            if let Ok(r) = UserPages::new(addr & !0xfff, len) {
                prop_assert!(r.start() >= USER_START && r.end() <= USER_END);
                prop_assert!(r.end() - r.start() >= len);
                prop_assert!(((r.end() - 1) >> 39) < KERNEL_PML4_FIRST as u64);
                prop_assert!(r.overlaps(r.start(), r.start() + 1));
            }
        }
    }
}
