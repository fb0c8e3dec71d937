//! Memory objects: creation, mapping with rights, unmapping, and the W^X
//! rule across aliases (one object mapped twice in one address space can
//! never be writable through one mapping and executable through another).

use crate::mem::frames;
use crate::mem::paging::{MapError, NO_EXECUTE, USER, WRITABLE};
use crate::object::{MemObject, Object, cap};
use crate::state::Kernel;
use crate::task::Mapping;
use alloc::vec::Vec;
use ipc_abi::layout::{PAGE_SIZE, USER_END, USER_START};
use ipc_abi::syscall::SysError;
use kerncore::cap::Rights;
use kerncore::slab::Id;

/// Largest object one `MemCreate` makes (256 MiB).
pub const MAX_OBJECT_PAGES: u64 = 65536;

impl Kernel {
    pub fn mem_create(&mut self, pages: u64) -> Result<u64, SysError> {
        if pages == 0 || pages > MAX_OBJECT_PAGES {
            return Err(SysError::InvalidArgument);
        }
        let mut got = Vec::new();
        for _ in 0..pages {
            match frames::alloc_zeroed() {
                Some(f) => got.push(f),
                None => {
                    for f in got {
                        let _ = frames::free(f);
                    }
                    return Err(SysError::OutOfMemory);
                }
            }
        }
        let id = self.memory.insert(MemObject {
            refs: 0,
            frames: got,
            borrowed: false,
        });
        let me = self.current();
        self.grant(me, cap(Object::Memory(id), Rights::ALL))
            .map(u64::from)
            .inspect_err(|_| {
                // Nothing refers to it: free it again.
                if let Some(m) = self.memory.remove(id) {
                    for f in m.frames {
                        let _ = frames::free(f);
                    }
                }
            })
    }

    /// Wraps physical memory the kernel does not own (the initrd).
    pub fn mem_borrow(&mut self, start: u64, len: u64) -> Id {
        let frames = (0..len.div_ceil(PAGE_SIZE))
            .map(|i| start + i * PAGE_SIZE)
            .collect();
        self.memory.insert(MemObject {
            refs: 0,
            frames,
            borrowed: true,
        })
    }

    pub fn mem_map(&mut self, slot: u64, vaddr: u64, rights: u64) -> Result<u64, SysError> {
        let want = Rights(rights as u32);
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
        let pages = self
            .memory
            .get(obj)
            .map(|m| m.frames.len() as u64)
            .ok_or(SysError::InvalidCap)?;
        let end = vaddr
            .checked_add(pages * PAGE_SIZE)
            .ok_or(SysError::BadAddress)?;
        if !vaddr.is_multiple_of(PAGE_SIZE) || vaddr < USER_START || end > USER_END {
            return Err(SysError::BadAddress);
        }
        let task = self.task(me);
        if task
            .mappings
            .iter()
            .any(|m| m.object == obj && ((m.writable && executable) || (m.executable && writable)))
        {
            return Err(SysError::WritableAndExecutable);
        }
        if task
            .mappings
            .iter()
            .any(|m| m.vaddr < end && vaddr < m.vaddr + m.pages * PAGE_SIZE)
        {
            return Err(SysError::MappingConflict);
        }
        let mut flags = USER;
        if writable {
            flags |= WRITABLE;
        }
        if !executable {
            flags |= NO_EXECUTE;
        }
        let frames: Vec<u64> = self.memory.get(obj).expect("checked").frames.clone();
        let space = self.task_mut(me).space.as_mut().expect("live task");
        for (i, f) in frames.iter().enumerate() {
            if let Err(e) = space.map(vaddr + i as u64 * PAGE_SIZE, *f, flags) {
                for j in 0..i {
                    space.unmap(vaddr + j as u64 * PAGE_SIZE);
                }
                return Err(match e {
                    MapError::OutOfMemory => SysError::OutOfMemory,
                    MapError::AlreadyMapped => SysError::MappingConflict,
                    MapError::WritableAndExecutable => SysError::WritableAndExecutable,
                });
            }
        }
        self.task_mut(me).mappings.push(Mapping {
            vaddr,
            pages,
            object: obj,
            writable,
            executable,
        });
        self.memory.get_mut(obj).expect("checked").refs += 1;
        Ok(pages)
    }

    pub fn mem_unmap(&mut self, vaddr: u64) -> Result<(), SysError> {
        let me = self.current();
        let task = self.task_mut(me);
        let i = task
            .mappings
            .iter()
            .position(|m| m.vaddr == vaddr)
            .ok_or(SysError::MappingConflict)?;
        let m = task.mappings.remove(i);
        let space = task.space.as_mut().expect("live task");
        for p in 0..m.pages {
            space.unmap(m.vaddr + p * PAGE_SIZE);
        }
        // SAFETY: reloading the running task's own CR3 flushes the TLB
        // entries of the pages just unmapped.
        unsafe { crate::arch::load_cr3(space.pml4()) };
        self.drop_memory_ref(m.object);
        Ok(())
    }
}
