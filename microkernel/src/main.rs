//! The microkernel. Boot order: console, CPU tables, frames, own page
//! tables, own stack, timer, initrd, first task (the supervisor) in ring 3.
//!
//! The kernel runs with interrupts off; user tasks are preempted by the
//! LAPIC timer. Each boot step logs a structured event (`docs/log-format.md`).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod arch;
mod console;
mod linux;
mod mem;
mod object;
mod personality;
mod selftest;
mod state;
mod syscall;
mod task;
mod trap;
mod usercopy;

use ipc_abi::boot::{BOOT_INFO_MAGIC, BOOT_INFO_VERSION, BootInfo};
use ipc_abi::exit::GuestStatus;
use ipc_abi::log::FixedText;
use mem::kernel_space;

/// Entry from the loader, on the loader's stack and page tables.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.entry")]
pub extern "sysv64" fn kernel_entry(info: &'static BootInfo) -> ! {
    let entry_tsc = arch::rdtsc();
    console::init();
    kprintln!("kernel: started");
    kevent!("boot.phase", phase = "kernel.entry", tsc = entry_tsc);
    if info.magic != BOOT_INFO_MAGIC || info.version != BOOT_INFO_VERSION {
        kprintln!(
            "kernel: boot info has the wrong magic or version; loader and kernel do not match"
        );
        kevent!("kernel.error", reason = "bad-boot-info");
        arch::stop(GuestStatus::BadBootInfo);
    }

    arch::gdt::init(arch::trap::syscall_entry_address());
    arch::idt::init();
    arch::enable_sse();
    let extended = arch::enable_extended_state();
    let protect = arch::enable_protections();
    let on_off = |b: bool| if b { "on" } else { "off" };
    kevent!(
        "cpu.protect",
        smep = on_off(protect.smep),
        smap = on_off(protect.smap),
        nx_direct_map = "on"
    );
    kevent!(
        "cpu.fpu",
        save = if extended.avx { "xsave" } else { "fxsave" },
        avx = on_off(extended.avx),
        bytes = extended.bytes
    );

    let stats =
        mem::frames::init(info).unwrap_or_else(|e| fatal(GuestStatus::BadBootInfo, "frames", e));
    kevent!(
        "mem.frames",
        total = stats.total,
        free = stats.free,
        regions = info.memory_map_len
    );
    if let Err(e) = kernel_space::build(info) {
        fatal(
            GuestStatus::OutOfMemory,
            "paging",
            match e {
                mem::paging::MapError::OutOfMemory => {
                    "out of memory building the kernel page tables"
                }
                _ => "conflicting mappings in the kernel page tables",
            },
        );
    }
    let top = kernel_space::stack_top();
    arch::trap::set_kernel_stack(top);
    // SAFETY: `top` is the top of the freshly mapped kernel stack, 16-byte
    // aligned; `kernel_main` never returns, so nothing on the old stack is
    // needed again.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "call {main}",
            "ud2",
            top = in(reg) top,
            main = sym kernel_main,
            in("rdi") info,
            options(noreturn)
        )
    }
}

extern "sysv64" fn kernel_main(info: &'static BootInfo) -> ! {
    let per_tick = arch::apic::init(info.tsc_hz);
    arch::ioapic::init(ipc_abi::syscall::IRQ_LINES as u8);
    selftest::check_timer(info.tsc_hz);
    kevent!(
        "timer",
        hz = arch::apic::TIMER_HZ,
        counts_per_tick = per_tick,
        ticks = arch::apic::ticks(),
        tsc_hz = info.tsc_hz
    );

    selftest::run_from_cmdline(info.cmdline());

    // SAFETY: the loader placed the initrd in memory it reserved for us
    // (kind Initrd), which nothing writes.
    let bytes = unsafe { kernel_space::phys_slice(info.initrd.start, info.initrd.len) };
    let image = initrd::Image::parse(bytes).unwrap_or_else(|e| bad_initrd(&e));
    let manifest = image.manifest().unwrap_or_else(|e| bad_initrd(&e));
    kevent!(
        "initrd.ok",
        bytes = bytes.len(),
        files = image.len(),
        services = manifest.services.len()
    );
    let supervisor = manifest.supervisor().expect("validated by Image::manifest");
    let elf = image
        .find(supervisor.file())
        .expect("validated by Image::manifest");
    start_supervisor(info, &supervisor.name, elf.data)
}

