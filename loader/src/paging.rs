//! The page tables the kernel starts on, built in a pool of pages the loader
//! reserves: physical memory mapped twice (identity, so the loader survives
//! the switch, and at `PHYS_MAP_BASE`, non-executable) with 2 MiB pages, and
//! the kernel's segments at their link addresses with 4 KiB pages and their
//! own rights.

use ipc_abi::layout::{KERNEL_PML4_FIRST, PAGE_SIZE, PHYS_MAP_BASE};

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const GIB: u64 = 1 << 30;
const TWO_MIB: u64 = 2 << 20;

/// Builds tables in `[pool, pool + pages * 4096)`, which must be
/// identity-mapped, writable and owned by the builder.
pub struct TableBuilder {
    pool: u64,
    pages: u64,
    used: u64,
    pub pml4: u64,
}

impl TableBuilder {
    /// # Safety
    /// The pool must be memory the caller allocated for this purpose,
    /// identity-mapped and not used for anything else.
    pub unsafe fn new(pool: u64, pages: u64) -> Result<TableBuilder, &'static str> {
        let mut b = TableBuilder {
            pool,
            pages,
            used: 0,
            pml4: 0,
        };
        b.pml4 = b.new_table()?;
        Ok(b)
    }

    fn new_table(&mut self) -> Result<u64, &'static str> {
        if self.used == self.pages {
            return Err("page-table pool exhausted");
        }
        let addr = self.pool + self.used * PAGE_SIZE;
        self.used += 1;
        self.table(addr).fill(0);
        Ok(addr)
    }

    fn table(&mut self, addr: u64) -> &mut [u64; 512] {
        debug_assert!(addr >= self.pool && addr < self.pool + self.pages * PAGE_SIZE);
        // SAFETY: `addr` is a page of the pool (every table address comes
        // from `new_table`), the pool is identity-mapped and exclusively ours
        // (contract of `new`), and `&mut self` keeps the borrow unique.
        unsafe { &mut *(addr as *mut [u64; 512]) }
    }

    /// Returns the next-level table under `table[index]`, creating it.
    fn next(&mut self, table: u64, index: usize) -> Result<u64, &'static str> {
        let entry = self.table(table)[index];
        if entry & PRESENT != 0 {
            return Ok(entry & ADDR_MASK);
        }
        let t = self.new_table()?;
        self.table(table)[index] = t | PRESENT | WRITABLE;
        Ok(t)
    }

    /// Maps `[0, top)` (rounded up to 1 GiB) at identity and at
    /// `PHYS_MAP_BASE`. Both PML4 slots share one PDPT; the higher-half slot
    /// carries no-execute, which applies to everything below it.
    pub fn map_physical(&mut self, top: u64) -> Result<(), &'static str> {
        let gibs = top.div_ceil(GIB);
        if gibs > 512 {
            return Err("physical memory above 512 GiB is not supported");
        }
        let pdpt = self.new_table()?;
        for g in 0..gibs {
            let pd = self.new_table()?;
            for i in 0..512 {
                self.table(pd)[i as usize] = (g * GIB + i * TWO_MIB) | PRESENT | WRITABLE | HUGE;
            }
            self.table(pdpt)[g as usize] = pd | PRESENT | WRITABLE;
        }
        let pml4 = self.pml4;
        self.table(pml4)[0] = pdpt | PRESENT | WRITABLE;
        let slot = ((PHYS_MAP_BASE >> 39) & 511) as usize;
        debug_assert_eq!(slot, KERNEL_PML4_FIRST);
        self.table(pml4)[slot] = pdpt | PRESENT | WRITABLE | NO_EXECUTE;
        Ok(())
    }

    /// Maps one 4 KiB page.
    pub fn map_page(
        &mut self,
        virt: u64,
        phys: u64,
        writable: bool,
        executable: bool,
    ) -> Result<(), &'static str> {
        let idx = |level: u32| ((virt >> (12 + 9 * level)) & 511) as usize;
        let pdpt = self.next(self.pml4, idx(3))?;
        let pd = self.next(pdpt, idx(2))?;
        let pt = self.next(pd, idx(1))?;
        let mut flags = PRESENT;
        if writable {
            flags |= WRITABLE;
        }
        if !executable {
            flags |= NO_EXECUTE;
        }
        self.table(pt)[idx(0)] = (phys & ADDR_MASK) | flags;
        Ok(())
    }
}
