//! Capability rights and object kinds as user code sees them.

use core::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(pub u32);

impl Rights {
    pub const NONE: Rights = Rights(0);
    pub const READ: Rights = Rights(1 << 0);
    pub const WRITE: Rights = Rights(1 << 1);
    pub const EXEC: Rights = Rights(1 << 2);
    pub const SEND: Rights = Rights(1 << 3);
    pub const RECV: Rights = Rights(1 << 4);
    /// May pass capabilities along (in messages, or to a child task).
    pub const GRANT: Rights = Rights(1 << 5);
    pub const SIGNAL: Rights = Rights(1 << 6);
    pub const WAIT: Rights = Rights(1 << 7);
    /// May start, stop, inspect or kill (task capabilities).
    pub const CONTROL: Rights = Rights(1 << 8);
    pub const ALL: Rights = Rights((1 << 9) - 1);

    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    pub const fn intersect(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 9] = [
            "R", "W", "X", "send", "recv", "grant", "signal", "wait", "control",
        ];
        let mut first = true;
        for (i, n) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// What a capability names (`cap_info` reports it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ObjectKind {
    Endpoint = 1,
    Notification = 2,
    Memory = 3,
    Task = 4,
    IoPorts = 5,
    Irq = 6,
    Reply = 7,
    /// Physical device memory (PCI BARs): a byte range, page-aligned.
    DeviceMemory = 8,
}

impl ObjectKind {
    #[inline]
    pub fn from_raw(v: u64) -> Option<ObjectKind> {
        use ObjectKind::*;
        [
            Endpoint,
            Notification,
            Memory,
            Task,
            IoPorts,
            Irq,
            Reply,
            DeviceMemory,
        ]
        .into_iter()
        .find(|k| *k as u64 == v)
    }
}

/// A slot number in the calling task's capability table.
pub type Slot = u64;
