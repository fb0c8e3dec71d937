//! The hand-off from the UEFI loader to the kernel.
//!
//! The loader fills one [`BootInfo`] in memory it reserves for the kernel and
//! enters the kernel at its ELF entry point with the System V calling
//! convention: `extern "sysv64" fn(boot_info: *const BootInfo) -> !`, the
//! pointer being a direct-map address (see [`crate::layout::PHYS_MAP_BASE`]).
//!
//! At entry the CPU runs on the loader's page tables, which map all physical
//! memory both at identity and at `PHYS_MAP_BASE`, and the kernel's segments
//! at their link addresses; interrupts are off and boot services are gone.

/// `BootInfo::magic`: "JITOSBI1".
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"JITOSBI1");

/// Bumped whenever [`BootInfo`]'s layout changes.
pub const BOOT_INFO_VERSION: u32 = 1;

/// Room for the memory map; the loader merges adjacent regions of one kind
/// and refuses to boot if the firmware's map still does not fit.
pub const MAX_MEMORY_REGIONS: usize = 256;

/// Room for the kernel command line (the ESP file `\cmdline`).
pub const MAX_CMDLINE: usize = 256;

/// What a physical region is for, as far as the kernel is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MemoryKind {
    /// Free for the kernel's frame allocator (conventional memory and the
    /// firmware's boot-services and loader memory, which is dead now).
    Usable = 1,
    /// Firmware runtime memory and anything else not listed: never touched.
    Reserved = 2,
    /// ACPI tables; may be reclaimed once parsed.
    AcpiReclaimable = 3,
    /// ACPI non-volatile storage.
    AcpiNvs = 4,
    /// The kernel's loaded segments.
    Kernel = 5,
    /// The initrd image.
    Initrd = 6,
    /// Loader allocations the kernel still stands on at entry: this
    /// `BootInfo`, the boot stack and the loader's page tables.
    BootReserved = 7,
    /// Memory the firmware reported as broken.
    Unusable = 8,
    /// Memory-mapped I/O the firmware declared (device registers, not
    /// RAM): one of the places device-memory capabilities may reach.
    Mmio = 9,
}

/// One range of physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct MemoryRegion {
    pub start: u64,
    pub pages: u64,
    pub kind: MemoryKind,
    pub _pad: u32,
}

impl MemoryRegion {
    pub const EMPTY: MemoryRegion = MemoryRegion {
        start: 0,
        pages: 0,
        kind: MemoryKind::Reserved,
        _pad: 0,
    };

    pub const fn end(&self) -> u64 {
        self.start + self.pages * crate::layout::PAGE_SIZE
    }
}

/// A physical byte range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct PhysRange {
    pub start: u64,
    pub len: u64,
}

/// Guest TSC readings taken by the loader, for the boot-phase log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BootTimestamps {
    /// First instruction of the loader's entry point; firmware time is the
    /// TSC from reset to here.
    pub loader_entry: u64,
    /// Just before the jump into the kernel.
    pub loader_exit: u64,
}

/// Everything the kernel learns from the loader.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BootInfo {
    pub magic: u64,
    pub version: u32,
    pub memory_map_len: u32,
    pub memory_map: [MemoryRegion; MAX_MEMORY_REGIONS],
    pub kernel: PhysRange,
    pub initrd: PhysRange,
    /// Physical address of the ACPI 2.0 RSDP, or 0 when the firmware has none.
    pub acpi_rsdp: u64,
    /// TSC frequency measured by the loader against the firmware's timer.
    pub tsc_hz: u64,
    pub timestamps: BootTimestamps,
    pub cmdline_len: u32,
    pub _pad: u32,
    pub cmdline: [u8; MAX_CMDLINE],
}

impl BootInfo {
    pub const fn empty() -> BootInfo {
        BootInfo {
            magic: BOOT_INFO_MAGIC,
            version: BOOT_INFO_VERSION,
            memory_map_len: 0,
            memory_map: [MemoryRegion::EMPTY; MAX_MEMORY_REGIONS],
            kernel: PhysRange { start: 0, len: 0 },
            initrd: PhysRange { start: 0, len: 0 },
            acpi_rsdp: 0,
            tsc_hz: 0,
            timestamps: BootTimestamps {
                loader_entry: 0,
                loader_exit: 0,
            },
            cmdline_len: 0,
            _pad: 0,
            cmdline: [0; MAX_CMDLINE],
        }
    }

    /// The valid part of the memory map.
    pub fn memory_map(&self) -> &[MemoryRegion] {
        let n = (self.memory_map_len as usize).min(MAX_MEMORY_REGIONS);
        &self.memory_map[..n]
    }

