//! The kernel heap: `talc` over a fixed arena in `.bss`. Fixed so that the
//! heap exists before the frame allocator does and never competes with user
//! memory; 4 MiB is plenty for task and capability bookkeeping.

use talc::{ClaimOnOom, Span, Talc, Talck};

const HEAP_SIZE: usize = 4 << 20;

static mut ARENA: [u8; HEAP_SIZE] = [0; HEAP_SIZE];

#[global_allocator]
static ALLOCATOR: Talck<spin::Mutex<()>, ClaimOnOom> = Talc::new(
    // SAFETY: ARENA is used by nothing but this allocator.
    unsafe { ClaimOnOom::new(Span::from_array(core::ptr::addr_of!(ARENA).cast_mut())) },
)
.lock();
