//! Memory objects: creation, mapping with rights, unmapping, and the W^X
//! rule across aliases (one object mapped twice in one address space can
//! never be writable through one mapping and executable through another).

use crate::mem::frames;
use crate::mem::paging::MapError;
use crate::mem::user::{Access, UserPages};
use crate::object::{MemKind, MemObject, Object, cap};
use crate::state::Kernel;
use crate::task::Mapping;
use alloc::vec::Vec;
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::syscall::SysError;
use kerncore::cap::Rights;
use kerncore::slab::Id;

use ipc_abi::syscall::{MAX_DMA_PAGES, MAX_OBJECT_PAGES};

impl Kernel {
    pub fn mem_create(&mut self, pages: u64) -> Result<u64, SysError> {
        if pages == 0 || pages > MAX_OBJECT_PAGES {
            return Err(SysError::InvalidArgument);
        }
        if pages > frames::stats().free {
            return Err(SysError::OutOfMemory);
        }
        let me = self.current();
        let bytes = pages * 8 + core::mem::size_of::<MemObject>() as u64;
        let charge = self.charge(me, bytes)?;
        let mut got = Vec::new();
        if got.try_reserve_exact(pages as usize).is_err() {
            self.uncharge(Some(charge));
            return Err(SysError::OutOfMemory);
        }
        for _ in 0..pages {
            match frames::alloc_zeroed() {
                Some(f) => got.push(f),
                None => break,
            }
        }
        let object = MemObject::owned(charge, got);
        let inserted = if object.pages() == pages {
            self.memory.try_insert(object)
        } else {
            Err(object)
        };
        let id = match inserted {
            Ok(id) => id,
            Err(object) => {
                self.free_memory(object);
                return Err(SysError::OutOfMemory);
            }
        };
        self.grant(me, cap(Object::Memory(id), Rights::ALL))
            .map(u64::from)
            .inspect_err(|_| {
                // Nothing refers to it: free it again.
                if let Some(m) = self.memory.remove(id) {
                    self.free_memory(m);
                }
            })
    }

    /// A memory object over device registers `phys .. phys + pages`
    /// (`MemDevice`): inside the device capability's range, and device
    /// memory by the boot memory map (never RAM).
    pub fn mem_device(&mut self, slot: u64, phys: u64, pages: u64) -> Result<u64, SysError> {
        let c = self.lookup(slot, Rights::READ)?;
        let Object::DeviceMemory { base, len } = c.object else {
            return Err(SysError::WrongKind);
        };
        if pages == 0 || pages > MAX_OBJECT_PAGES || !phys.is_multiple_of(PAGE_SIZE) {
            return Err(SysError::InvalidArgument);
        }
        let end = pages
            .checked_mul(PAGE_SIZE)
            .and_then(|n| n.checked_add(phys))
            .ok_or(SysError::InvalidArgument)?;
        if phys < base || end > base.saturating_add(len) || !frames::is_device_range(phys, end) {
            return Err(SysError::InvalidArgument);
        }
        let mut rights = Rights::READ.union(Rights::GRANT);
        if c.rights.contains(Rights::WRITE) {
            rights = rights.union(Rights::WRITE);
        }
        let run = frame_run(phys, pages)?;
        self.insert_memory(run, MemKind::Device, rights)
    }

    /// Zeroed RAM in one physical run for a device (`MemDma`); the caller
    /// proves it drives a device by holding a device-memory capability.
    pub fn mem_dma(&mut self, slot: u64, pages: u64) -> Result<u64, SysError> {
        let Object::DeviceMemory { .. } = self.lookup(slot, Rights::READ)?.object else {
            return Err(SysError::WrongKind);
        };
        if pages == 0 || pages > MAX_DMA_PAGES {
            return Err(SysError::InvalidArgument);
        }
        let mut run = frame_run(0, pages)?;
        let first = frames::alloc_contiguous_zeroed(pages).ok_or(SysError::OutOfMemory)?;
        for (i, f) in run.iter_mut().enumerate() {
            *f = first + i as u64 * PAGE_SIZE;
        }
        let rights = Rights::READ.union(Rights::WRITE).union(Rights::GRANT);
        self.insert_memory(run, MemKind::Dma, rights)
    }

    /// The physical address of a DMA object (`MemPhys`).
    pub fn mem_phys(&self, slot: u64) -> Result<u64, SysError> {
        let Object::Memory(id) = self.lookup(slot, Rights::READ)?.object else {
            return Err(SysError::WrongKind);
        };
        let m = self.memory.get(id).ok_or(SysError::InvalidCap)?;
        match m.kind() {
            MemKind::Dma => m.contiguous().ok_or(SysError::InvalidArgument),
            _ => Err(SysError::InvalidArgument),
        }
    }

