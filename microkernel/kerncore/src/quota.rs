//! Per-task quotas of kernel memory. A task's quota bounds the heap the
//! kernel holds on its behalf (objects it created, tasks it spawned), so no
//! task can exhaust the kernel heap for the others: past its limit the
//! call that asked fails with `OutOfMemory`.

/// How much of its quota a task uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    limit: u64,
    used: u64,
}

/// The quota would be exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverQuota;

impl Quota {
    pub const fn new(limit: u64) -> Quota {
        Quota { limit, used: 0 }
    }

    /// Takes `bytes` from the quota, or refuses without changing it.
    pub fn take(&mut self, bytes: u64) -> Result<(), OverQuota> {
        let used = self.used.checked_add(bytes).ok_or(OverQuota)?;
        if used > self.limit {
            return Err(OverQuota);
        }
        self.used = used;
        Ok(())
    }

    /// Gives back what an earlier [`Quota::take`] took.
    pub fn give_back(&mut self, bytes: u64) {
        debug_assert!(bytes <= self.used, "gave back more than was taken");
        self.used = self.used.saturating_sub(bytes);
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_past_the_limit_and_on_overflow() {
        let mut q = Quota::new(100);
        assert_eq!(q.take(60), Ok(()));
        assert_eq!(q.take(41), Err(OverQuota));
        assert_eq!(q.used(), 60, "a refused take changes nothing");
        assert_eq!(q.take(40), Ok(()));
        q.give_back(100);
        assert_eq!(q.take(u64::MAX), Err(OverQuota));
        assert_eq!(q.used(), 0);
    }

    proptest! {
        /// Whatever the sequence, usage never exceeds the limit and equals
        /// what was taken and not given back.
        #[test]
        fn usage_matches_a_model(ops in proptest::collection::vec((any::<bool>(), 0u64..50), 1..200)) {
            let mut q = Quota::new(500);
            let mut held: Vec<u64> = Vec::new();
            for (take, n) in ops {
                if take {
                    if q.take(n).is_ok() { held.push(n); }
                } else if let Some(b) = held.pop() {
                    q.give_back(b);
                }
                prop_assert!(q.used() <= q.limit());
                prop_assert_eq!(q.used(), held.iter().sum::<u64>());
            }
        }
    }
}
