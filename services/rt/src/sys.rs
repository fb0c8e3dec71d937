//! Typed wrappers over the native syscalls of `ipc_abi::syscall`.

use ipc_abi::cap::{ObjectKind, Rights, Slot};
use ipc_abi::ipc::Message;
use ipc_abi::syscall::{SpawnArgs, Sys, SysError, SysErrorOrUnknown, SysInfo, TaskStatus, raw};

pub type SysResult<T> = Result<T, SysErrorOrUnknown>;

/// Shorthand for matching a known error.
pub const fn err(e: SysError) -> SysErrorOrUnknown {
    SysErrorOrUnknown::Known(e)
}

fn call(n: Sys, a0: u64, a1: u64, a2: u64, a3: u64) -> SysResult<u64> {
    // SAFETY: every wrapper below passes pointers to live memory of the
    // size the syscall expects, or none.
    SysError::from_raw(unsafe { raw::syscall4(n as u64, a0, a1, a2, a3) })
}

/// Writes UTF-8 text to the console (at most `CONSOLE_WRITE_MAX` bytes).
pub fn console_write(text: &str) -> SysResult<u64> {
    call(
        Sys::ConsoleWrite,
        text.as_ptr() as u64,
        text.len() as u64,
        0,
        0,
    )
}

/// Logs a structured event (`name key=value ...`).
pub fn log_event(text: &str) -> SysResult<u64> {
    call(Sys::LogEvent, text.as_ptr() as u64, text.len() as u64, 0, 0)
}

pub fn exit(code: u64) -> ! {
    let _ = call(Sys::Exit, code, 0, 0, 0);
    unreachable!("the kernel returned from exit")
}

pub fn yield_now() {
    let _ = call(Sys::Yield, 0, 0, 0, 0);
}

pub fn sleep(ticks: u64) {
    let _ = call(Sys::Sleep, ticks, 0, 0, 0);
}

pub fn cap_derive(slot: Slot, mask: Rights) -> SysResult<Slot> {
    call(Sys::CapDerive, slot, mask.0 as u64, 0, 0)
}

pub fn cap_mint(slot: Slot, badge: u64) -> SysResult<Slot> {
    call(Sys::CapMint, slot, badge, 0, 0)
}

pub fn cap_drop(slot: Slot) -> SysResult<()> {
    call(Sys::CapDrop, slot, 0, 0, 0).map(drop)
}

pub fn cap_info(slot: Slot) -> SysResult<(Option<ObjectKind>, Rights)> {
    call(Sys::CapInfo, slot, 0, 0, 0).map(|v| (ObjectKind::from_raw(v >> 32), Rights(v as u32)))
}

pub fn endpoint_create() -> SysResult<Slot> {
    call(Sys::EndpointCreate, 0, 0, 0, 0)
}

pub fn notification_create() -> SysResult<Slot> {
    call(Sys::NotificationCreate, 0, 0, 0, 0)
}

pub fn signal(slot: Slot, bits: u64) -> SysResult<()> {
    call(Sys::Signal, slot, bits, 0, 0).map(drop)
}

/// Waits for bits; `timeout_ticks` 0 waits forever.
pub fn wait(slot: Slot, timeout_ticks: u64) -> SysResult<u64> {
    call(Sys::Wait, slot, timeout_ticks, 0, 0)
}

#[inline]
pub fn call_raw(ep: Slot, msg: &mut Message) -> SysResult<()> {
    SysError::from_raw(ipc_abi::syscall::call_message(ep, msg)).map(drop)
}

/// What `recv` got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    Message,
    /// The bound notification fired; its bits are in `msg.badge`.
    Notification,
}

fn received(r: SysResult<u64>) -> SysResult<Received> {
    r.map(|v| {
        if v == ipc_abi::syscall::RECV_NOTIFICATION {
            Received::Notification
        } else {
            Received::Message
        }
    })
}

pub fn recv(ep: Slot, msg: &mut Message, timeout_ticks: u64) -> SysResult<Received> {
    received(call(
        Sys::Recv,
        ep,
        msg as *mut Message as u64,
        timeout_ticks,
        0,
    ))
}

pub fn reply(msg: &Message) -> SysResult<()> {
    call(Sys::Reply, msg as *const Message as u64, 0, 0, 0).map(drop)
}

#[inline]
pub fn reply_recv(ep: Slot, msg: &mut Message, timeout_ticks: u64) -> SysResult<Received> {
    received(SysError::from_raw(ipc_abi::syscall::reply_recv_message(
        ep,
        msg,
        timeout_ticks,
    )))
}