    /// Charges the caller for an object over the physical run `run`,
    /// makes it and hands the caller a capability with `rights`; on
    /// failure gives everything back (DMA frames included).
    fn insert_memory(
        &mut self,
        run: Vec<u64>,
        kind: MemKind,
        rights: Rights,
    ) -> Result<u64, SysError> {
        let me = self.current();
        let bytes = run.len() as u64 * 8 + core::mem::size_of::<MemObject>() as u64;
        let charge = match self.charge(me, bytes) {
            Ok(c) => c,
            Err(e) => {
                if kind == MemKind::Dma {
                    for f in run {
                        let _ = frames::free(f);
                    }
                }
                return Err(e);
            }
        };
        let id = match self.memory.try_insert(MemObject::run(charge, run, kind)) {
            Ok(id) => id,
            Err(object) => {
                self.free_memory(object);
                return Err(SysError::OutOfMemory);
            }
        };
        self.grant(me, cap(Object::Memory(id), rights))
            .map(u64::from)
            .inspect_err(|_| {
                if let Some(m) = self.memory.remove(id) {
                    self.free_memory(m);
                }
            })
    }

    /// Wraps physical memory the kernel does not own (the initrd).
    pub fn mem_borrow(&mut self, start: u64, len: u64) -> Id {
        let frames = (0..len.div_ceil(PAGE_SIZE))
            .map(|i| start + i * PAGE_SIZE)
            .collect();
        self.memory.insert(MemObject::borrowed(frames))
    }

    /// Gives back what a memory object held: its creator's charge and
    /// the frames the kernel owns.
    pub fn free_memory(&mut self, m: MemObject) {
        let (charge, owned) = m.release();
        self.uncharge(charge);
        for f in owned {
            let _ = frames::free(f);
        }
    }

    pub fn mem_map(&mut self, slot: u64, vaddr: u64, want: Rights) -> Result<u64, SysError> {
        let (writable, executable) = match want {
            r if r == Rights::READ => (false, false),
            r if r == Rights::READ.union(Rights::WRITE) => (true, false),
            r if r == Rights::READ.union(Rights::EXEC) => (false, true),
            r if r == Rights::READ.union(Rights::WRITE).union(Rights::EXEC) => {
                return Err(SysError::WritableAndExecutable);
            }
            _ => return Err(SysError::InvalidArgument),
        };
        let cap = self.lookup(slot, want)?;
        let Object::Memory(obj) = cap.object else {
            return Err(SysError::WrongKind);
        };
        let me = self.current();
        let (pages, kind) = self
            .memory
            .get(obj)
            .map(|m| (m.pages(), m.kind()))
            .ok_or(SysError::InvalidCap)?;
        if executable && matches!(kind, MemKind::Device | MemKind::Dma) {
            // A device can write these pages behind every W^X check.
            return Err(SysError::WritableAndExecutable);
        }
        let range = UserPages::pages(vaddr, pages).map_err(|_| SysError::BadAddress)?;
        let task = self.task(me);
        if task
            .mappings
            .iter()
            .any(|m| m.object == obj && ((m.writable && executable) || (m.executable && writable)))
        {
            return Err(SysError::WritableAndExecutable);
        }
        if task.maps_object_in(range) {
            return Err(SysError::MappingConflict);
        }
        if task.mappings.len() >= ipc_abi::syscall::MAX_MAPPINGS {
            return Err(SysError::OutOfMemory);
        }
        let access = Access {
            user: true,
            write: writable,
            exec: executable,
            uncached: kind == MemKind::Device,
        };
        let frames = self.memory.get(obj).expect("checked").frames();
        let space = self
            .tasks
            .get_mut(me)
            .and_then(|t| t.space.as_mut())
            .expect("live task");
        space
            .map(range, frames.iter().copied(), access)
            .map_err(|e| match e {
                MapError::OutOfMemory => SysError::OutOfMemory,
                MapError::AlreadyMapped => SysError::MappingConflict,
                MapError::WritableAndExecutable => SysError::WritableAndExecutable,
            })?;
        self.task_mut(me).mappings.push(Mapping {
            range,
            object: obj,
            writable,
            executable,
        });
        self.memory.get_mut(obj).expect("checked").add_ref();
        Ok(pages)
    }

    pub fn mem_unmap(&mut self, vaddr: u64) -> Result<(), SysError> {
        let me = self.current();
        let task = self.task_mut(me);
        let i = task
            .mappings
            .iter()
            .position(|m| m.range.start() == vaddr)
            .ok_or(SysError::MappingConflict)?;
        let m = task.mappings.remove(i);
        let space = task.space.as_mut().expect("live task");
        // The object's frames are not the task's: unmap without freeing.
        space.unmap(m.range, |_| {});
        // SAFETY: reloading the running task's own CR3 flushes the TLB
        // entries of the pages just unmapped.
        unsafe { crate::arch::load_cr3(space.pml4()) };
        self.drop_memory_ref(m.object);
        Ok(())
    }
}

/// The frame list of a physical run, allocated fallibly.
fn frame_run(first: u64, pages: u64) -> Result<Vec<u64>, SysError> {
    let mut run = Vec::new();
    run.try_reserve_exact(pages as usize)
        .map_err(|_| SysError::OutOfMemory)?;
    run.extend((0..pages).map(|i| first + i * PAGE_SIZE));
    Ok(run)
}
