//! Everything that touches x86-64 machine state: descriptor tables, traps,
//! the syscall gate, the local APIC, and the few instructions the rest of
//! the kernel needs. The rest of the kernel is written against these safe
//! wrappers.

pub mod apic;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod trap;

use core::sync::atomic::{AtomicU64, Ordering};
use ipc_abi::exit::{DEBUG_EXIT_PORT, GuestStatus};

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc reads a counter and has no other effect.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// One past the highest physical address the CPU can form
/// (`CPUID.80000008h:EAX[7:0]` bits; 36 where the leaf is missing).
pub fn physical_address_limit() -> u64 {
    let bits = x86::cpuid::CpuId::new()
        .get_processor_capacity_feature_info()
        .map_or(36, |c| c.physical_address_bits())
        .clamp(32, 52);
    1 << bits
}

pub fn read_cr2() -> u64 {
    // SAFETY: reading CR2 has no side effects; the kernel runs in ring 0.
    unsafe { x86::controlregs::cr2() as u64 }
}

/// Loads an address space.
///
/// # Safety
/// `pml4` must be a valid top-level table that maps the kernel exactly as
/// the current one does (higher half), or the next instruction faults.
pub unsafe fn load_cr3(pml4: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { x86::controlregs::cr3_write(pml4) };
}

/// Enables SSE for user code and the kernel's own (soft-float) build:
/// CR0.MP on, CR0.EM off, CR4.OSFXSR and OSXMMEXCPT on.
pub fn enable_sse() {
    use x86::controlregs::{Cr0, Cr4, cr0, cr0_write, cr4, cr4_write};
    // SAFETY: these bits only permit SSE instructions; the CPU supports SSE2
    // (part of x86-64).
    unsafe {
        cr0_write((cr0() | Cr0::CR0_MONITOR_COPROCESSOR) - Cr0::CR0_EMULATE_COPROCESSOR);
        cr4_write(cr4() | Cr4::CR4_ENABLE_SSE | Cr4::CR4_UNMASKED_SSE);
    }
}

/// Which of the CPU's kernel-protection features are on.
#[derive(Clone, Copy, Debug)]
pub struct Protections {
    pub smep: bool,
    pub smap: bool,
}

/// Turns on SMEP (ring 0 never executes user pages) and SMAP (ring 0 never
/// reads or writes user pages) where the CPU has them. The kernel reaches
/// user memory only through the direct map (`usercopy`), never through a
/// user address, so SMAP never needs to be opened with `stac`.
pub fn enable_protections() -> Protections {
    use x86::controlregs::{Cr4, cr4, cr4_write};
    let features = x86::cpuid::CpuId::new().get_extended_feature_info();
    let smep = features.as_ref().is_some_and(|f| f.has_smep());
    let smap = features.as_ref().is_some_and(|f| f.has_smap());
    let mut bits = Cr4::empty();
    if smep {
        bits |= Cr4::CR4_ENABLE_SMEP;
    }
    if smap {
        bits |= Cr4::CR4_ENABLE_SMAP;
    }
    // SAFETY: both bits only add checks to ring-0 accesses of user pages,
    // which the kernel never makes; each is set only if CPUID reports it.
    unsafe { cr4_write(cr4() | bits) };
    Protections { smep, smap }
}

/// Sets the FS segment base (a Linux task's thread pointer).
pub fn set_fs_base(value: u64) {
    // SAFETY: FS is not used by the kernel; any value is allowed in the
    // MSR as long as it is canonical, which the caller checks.
    unsafe { x86::msr::wrmsr(x86::msr::IA32_FS_BASE, value) };
}

/// The bytes of a task's saved FPU/SSE/AVX state: room for the `xsave`
/// standard form of x87, SSE and AVX state (832 bytes on every CPU that
/// has them); `enable_extended_state` checks the CPU's own figure.
pub const FPU_AREA_BYTES: usize = 1024;

/// The state components `xsave` saves per task (XCR0's bits), or 0 where
/// tasks' state is saved with `fxsave` (x87 and SSE only). Set once at
/// boot, before any task runs.
static XSAVE_MASK: AtomicU64 = AtomicU64::new(0);

/// What `enable_extended_state` turned on.
#[derive(Clone, Copy, Debug)]
pub struct ExtendedState {
    /// Tasks may use AVX (and AVX2, FMA... where CPUID has them): their
    /// YMM registers are saved and restored with `xsave`/`xrstor`.
    pub avx: bool,
    /// The size of the saved state the CPU reports (512 with `fxsave`).
    pub bytes: u32,
}