pub fn notification_bind(slot: Slot) -> SysResult<()> {
    call(Sys::NotificationBind, slot, 0, 0, 0).map(drop)
}

pub fn mem_create(pages: u64) -> SysResult<Slot> {
    call(Sys::MemCreate, pages, 0, 0, 0)
}

/// Maps a memory object; returns its size in pages.
pub fn mem_map(slot: Slot, vaddr: u64, rights: Rights) -> SysResult<u64> {
    call(Sys::MemMap, slot, vaddr, rights.0 as u64, 0)
}

pub fn mem_unmap(vaddr: u64) -> SysResult<()> {
    call(Sys::MemUnmap, vaddr, 0, 0, 0).map(drop)
}

pub fn task_spawn(args: &SpawnArgs) -> SysResult<Slot> {
    call(Sys::TaskSpawn, args as *const SpawnArgs as u64, 0, 0, 0)
}

pub fn task_grant(task: Slot, slot: Slot) -> SysResult<Slot> {
    call(Sys::TaskGrant, task, slot, 0, 0)
}

pub fn task_start(task: Slot) -> SysResult<()> {
    call(Sys::TaskStart, task, 0, 0, 0).map(drop)
}

pub fn task_kill(task: Slot) -> SysResult<()> {
    call(Sys::TaskKill, task, 0, 0, 0).map(drop)
}

pub fn task_status(task: Slot) -> SysResult<TaskStatus> {
    let mut s = TaskStatus::default();
    call(
        Sys::TaskStatus,
        task,
        &mut s as *mut TaskStatus as u64,
        0,
        0,
    )
    .map(|_| s)
}

pub fn sys_info() -> SysInfo {
    let mut s = SysInfo::default();
    let _ = call(Sys::SysInfo, &mut s as *mut SysInfo as u64, 0, 0, 0);
    s
}

pub fn io_read(slot: Slot, port: u16, width: u64) -> SysResult<u64> {
    call(Sys::IoRead, slot, port as u64, width, 0)
}

pub fn io_write(slot: Slot, port: u16, width: u64, value: u64) -> SysResult<()> {
    call(Sys::IoWrite, slot, port as u64, width, value).map(drop)
}

/// A copy of an I/O-port or IRQ range capability narrowed to
/// `base .. base + len`.
pub fn cap_narrow(slot: Slot, base: u64, len: u64) -> SysResult<Slot> {
    call(Sys::CapNarrow, slot, base, len, 0)
}

/// A memory object over device registers `phys .. phys + pages * 4096`.
pub fn mem_device(device: Slot, phys: u64, pages: u64) -> SysResult<Slot> {
    call(Sys::MemDevice, device, phys, pages, 0)
}

/// Zeroed, physically contiguous memory for DMA.
pub fn mem_dma(device: Slot, pages: u64) -> SysResult<Slot> {
    call(Sys::MemDma, device, pages, 0, 0)
}

/// The physical address of a DMA object.
pub fn mem_phys(slot: Slot) -> SysResult<u64> {
    call(Sys::MemPhys, slot, 0, 0, 0)
}

pub fn irq_bind(irq: Slot, line: u64, notification: Slot, bits: u64) -> SysResult<()> {
    call(Sys::IrqBind, irq, line, notification, bits).map(drop)
}

pub fn irq_ack(irq: Slot, line: u64) -> SysResult<()> {
    call(Sys::IrqAck, irq, line, 0, 0).map(drop)
}

/// Issues an arbitrary syscall: for tests that probe the kernel with bad
/// numbers, pointers and slots.
pub fn raw_call(number: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> SysResult<u64> {
    // SAFETY: the kernel must treat any arguments as untrusted, which is
    // what callers of this function test. A wild pointer that happens to
    // name this task's own writable memory may be written by the kernel;
    // callers only pass such pointers into scratch buffers.
    SysError::from_raw(unsafe { raw::syscall4(number, a0, a1, a2, a3) })
}

/// The privilege level this code runs at (3 in a task).
pub fn current_ring() -> u16 {
    let cs: u16;
    // SAFETY: reading CS has no side effects.
    unsafe { core::arch::asm!("mov {0:x}, cs", out(reg) cs, options(nomem, nostack)) };
    cs & 3
}

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc is allowed in ring 3 (CR4.TSD is clear) and only reads.
    unsafe { core::arch::x86_64::_rdtsc() }
}