    /// The kernel command line, or "" if it is not UTF-8.
    pub fn cmdline(&self) -> &str {
        let n = (self.cmdline_len as usize).min(MAX_CMDLINE);
        core::str::from_utf8(&self.cmdline[..n]).unwrap_or("")
    }

    /// Appends a region, merging it into the previous one when they touch
    /// and have the same kind. Returns `false` when the map is full.
    pub fn push_region(&mut self, region: MemoryRegion) -> bool {
        let n = self.memory_map_len as usize;
        if n > 0 {
            let last = &mut self.memory_map[n - 1];
            if last.kind == region.kind && last.end() == region.start {
                last.pages += region.pages;
                return true;
            }
        }
        if n == MAX_MEMORY_REGIONS {
            return false;
        }
        self.memory_map[n] = region;
        self.memory_map_len += 1;
        true
    }
}

impl BootInfo {
    /// Appends `[start, start + pages)` of kind `kind`; where the range is
    /// usable, the parts covered by `reservations` (sorted by start, not
    /// overlapping) are appended with their own kinds instead. Returns
    /// `false` when the map is full.
    pub fn push_carved(
        &mut self,
        start: u64,
        pages: u64,
        kind: MemoryKind,
        reservations: &[MemoryRegion],
    ) -> bool {
        let end = start + pages * crate::layout::PAGE_SIZE;
        let mut cur = start;
        if kind == MemoryKind::Usable {
            for r in reservations {
                let (rs, re) = (r.start.max(cur), r.end().min(end));
                if rs >= re {
                    continue;
                }
                let ok =
                    self.push_range(cur, rs, MemoryKind::Usable) && self.push_range(rs, re, r.kind);
                if !ok {
                    return false;
                }
                cur = re;
            }
        }
        self.push_range(cur, end, kind)
    }

    fn push_range(&mut self, start: u64, end: u64, kind: MemoryKind) -> bool {
        if start >= end {
            return true;
        }
        self.push_region(MemoryRegion {
            start,
            pages: (end - start) / crate::layout::PAGE_SIZE,
            kind,
            _pad: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_carved_splits_usable_memory_around_reservations() {
        let mut bi = BootInfo::empty();
        let res = [
            region(0x3000, 1, MemoryKind::Kernel),
            region(0x5000, 2, MemoryKind::Initrd),
            region(0x20000, 1, MemoryKind::BootReserved), // outside: ignored
        ];
        assert!(bi.push_carved(0x1000, 8, MemoryKind::Usable, &res));
        assert!(bi.push_carved(0x9000, 1, MemoryKind::Reserved, &res));
        assert_eq!(
            bi.memory_map(),
            &[
                region(0x1000, 2, MemoryKind::Usable),
                region(0x3000, 1, MemoryKind::Kernel),
                region(0x4000, 1, MemoryKind::Usable),
                region(0x5000, 2, MemoryKind::Initrd),
                region(0x7000, 2, MemoryKind::Usable),
                region(0x9000, 1, MemoryKind::Reserved),
            ]
        );
    }

    #[test]
    fn push_carved_leaves_non_usable_memory_whole() {
        let mut bi = BootInfo::empty();
        let res = [region(0x2000, 1, MemoryKind::Kernel)];
        assert!(bi.push_carved(0x1000, 4, MemoryKind::AcpiNvs, &res));
        assert_eq!(bi.memory_map(), &[region(0x1000, 4, MemoryKind::AcpiNvs)]);
    }

    fn region(start: u64, pages: u64, kind: MemoryKind) -> MemoryRegion {
        MemoryRegion {
            start,
            pages,
            kind,
            _pad: 0,
        }
    }

    #[test]
    fn push_region_merges_touching_regions_of_one_kind() {
        let mut bi = BootInfo::empty();
        assert!(bi.push_region(region(0, 2, MemoryKind::Usable)));
        assert!(bi.push_region(region(0x2000, 3, MemoryKind::Usable)));
        assert!(bi.push_region(region(0x5000, 1, MemoryKind::Reserved)));
        assert!(bi.push_region(region(0x7000, 1, MemoryKind::Reserved)));
        assert_eq!(
            bi.memory_map(),
            &[
                region(0, 5, MemoryKind::Usable),
                region(0x5000, 1, MemoryKind::Reserved),
                region(0x7000, 1, MemoryKind::Reserved)
            ]
        );
    }

    #[test]
    fn push_region_reports_a_full_map() {
        let mut bi = BootInfo::empty();
        for i in 0..MAX_MEMORY_REGIONS as u64 {
            assert!(bi.push_region(region(i * 0x2000, 1, MemoryKind::Usable)));
        }
        assert!(!bi.push_region(region(u64::MAX / 2, 1, MemoryKind::Usable)));
        assert_eq!(bi.memory_map().len(), MAX_MEMORY_REGIONS);
    }
}
