//! What virtio-drivers needs from the system (`Hal`): DMA memory and
//! device registers, both from the kernel through the device-memory
//! capability, and buffers the device may reach.
//!
//! Buffers are bounced: `share` copies a buffer into DMA memory (the
//! kernel never tells a task the physical address of ordinary memory),
//! `unshare` copies the device's answer back. Every mapping lies in this
//! service's own window above the Linux personality's `mmap` area.

use ipc_abi::cap::{Rights, Slot};
use ipc_abi::layout::PAGE_SIZE;
use rt::sys;
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::Mutex;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// Where this service maps device registers and DMA memory.
const WINDOW_BASE: u64 = 0x6800_0000_0000;
const _: () = assert!(WINDOW_BASE >= ipc_abi::linux::MMAP_END);

struct State {
    device: Option<Slot>,
    next_va: u64,
    /// DMA objects by virtual address: (memory slot, pages).
    dma: BTreeMap<u64, (Slot, u64)>,
    /// Device registers mapped so far: (phys, pages, vaddr).
    mmio: Vec<(u64, u64, u64)>,
    /// Bounce buffers lent to the device, by physical address: (vaddr,
    /// pages).
    bounce: BTreeMap<u64, (u64, u64)>,
    /// Bounce buffers kept for the next request: (pages, phys, vaddr).
    /// Every request would otherwise cost five syscalls to make and free
    /// its buffer.
    spare: Vec<(u64, u64, u64)>,
}

/// Spare bounce buffers kept at most.
const SPARE_MAX: usize = 16;

static STATE: Mutex<State> = Mutex::new(State {
    device: None,
    next_va: WINDOW_BASE,
    dma: BTreeMap::new(),
    mmio: Vec::new(),
    bounce: BTreeMap::new(),
    spare: Vec::new(),
});

/// Sets the device-memory capability the rest of this module uses.
pub fn init(device: Slot) -> Result<(), String> {
    match sys::cap_info(device) {
        Ok((Some(ipc_abi::cap::ObjectKind::DeviceMemory), _)) => {
            STATE.lock().expect("not poisoned").device = Some(device);
            Ok(())
        }
        other => Err(format!(
            "capability {device} is not device memory (manifest: device-memory): {other:?}"
        )),
    }
}

fn take_va(s: &mut State, pages: u64) -> u64 {
    let va = s.next_va;
    // One guard page between mappings.
    s.next_va += (pages + 1) * PAGE_SIZE;
    va
}

fn dma_alloc_locked(s: &mut State, pages: u64) -> (PhysAddr, u64) {
    let device = s.device.expect("hal::init ran");
    let slot = sys::mem_dma(device, pages).expect("DMA memory");
    let phys = sys::mem_phys(slot).expect("a DMA object has a physical address");
    let va = take_va(s, pages);
    sys::mem_map(slot, va, Rights::READ.union(Rights::WRITE)).expect("map DMA memory");
    s.dma.insert(va, (slot, pages));
    (phys, va)
}

fn dma_free_locked(s: &mut State, va: u64) {
    if let Some((slot, _)) = s.dma.remove(&va) {
        let _ = sys::mem_unmap(va);
        let _ = sys::cap_drop(slot);
    }
}

fn pages_for(len: usize) -> u64 {
    (len as u64).div_ceil(PAGE_SIZE).max(1)
}

pub struct KernelHal;

// SAFETY: DMA memory is zeroed, physically contiguous, mapped here and
// nowhere else in this task until freed; device registers are mapped
// uncached by the kernel; shared buffers are copies in DMA memory that
// live until `unshare`.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let mut s = STATE.lock().expect("not poisoned");
        let (phys, va) = dma_alloc_locked(&mut s, pages as u64);
        (phys, NonNull::new(va as *mut u8).expect("not null"))
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, _pages: usize) -> i32 {
        dma_free_locked(
            &mut STATE.lock().expect("not poisoned"),
            vaddr.as_ptr() as u64,
        );
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        let mut s = STATE.lock().expect("not poisoned");
        let end = paddr + size as u64;
        if let Some(&(phys, _, va)) = s
            .mmio
            .iter()
            .find(|(p, n, _)| *p <= paddr && end <= p + n * PAGE_SIZE)
        {
            return NonNull::new((va + (paddr - phys)) as *mut u8).expect("not null");
        }
        let first = paddr & !(PAGE_SIZE - 1);
        let pages = (end - first).div_ceil(PAGE_SIZE);
        let device = s.device.expect("hal::init ran");
        let slot = sys::mem_device(device, first, pages).expect("device registers");
        let va = take_va(&mut s, pages);
        sys::mem_map(slot, va, Rights::READ.union(Rights::WRITE)).expect("map device registers");
        s.mmio.push((first, pages, va));
        NonNull::new((va + (paddr - first)) as *mut u8).expect("not null")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let len = buffer.len();
        let mut s = STATE.lock().expect("not poisoned");
        let need = pages_for(len);
        let (pages, phys, va) = match s.spare.iter().position(|&(p, _, _)| p >= need) {
            Some(i) => s.spare.swap_remove(i),
            None => {
                let (phys, va) = dma_alloc_locked(&mut s, need);
                (need, phys, va)
            }
        };
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller's buffer is valid for `len` bytes; the
            // bounce buffer was just mapped with at least that many.
            unsafe {
                core::ptr::copy_nonoverlapping(buffer.as_ptr() as *const u8, va as *mut u8, len)
            };
        }
        s.bounce.insert(phys, (va, pages));
        phys
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let mut s = STATE.lock().expect("not poisoned");
        let Some((va, pages)) = s.bounce.remove(&paddr) else {
            return;
        };
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: as in `share`; the device is done with the buffer.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    va as *const u8,
                    buffer.as_ptr() as *mut u8,
                    buffer.len(),
                )
            };
        }
        if s.spare.len() < SPARE_MAX {
            s.spare.push((pages, paddr, va));
        } else {
            dma_free_locked(&mut s, va);
        }
    }
}
