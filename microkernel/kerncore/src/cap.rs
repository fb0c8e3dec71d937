//! Per-task capability tables: a fixed number of slots, each holding a
//! typed object reference with rights and a badge. Every use names a slot
//! and the rights it needs; the table answers with the capability or a
//! precise error. Rights can only shrink when a capability is copied.

pub use ipc_abi::cap::Rights;

/// Slots per task.
pub const CAP_SLOTS: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap<O> {
    pub object: O,
    pub rights: Rights,
    /// Identifies the holder to a server (endpoint capabilities); 0 = none.
    pub badge: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapError {
    /// The slot number is outside the table.
    InvalidSlot,
    /// Nothing in that slot (never filled, or dropped: a stale slot).
    Empty,
    MissingRights {
        need: Rights,
        have: Rights,
    },
    /// A badge can only be set on an unbadged capability.
    AlreadyBadged,
    TableFull,
}

#[derive(Debug)]
pub struct CapTable<O: Copy> {
    slots: [Option<Cap<O>>; CAP_SLOTS],
}

impl<O: Copy> Default for CapTable<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O: Copy> CapTable<O> {
    pub const fn new() -> CapTable<O> {
        CapTable {
            slots: [None; CAP_SLOTS],
        }
    }

    pub fn insert(&mut self, cap: Cap<O>) -> Result<u32, CapError> {
        let slot = self
            .slots
            .iter()
            .position(Option::is_none)
            .ok_or(CapError::TableFull)?;
        self.slots[slot] = Some(cap);
        Ok(slot as u32)
    }

    pub fn get(&self, slot: u64) -> Result<Cap<O>, CapError> {
        let s = self
            .slots
            .get(usize::try_from(slot).map_err(|_| CapError::InvalidSlot)?);
        s.ok_or(CapError::InvalidSlot)?.ok_or(CapError::Empty)
    }

    /// The capability in `slot` if it carries all of `need`.
    pub fn check(&self, slot: u64, need: Rights) -> Result<Cap<O>, CapError> {
        let cap = self.get(slot)?;
        if !cap.rights.contains(need) {
            return Err(CapError::MissingRights {
                need,
                have: cap.rights,
            });
        }
        Ok(cap)
    }

    pub fn remove(&mut self, slot: u64) -> Result<Cap<O>, CapError> {
        self.get(slot)?;
        Ok(self.slots[slot as usize].take().expect("checked above"))
    }

    /// Copies `slot` into a new slot with rights `rights ∩ mask` and,
    /// optionally, a badge (only onto an unbadged capability).
    pub fn derive(&mut self, slot: u64, mask: Rights, badge: Option<u64>) -> Result<u32, CapError> {
        let mut cap = self.get(slot)?;
        cap.rights = cap.rights.intersect(mask);
        if let Some(b) = badge {
            if cap.badge != 0 {
                return Err(CapError::AlreadyBadged);
            }
            cap.badge = b;
        }
        self.insert(cap)
    }

    /// Empties the table, handing back every capability (task death).
    pub fn drain(&mut self) -> impl Iterator<Item = Cap<O>> + '_ {
        self.slots.iter_mut().filter_map(Option::take)
    }

    pub fn count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(rights: Rights) -> Cap<u8> {
        Cap {
            object: 7,
            rights,
            badge: 0,
        }
    }

    #[test]
    fn check_demands_every_needed_right() {
        let mut t = CapTable::new();
        let s = t.insert(cap(Rights::SEND.union(Rights::GRANT))).unwrap() as u64;
        assert!(t.check(s, Rights::SEND).is_ok());
        assert_eq!(
            t.check(s, Rights::RECV),
            Err(CapError::MissingRights {
                need: Rights::RECV,
                have: Rights::SEND.union(Rights::GRANT)
            })
        );
        assert_eq!(t.check(999, Rights::NONE), Err(CapError::InvalidSlot));
        assert_eq!(t.check(u64::MAX, Rights::NONE), Err(CapError::InvalidSlot));
        assert_eq!(t.check(s + 1, Rights::NONE), Err(CapError::Empty));
    }

    #[test]
    fn derive_only_shrinks_rights_and_badges_once() {
        let mut t = CapTable::new();
        let s = t.insert(cap(Rights::SEND)).unwrap() as u64;
        let d = t.derive(s, Rights::ALL, None).unwrap() as u64;
        assert_eq!(
            t.get(d).unwrap().rights,
            Rights::SEND,
            "no escalation through ALL"
        );
        let r = t.derive(s, Rights::NONE, None).unwrap() as u64;
        assert_eq!(t.get(r).unwrap().rights, Rights::NONE);
        let b = t.derive(s, Rights::ALL, Some(42)).unwrap() as u64;
        assert_eq!(t.get(b).unwrap().badge, 42);
        assert_eq!(
            t.derive(b, Rights::ALL, Some(43)),
            Err(CapError::AlreadyBadged)
        );
    }

    #[test]
    fn dropped_slots_are_stale_and_drain_empties() {
        let mut t = CapTable::new();
        let s = t.insert(cap(Rights::ALL)).unwrap() as u64;
        t.remove(s).unwrap();
        assert_eq!(t.remove(s), Err(CapError::Empty));
        for _ in 0..CAP_SLOTS {
            t.insert(cap(Rights::READ)).unwrap();
        }
        assert_eq!(t.insert(cap(Rights::READ)), Err(CapError::TableFull));
        assert_eq!(t.drain().count(), CAP_SLOTS);
        assert_eq!(t.count(), 0);
    }
}