/// Creates the first task with its birth capabilities: slot 0, the initrd
/// (read-only memory object); slot 1, every I/O port; slot 2, every IRQ
/// line (both to narrow and hand out to drivers); slot 3, all device
/// memory (physical addresses up to the CPU's limit; `MemDevice` refuses
/// RAM). Then leaves for ring 3 and never comes back here.
fn start_supervisor(info: &BootInfo, name: &str, elf: &[u8]) -> ! {
    use kerncore::cap::Rights;
    use object::{Object, cap};
    let mut k = state::KERNEL.lock();
    k.set_tsc_hz(info.tsc_hz);
    let serial = k.take_serial();
    let start = task::StartInfo {
        args: &[],
        priority: 2,
        max_priority: ipc_abi::syscall::MAX_PRIORITY as usize,
        kmem_quota: ipc_abi::syscall::SUPERVISOR_KMEM_QUOTA,
        personality: personality::Kind::Native,
        stack_pages: 0,
    };
    let t = task::load(serial, name, elf, &start).unwrap_or_else(|e| {
        let msg = FixedText::<160>::format(format_args!("cannot start the supervisor: {e}"));
        fatal(GuestStatus::BadInitrd, "spawn", msg.as_str())
    });
    let id = k.start_first_task(t);
    let initrd = k.mem_borrow(info.initrd.start, info.initrd.len);
    let birth = [
        cap(Object::Memory(initrd), Rights::READ.union(Rights::GRANT)),
        cap(
            Object::IoPorts {
                base: 0,
                len: 0x1_0000,
            },
            Rights::READ.union(Rights::WRITE).union(Rights::GRANT),
        ),
        cap(
            Object::Irq {
                base: 0,
                len: ipc_abi::syscall::IRQ_LINES as u8,
            },
            Rights::CONTROL.union(Rights::GRANT),
        ),
        cap(
            Object::DeviceMemory {
                base: 0,
                len: arch::physical_address_limit(),
            },
            Rights::READ.union(Rights::WRITE).union(Rights::GRANT),
        ),
    ];
    for c in birth {
        k.grant(id, c).expect("an empty table has room");
    }
    kevent!(
        "task.start",
        id = serial,
        name = name,
        ring = 3u64,
        priority = 2u64
    );
    k.make_ready(id);
    kevent!("boot.phase", phase = "kernel.ready", tsc = arch::rdtsc());
    let state::Next::Run(first) = k.schedule() else {
        unreachable!("the supervisor is ready")
    };
    let frame = k
        .switch_to(first)
        .expect("the supervisor starts at its ELF entry");
    drop(k);
    kevent!("boot.phase", phase = "user.enter", tsc = arch::rdtsc());
    // SAFETY: `frame` is the supervisor's initial ring-3 context, and its
    // address space was loaded by `switch_to`; the kernel stack is the one
    // traps use.
    unsafe { arch::trap::enter_user(frame) }
}

fn bad_initrd(e: &initrd::Error) -> ! {
    let msg = FixedText::<200>::format(format_args!("{e}"));
    kprintln!("kernel: initrd rejected: {}", msg.as_str());
    kevent!(
        "initrd.error",
        msg = msg.as_str(),
        status = GuestStatus::BadInitrd.name()
    );
    arch::stop(GuestStatus::BadInitrd)
}

fn fatal(status: GuestStatus, reason: &str, msg: &str) -> ! {
    kprintln!("kernel: fatal: {msg}");
    kevent!(
        "kernel.error",
        reason = reason,
        msg = msg,
        status = status.name()
    );
    arch::stop(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let msg = FixedText::<200>::format(format_args!("{}", info.message()));
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    kprintln!("\nkernel: panic at {file}:{line}: {}", msg.as_str());
    kevent!(
        "kernel.panic",
        msg = msg.as_str(),
        file = file,
        line = line,
        status = GuestStatus::KernelPanic.name()
    );
    arch::stop(GuestStatus::KernelPanic)
}
