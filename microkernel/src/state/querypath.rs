//! The query fast path: `CapInfo` reads the caller's own capability table
//! and changes nothing else, so the caller always goes on running after
//! it. Taken here, it skips decoding a `Request` and the general path's
//! checks of whether the caller may go on (one task lookup instead of
//! three).
//!
//! Like the IPC fast path it checks first and changes nothing unless it
//! answers: when the general path would not resume the caller at once (a
//! preemption is due, a woken task is to run next, a task of higher
//! priority is ready, the caller's frame cannot be resumed) it returns
//! `None` and the general path takes the syscall from the start, with the
//! same result.

use crate::arch::trap::TrapFrame;
use crate::state::Kernel;
use ipc_abi::syscall::Sys;

const CAP_INFO: u64 = Sys::CapInfo as u64;

impl Kernel {
    /// Answers the current task's syscall `number` with first argument
    /// `a0` if it is a query the fast path takes (`CapInfo`) and the task
    /// goes on running after it: returns its frame to resume.
    #[inline]
    pub fn query_fast_path(&mut self, number: u64, a0: u64) -> Option<*const TrapFrame> {
        if number != CAP_INFO {
            return None;
        }
        // What `keeps_running` asks, for a syscall that wakes nobody.
        let t = self.goes_on()?;
        // A native number: never a foreign personality's syscall.
        t.set_result(crate::syscall::cap_info(&t.caps, a0));
        let frame = t.context.as_ptr().cast_const();
        self.query_fast += 1;
        Some(frame)
    }

    /// How many syscalls the query fast path answered since boot.
    pub fn query_fast_path_count(&self) -> u64 {
        self.query_fast
    }
}