/// Lets tasks use AVX where the CPU has it: CR4.OSXSAVE on and XCR0 =
/// x87 | SSE | AVX, tasks' state saved with `xsave`. Without XSAVE or AVX
/// (or if the CPU's save area would not fit a task's), nothing changes:
/// `fxsave`, and AVX instructions fault in ring 3 as CPUID's OSXSAVE bit
/// (clear) tells programs beforehand. AVX-512 state is never enabled.
pub fn enable_extended_state() -> ExtendedState {
    use x86::controlregs::{Cr4, Xcr0, cr4, cr4_write, xcr0_write};
    let cpuid = x86::cpuid::CpuId::new();
    let features = cpuid.get_feature_info();
    let has = features
        .as_ref()
        .is_some_and(|f| f.has_xsave() && f.has_avx());
    let baseline = ExtendedState {
        avx: false,
        bytes: 512,
    };
    if !has {
        return baseline;
    }
    let mask = Xcr0::XCR0_FPU_MMX_STATE | Xcr0::XCR0_SSE_STATE | Xcr0::XCR0_AVX_STATE;
    // SAFETY: CPUID reports XSAVE (so CR4.OSXSAVE and XSETBV exist) and
    // AVX (so XCR0's AVX bit is valid, with the x87 and SSE bits it
    // requires); no task runs yet, and the kernel itself uses no vector
    // registers (soft-float build).
    unsafe {
        cr4_write(cr4() | Cr4::CR4_ENABLE_OS_XSAVE);
        xcr0_write(mask);
    }
    let bytes = cpuid
        .get_extended_state_info()
        .map_or(u32::MAX, |i| i.xsave_area_size_enabled_features());
    if bytes as usize > FPU_AREA_BYTES {
        // SAFETY: back to the state before (XCR0 x87 | SSE is always
        // valid); still no task runs.
        unsafe {
            xcr0_write(Xcr0::XCR0_FPU_MMX_STATE | Xcr0::XCR0_SSE_STATE);
            cr4_write(cr4() - Cr4::CR4_ENABLE_OS_XSAVE);
        }
        return baseline;
    }
    XSAVE_MASK.store(mask.bits(), Ordering::Relaxed);
    ExtendedState { avx: true, bytes }
}

/// Saves the FPU/SSE(/AVX) state into a task's area (64-byte aligned:
/// `FpuState` is `align(64)`).
pub fn fpu_save(area: &mut [u8; FPU_AREA_BYTES]) {
    debug_assert_eq!(area.as_ptr() as usize % 64, 0);
    let mask = XSAVE_MASK.load(Ordering::Relaxed);
    if mask == 0 {
        // SAFETY: `area` holds the 512 writable, 16-byte-aligned bytes
        // fxsave64 writes.
        unsafe { core::arch::asm!("fxsave64 [{0}]", in(reg) area.as_mut_ptr(), options(nostack)) };
    } else {
        // SAFETY: XSAVE is enabled (the mask is set only then); `area` is
        // 64-byte aligned and at least the size CPUID gave for these
        // components (`enable_extended_state`).
        unsafe {
            core::arch::asm!(
                "xsave64 [{0}]",
                in(reg) area.as_mut_ptr(),
                in("eax") mask as u32,
                in("edx") (mask >> 32) as u32,
                options(nostack)
            )
        };
    }
}

/// Loads a task's FPU/SSE(/AVX) state.
pub fn fpu_restore(area: &[u8; FPU_AREA_BYTES]) {
    let mask = XSAVE_MASK.load(Ordering::Relaxed);
    if mask == 0 {
        // SAFETY: as for `fpu_save`; the area holds a state saved by
        // fxsave64 or the valid initial image of `FpuState::initial`.
        unsafe { core::arch::asm!("fxrstor64 [{0}]", in(reg) area.as_ptr(), options(nostack)) };
    } else {
        // SAFETY: as for `fpu_save`; the area holds a state saved by
        // xsave64 with the same mask or `FpuState::initial`'s image (an
        // all-zero header: every component in its initial state, MXCSR
        // from the legacy area).
        unsafe {
            core::arch::asm!(
                "xrstor64 [{0}]",
                in(reg) area.as_ptr(),
                in("eax") mask as u32,
                in("edx") (mask >> 32) as u32,
                options(nostack)
            )
        };
    }
}

/// Stops the machine: QEMU exits with `status` through `isa-debug-exit`;
/// without that device the CPU halts for good.
pub fn stop(status: GuestStatus) -> ! {
    // SAFETY: the debug-exit port is write-only and harmless where absent.
    unsafe { x86::io::outl(DEBUG_EXIT_PORT, status.port_value()) };
    loop {
        // SAFETY: interrupts off and halt: the intended end state.
        unsafe { core::arch::asm!("cli; hlt") };
    }
}

/// Waits for the next interrupt with interrupts enabled for that moment
/// only. Used while the kernel waits for the timer at boot.
pub fn wait_for_interrupt() {
    // SAFETY: `sti; hlt` is the idiom that cannot miss a wake-up; the IDT
    // is installed before anyone calls this, and `cli` restores the
    // kernel's interrupts-off rule.
    unsafe { core::arch::asm!("sti; hlt; cli") };
}
