//! Charging kernel memory to the task that asked for it. A [`Charge`] is
//! kept by the object it paid for and given back when that object is
//! freed (to the task that paid, if it still exists).

use crate::mem::heap;
use crate::state::Kernel;
use ipc_abi::syscall::SysError;
use kerncore::slab::Id;

/// Heap bytes one task pays for.
#[derive(Clone, Copy, Debug)]
pub struct Charge {
    task: Id,
    bytes: u64,
}

impl Kernel {
    /// Charges `bytes` to `task`'s quota. Refused (`OutOfMemory`) past the
    /// quota, or when the heap itself would be left with less than its
    /// reserve.
    pub fn charge(&mut self, task: Id, bytes: u64) -> Result<Charge, SysError> {
        let free = heap::stats().free;
        if bytes.saturating_add(heap::RESERVE) > free {
            return Err(SysError::OutOfMemory);
        }
        self.task_mut(task)
            .quota
            .take(bytes)
            .map_err(|_| SysError::OutOfMemory)?;
        Ok(Charge { task, bytes })
    }

    /// Gives a charge back; nothing to do if the task that paid is gone.
    pub fn uncharge(&mut self, charge: Option<Charge>) {
        if let Some(c) = charge
            && let Some(t) = self.tasks.get_mut(c.task)
        {
            t.quota.give_back(c.bytes);
        }
    }
}
