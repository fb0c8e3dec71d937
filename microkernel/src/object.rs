//! Kernel objects that capabilities name (tasks live in `task`).

use crate::state::Charge;
use alloc::vec::Vec;
use kerncore::cap::{Cap, Rights};
use kerncore::slab::Id;

/// What a capability points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    Endpoint(Id),
    Notification(Id),
    Memory(Id),
    Task(Id),
    /// Ports `base .. base + len`.
    IoPorts {
        base: u16,
        len: u32,
    },
    /// IRQ lines `base .. base + len`.
    Irq {
        base: u8,
        len: u8,
    },
    /// Physical device memory `base .. base + len` (bytes, page-aligned):
    /// what `MemDevice` may wrap (never RAM: checked there).
    DeviceMemory {
        base: u64,
        len: u64,
    },
}

impl Object {
    pub fn kind(self) -> ipc_abi::cap::ObjectKind {
        use ipc_abi::cap::ObjectKind as K;
        match self {
            Object::Endpoint(_) => K::Endpoint,
            Object::Notification(_) => K::Notification,
            Object::Memory(_) => K::Memory,
            Object::Task(_) => K::Task,
            Object::IoPorts { .. } => K::IoPorts,
            Object::Irq { .. } => K::Irq,
            Object::DeviceMemory { .. } => K::DeviceMemory,
        }
    }
}

pub type KCap = Cap<Object>;

pub fn cap(object: Object, rights: Rights) -> KCap {
    Cap {
        object,
        rights,
        badge: 0,
    }
}

/// A rendezvous point for `Call` and `Recv` (its queues: `kerncore::ipc`).
pub type Endpoint = kerncore::ipc::Endpoint<Option<Charge>>;

/// A word of event bits (its waiter and bound task: `kerncore::ipc`).
pub type Notification = kerncore::ipc::Notification<Option<Charge>>;

/// Pages that can be mapped into several address spaces.
#[derive(Debug)]
pub struct MemObject {
    charge: Option<Charge>,
    /// Capabilities and mappings naming it.
    refs: usize,
    frames: Vec<u64>,
    kind: MemKind,
}

/// Where a memory object's frames come from, which decides how they are
/// mapped and whether they are freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemKind {
    /// RAM the kernel allocated for it, freed with it.
    Owned,
    /// RAM the kernel allocated in one physical run for a device to reach
    /// (`MemDma`), freed with it; never executable.
    Dma,
    /// RAM the kernel does not own (the initrd): never freed.
    Borrowed,
    /// Device registers (`MemDevice`): never freed, mapped uncached,
    /// never executable, never read by the kernel.
    Device,
}

impl MemObject {
    /// Frames the kernel allocated for it, paid for by `charge`.
    pub fn owned(charge: Charge, frames: Vec<u64>) -> MemObject {
        MemObject {
            charge: Some(charge),
            refs: 0,
            frames,
            kind: MemKind::Owned,
        }
    }

    /// DMA memory or device registers (`frames` in order, one physical
    /// run), paid for by `charge`.
    pub fn run(charge: Charge, frames: Vec<u64>, kind: MemKind) -> MemObject {
        MemObject {
            kind,
            ..MemObject::owned(charge, frames)
        }
    }

    pub fn kind(&self) -> MemKind {
        self.kind
    }

    /// Physical memory the kernel does not own (the initrd).
    pub fn borrowed(frames: Vec<u64>) -> MemObject {
        MemObject {
            charge: None,
            refs: 0,
            frames,
            kind: MemKind::Borrowed,
        }
    }

    pub fn frames(&self) -> &[u64] {
        &self.frames
    }

    pub fn pages(&self) -> u64 {
        self.frames.len() as u64
    }

    pub fn add_ref(&mut self) {
        self.refs += 1;
    }

    /// Forgets a reference; true when it was the last.
    pub fn drop_ref(&mut self) -> bool {
        self.refs -= 1;
        self.refs == 0
    }

    /// Frees the object: what its creator paid, and the frames to give
    /// back to the allocator (none for borrowed memory).
    pub fn release(self) -> (Option<Charge>, Vec<u64>) {
        let frames = match self.kind {
            MemKind::Owned | MemKind::Dma => self.frames,
            MemKind::Borrowed | MemKind::Device => Vec::new(),
        };
        (self.charge, frames)
    }

    /// The physical start if the frames are contiguous RAM (device
    /// registers never count: the kernel does not read them).
    pub fn contiguous(&self) -> Option<u64> {
        if self.kind == MemKind::Device {
            return None;
        }
        let first = *self.frames.first()?;
        self.frames
            .iter()
            .enumerate()
            .all(|(i, &f)| f == first + i as u64 * ipc_abi::layout::PAGE_SIZE)
            .then_some(first)
    }
}
