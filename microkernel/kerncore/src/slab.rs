//! A generational arena: objects are named by an index and a generation, so
//! a name kept after its object died can never reach the object that reuses
//! the slot (a stale capability finds nothing, rather than something else).

use alloc::vec::Vec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id {
    pub index: u32,
    pub generation: u32,
}

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

#[derive(Debug)]
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    pub const fn new() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub fn insert(&mut self, value: T) -> Id {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let e = &mut self.entries[index as usize];
            e.value = Some(value);
            return Id {
                index,
                generation: e.generation,
            };
        }
        self.entries.push(Entry {
            generation: 0,
            value: Some(value),
        });
        Id {
            index: (self.entries.len() - 1) as u32,
            generation: 0,
        }
    }

    /// As [`Slab::insert`], but hands the value back instead of aborting
    /// when memory for a new entry cannot be had. Also makes room for the
    /// entry's later place on the free list, so that [`Slab::remove`]
    /// never allocates.
    pub fn try_insert(&mut self, value: T) -> Result<Id, T> {
        if self.free.is_empty() {
            let want = self.entries.len() + 1;
            if self.entries.try_reserve(1).is_err() || self.free.try_reserve(want).is_err() {
                return Err(value);
            }
        }
        Ok(self.insert(value))
    }

    /// Room for `n` entries in all, allocated now (boot-time sizing of
    /// tables with a fixed bound).
    pub fn reserve_total(&mut self, n: usize) {
        self.entries.reserve(n.saturating_sub(self.entries.len()));
        self.free.reserve(n.saturating_sub(self.free.len()));
    }

    pub fn get(&self, id: Id) -> Option<&T> {
        let e = self.entries.get(id.index as usize)?;
        if e.generation != id.generation {
            return None;
        }
        e.value.as_ref()
    }

    pub fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        let e = self.entries.get_mut(id.index as usize)?;
        if e.generation != id.generation {
            return None;
        }
        e.value.as_mut()
    }

    /// Two different live entries at once (`None` if either is stale or
    /// they are the same).
    #[inline]
    pub fn get2_mut(&mut self, a: Id, b: Id) -> Option<(&mut T, &mut T)> {
        let [ea, eb] = self
            .entries
            .get_disjoint_mut([a.index as usize, b.index as usize])
            .ok()?;
        if ea.generation != a.generation || eb.generation != b.generation {
            return None;
        }
        Some((ea.value.as_mut()?, eb.value.as_mut()?))
    }

    pub fn remove(&mut self, id: Id) -> Option<T> {
        let e = self.entries.get_mut(id.index as usize)?;
        if e.generation != id.generation || e.value.is_none() {
            return None;
        }
        e.generation = e.generation.wrapping_add(1);
        self.free.push(id.index);
        self.len -= 1;
        e.value.take()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes the slab holds beyond its live entries: room for entries
    /// not in use and the free list. Tables grow and never shrink, so this
    /// is what a count of the heap held for live objects leaves out.
    pub fn spare_bytes(&self) -> usize {
        (self.entries.capacity() - self.len) * core::mem::size_of::<Entry<T>>()
            + self.free.capacity() * core::mem::size_of::<u32>()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (Id, &T)> {
        self.entries.iter().enumerate().filter_map(|(i, e)| {
            e.value.as_ref().map(|v| {
                (
                    Id {
                        index: i as u32,
                        generation: e.generation,
                    },
                    v,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_entries_at_once_only_when_both_live_and_different() {
        let mut s = Slab::new();
        let a = s.insert(1);
        let b = s.insert(2);
        let (x, y) = s.get2_mut(a, b).expect("both live");
        core::mem::swap(x, y);
        assert_eq!((s.get(a), s.get(b)), (Some(&2), Some(&1)));
        assert!(s.get2_mut(a, a).is_none(), "the same entry twice");
        s.remove(b);
        assert!(s.get2_mut(a, b).is_none(), "b removed");
        let c = s.insert(3);
        assert_eq!(c.index, b.index);
        assert!(s.get2_mut(a, b).is_none(), "b's slot reused");
        assert!(s.get2_mut(a, c).is_some());
        let far = Id {
            index: 99,
            generation: 0,
        };
        assert!(s.get2_mut(a, far).is_none(), "out of range");
    }

    #[test]
    fn stale_ids_find_nothing_after_reuse() {
        let mut s = Slab::new();
        let a = s.insert("a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b");
        assert_eq!(a.index, b.index, "slot reused");
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn try_insert_keeps_room_for_the_free_list() {
        let mut s = Slab::new();
        let ids: Vec<Id> = (0..100).map(|i| s.try_insert(i).unwrap()).collect();
        let cap = s.free.capacity();
        assert!(cap >= 100);
        for id in ids {
            s.remove(id);
        }
        assert_eq!(s.free.capacity(), cap, "remove never grew the free list");
        assert!(s.try_insert(7).is_ok());
        let entry = core::mem::size_of::<Entry<i32>>();
        assert_eq!(
            s.spare_bytes(),
            (s.entries.capacity() - 1) * entry + s.free.capacity() * 4,
            "everything but the one live entry is spare"
        );
    }

    #[test]
    fn iterates_live_entries_only() {
        let mut s = Slab::new();
        let ids: Vec<Id> = (0..5).map(|i| s.insert(i)).collect();
        s.remove(ids[1]);
        s.remove(ids[3]);
        let live: Vec<i32> = s.iter().map(|(_, v)| *v).collect();
        assert_eq!(live, [0, 2, 4]);
        assert_eq!(s.iter().count(), 3);
    }
}
