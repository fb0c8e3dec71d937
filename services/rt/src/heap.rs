//! A 1 MiB `talc` heap in `.bss` for services that need `alloc`.

use talc::{ClaimOnOom, Span, Talc, Talck};

const HEAP_SIZE: usize = 1 << 20;

static mut ARENA: [u8; HEAP_SIZE] = [0; HEAP_SIZE];

#[global_allocator]
static ALLOCATOR: Talck<spin::Mutex<()>, ClaimOnOom> = Talc::new(
    // SAFETY: ARENA is used by nothing but this allocator.
    unsafe { ClaimOnOom::new(Span::from_array(core::ptr::addr_of!(ARENA).cast_mut())) },
)
.lock();
