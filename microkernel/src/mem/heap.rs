//! The kernel heap: `talc` over a fixed arena in `.bss`. Fixed so that the
//! heap exists before the frame allocator does and never competes with user
//! memory.
//!
//! Exhaustion is never a panic: every allocation a task can cause that
//! outlives its syscall is charged to the task's quota (`quota`), and a
//! charge is refused while the heap has less than [`RESERVE`] free, which
//! leaves room for the short-lived buffers of any one syscall (each is
//! bounded: messages, console writes, spawn arguments).

use talc::{ClaimOnOom, Span, Talc, Talck};

const HEAP_SIZE: usize = 8 << 20;

/// Free heap a charge must leave: more than any one syscall's transient
/// allocations.
pub const RESERVE: u64 = 512 << 10;

static mut ARENA: [u8; HEAP_SIZE] = [0; HEAP_SIZE];

#[global_allocator]
static ALLOCATOR: Talck<spin::Mutex<()>, ClaimOnOom> = Talc::new(
    // SAFETY: ARENA is used by nothing but this allocator.
    unsafe { ClaimOnOom::new(Span::from_array(core::ptr::addr_of!(ARENA).cast_mut())) },
)
.lock();

#[derive(Clone, Copy, Debug)]
pub struct HeapStats {
    /// Bytes in live allocations.
    pub used: u64,
    /// Bytes free for new allocations (before the arena is first claimed,
    /// its whole size).
    pub free: u64,
}

pub fn stats() -> HeapStats {
    let talc = ALLOCATOR.lock();
    let c = talc.get_counters();
    if c.claimed_bytes == 0 {
        // `ClaimOnOom` claims the arena at the first allocation.
        return HeapStats {
            used: 0,
            free: HEAP_SIZE as u64,
        };
    }
    HeapStats {
        used: c.allocated_bytes as u64,
        free: c.available_bytes as u64,
    }
}
