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
    /// Frames the kernel does not own (the initrd): never freed.
    borrowed: bool,
}

impl MemObject {
    /// Frames the kernel allocated for it, paid for by `charge`.
    pub fn owned(charge: Charge, frames: Vec<u64>) -> MemObject {
        MemObject {
            charge: Some(charge),
            refs: 0,
            frames,
            borrowed: false,
        }
    }

    /// Physical memory the kernel does not own (the initrd).
    pub fn borrowed(frames: Vec<u64>) -> MemObject {
        MemObject {
            charge: None,
            refs: 0,
            frames,
            borrowed: true,
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
        let frames = if self.borrowed {
            Vec::new()
        } else {
            self.frames
        };
        (self.charge, frames)
    }

    /// The physical start if the frames are contiguous.
    pub fn contiguous(&self) -> Option<u64> {
        let first = *self.frames.first()?;
        self.frames
            .iter()
            .enumerate()
            .all(|(i, &f)| f == first + i as u64 * ipc_abi::layout::PAGE_SIZE)
            .then_some(first)
    }
}
