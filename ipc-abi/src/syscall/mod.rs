//! Native syscalls: numbers, error codes and the raw `syscall` wrappers.
//!
//! Calling convention (like Linux so that compilers' habits carry over):
//! number in `rax`; arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`;
//! result in `rax`; `rcx` and `r11` are clobbered by the instruction itself.
//! A result in `-4095..=-1` is `-(error code)`, anything else is success.
//!
//! Native numbers start at [`NATIVE_BASE`], far above every Linux x86-64
//! syscall number, so a native task that issues a Linux number gets
//! [`SysError::NoSuchSyscall`] instead of a Linux meaning.

mod request;
pub use request::{IoWidth, Request, Slot, Ticks, UserBuf};

/// First native syscall number.
pub const NATIVE_BASE: u64 = 0x1000;

/// Native syscall numbers. Arguments are listed in register order
/// (`rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`); "slot" is a capability slot of
/// the caller; `docs/abi.md` gives every error each can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Sys {
    /// `(ptr, len) -> len`: UTF-8 text to the console, tagged with the
    /// task's name; at most [`CONSOLE_WRITE_MAX`] bytes.
    ConsoleWrite = NATIVE_BASE,
    /// `(code) -> !`
    Exit = NATIVE_BASE + 1,
    /// `() -> 0`: gives up the rest of the time slice.
    Yield = NATIVE_BASE + 2,
    /// `(ptr, len) -> 0`: logs a structured event (`name key=value ...`,
    /// checked by the kernel), printed with `from=<task name>`.
    LogEvent = NATIVE_BASE + 3,
    /// `(ticks) -> 0`: sleeps at least `ticks` timer ticks.
    Sleep = NATIVE_BASE + 4,
    /// `(slot, rights_mask) -> new slot`: copy with rights ∩ mask.
    CapDerive = NATIVE_BASE + 5,
    /// `(slot, badge) -> new slot`: copy of an unbadged endpoint
    /// capability carrying `badge`.
    CapMint = NATIVE_BASE + 6,
    /// `(slot) -> 0`
    CapDrop = NATIVE_BASE + 7,
    /// `(slot) -> kind << 32 | rights` (see [`crate::cap::ObjectKind`]).
    CapInfo = NATIVE_BASE + 8,
    /// `() -> slot` (all rights).
    EndpointCreate = NATIVE_BASE + 9,
    /// `() -> slot` (all rights).
    NotificationCreate = NATIVE_BASE + 10,
    /// `(slot, bits) -> 0`: ORs `bits` into the notification (SIGNAL).
    Signal = NATIVE_BASE + 11,
    /// `(slot, timeout_ticks) -> bits`: waits until any bit is set, takes
    /// and clears them (WAIT); timeout 0 waits forever.
    Wait = NATIVE_BASE + 12,
    /// `(slot, msg_ptr) -> 0`: sends the [`crate::ipc::Message`] at
    /// `msg_ptr` (SEND; GRANT to pass capabilities) and waits for the reply,
    /// which overwrites it.
    Call = NATIVE_BASE + 13,
    /// `(slot, msg_ptr, timeout_ticks) -> RECV_MESSAGE | RECV_NOTIFICATION`:
    /// waits for a call on the endpoint (RECV), or for the task's bound
    /// notification (its bits land in `badge`).
    Recv = NATIVE_BASE + 14,
    /// `(msg_ptr) -> 0`: answers the call last received.
    Reply = NATIVE_BASE + 15,
    /// `(slot, msg_ptr, timeout_ticks) -> as Recv`: `Reply` then `Recv`.
    ReplyRecv = NATIVE_BASE + 16,
    /// `(slot) -> 0`: binds a notification (WAIT) to the caller, so that
    /// `Recv` also returns for it.
    NotificationBind = NATIVE_BASE + 17,
    /// `(pages) -> slot`: a new zeroed memory object (all rights).
    MemCreate = NATIVE_BASE + 18,
    /// `(slot, vaddr, rights) -> pages`: maps the whole object at `vaddr` with
    /// READ, READ|WRITE or READ|EXEC (needs those rights on the cap).
    /// Never writable and executable in one address space, not even through
    /// two mappings of one object.
    MemMap = NATIVE_BASE + 19,
    /// `(vaddr) -> 0`: removes the mapping that starts at `vaddr`.
    MemUnmap = NATIVE_BASE + 20,
    /// `(args_ptr) -> task slot`: loads an ELF from a memory object into a
    /// new, not yet running task (see [`SpawnArgs`]).
    TaskSpawn = NATIVE_BASE + 21,
    /// `(task slot, slot) -> slot in the child`: copies a capability (GRANT)
    /// into a task that has not started.
    TaskGrant = NATIVE_BASE + 22,
    /// `(task slot) -> 0` (CONTROL)
    TaskStart = NATIVE_BASE + 23,
    /// `(task slot) -> 0` (CONTROL): kills the task.
    TaskKill = NATIVE_BASE + 24,
    /// `(task slot, out_ptr) -> 0` (CONTROL): writes a [`TaskStatus`].
    TaskStatus = NATIVE_BASE + 25,
    /// `(out_ptr) -> 0`: writes a [`SysInfo`].
    SysInfo = NATIVE_BASE + 26,
    /// `(slot, port, width) -> value`: reads an I/O port inside the range
    /// the capability grants (READ); width 1, 2 or 4.
    IoRead = NATIVE_BASE + 27,
    /// `(slot, port, width, value) -> 0` (WRITE).
    IoWrite = NATIVE_BASE + 28,
    /// `(slot, base, len) -> new slot`: a copy of an I/O-port or IRQ-line
    /// range capability narrowed to `base .. base + len` (inside the
    /// original).
    CapNarrow = NATIVE_BASE + 29,
    /// `(irq slot, line, notification slot, bits) -> 0`: routes IRQ `line`
    /// (inside the capability's range) to the notification (SIGNAL) and
    /// unmasks it. The line is masked again each time it fires.
    IrqBind = NATIVE_BASE + 30,
    /// `(irq slot, line) -> 0`: unmasks the line after handling.
    IrqAck = NATIVE_BASE + 31,
    /// `(device slot, phys, pages) -> memory slot`: a memory object over
    /// device memory (a PCI BAR) `phys .. phys + pages * 4096`, inside the
    /// device-memory capability's range and outside every RAM region of
    /// the boot memory map. Mapped uncached; READ and WRITE as the device
    /// capability has them (plus GRANT), never EXEC.
    MemDevice = NATIVE_BASE + 32,
    /// `(device slot, pages) -> memory slot`: zeroed, physically
    /// contiguous memory for a device to reach by DMA (at most
    /// [`MAX_DMA_PAGES`]); the caller must hold a device-memory
    /// capability. Never mapped executable.
    MemDma = NATIVE_BASE + 33,
    /// `(memory slot) -> phys`: the physical address of a DMA object
    /// (READ); `InvalidArgument` for any other memory.
    MemPhys = NATIVE_BASE + 34,
    /// `(slot, msg_ptr, len, w0, w1, w2) -> 0 | REPLY_IN_REGISTERS`: `Call`
    /// with a short message (at most [`SHORT_MESSAGE_BYTES`], no
    /// capabilities) given in registers as well as in the buffer: its
    /// length and payload as three little-endian words. The kernel's IPC
    /// fast path reads the registers, its general path the buffer (so the
    /// two must agree). A short reply may come back in registers
    /// (`REPLY_IN_REGISTERS`: length in `rdx`, words in `r10`, `r8`, `r9`),
    /// else it overwrites the buffer as for `Call`.
    /// [`call_message`] is the wrapper.
    CallShort = NATIVE_BASE + 35,
    /// `(slot, msg_ptr, len, w0, w1, w2) -> as Recv | RECV_IN_REGISTERS`:
    /// `ReplyRecv` without a timeout, with a short reply given in
    /// registers as well as in the buffer (as for `CallShort`). The next
    /// message may arrive in registers (`RECV_IN_REGISTERS`: badge in
    /// `rsi`, length in `rdx`, words in `r10`, `r8`, `r9`), else in the
    /// buffer. [`reply_recv_message`] is the wrapper.
    ReplyRecvShort = NATIVE_BASE + 36,
}

impl Sys {
    pub const ALL: [Sys; 37] = [
        Sys::ConsoleWrite,
        Sys::Exit,
        Sys::Yield,
        Sys::LogEvent,
        Sys::Sleep,
        Sys::CapDerive,
        Sys::CapMint,
        Sys::CapDrop,
        Sys::CapInfo,
        Sys::EndpointCreate,
        Sys::NotificationCreate,
        Sys::Signal,
        Sys::Wait,
        Sys::Call,
        Sys::Recv,
        Sys::Reply,
        Sys::ReplyRecv,
        Sys::NotificationBind,
        Sys::MemCreate,
        Sys::MemMap,
        Sys::MemUnmap,
        Sys::TaskSpawn,
        Sys::TaskGrant,
        Sys::TaskStart,
        Sys::TaskKill,
        Sys::TaskStatus,
        Sys::SysInfo,
        Sys::IoRead,
        Sys::IoWrite,
        Sys::CapNarrow,
        Sys::IrqBind,
        Sys::IrqAck,
        Sys::MemDevice,
        Sys::MemDma,
        Sys::MemPhys,
        Sys::CallShort,
        Sys::ReplyRecvShort,
    ];

    pub fn from_number(n: u64) -> Option<Sys> {
        let i = n.checked_sub(NATIVE_BASE)?;
        Self::ALL.get(usize::try_from(i).ok()?).copied()
    }
}

/// IRQ lines the kernel routes (the I/O APIC's 24 inputs).
pub const IRQ_LINES: u64 = 24;

/// Largest `console_write` (and `log_event`) in one call.
pub const CONSOLE_WRITE_MAX: usize = 4096;

/// `Recv` results.
pub const RECV_MESSAGE: u64 = 0;
pub const RECV_NOTIFICATION: u64 = 1;
/// `ReplyRecvShort`: the message is in registers, not in the buffer.
pub const RECV_IN_REGISTERS: u64 = 2;
/// `CallShort`: the reply is in registers, not in the buffer.
pub const REPLY_IN_REGISTERS: u64 = 1;
/// The most payload a message in registers carries (three words).
pub const SHORT_MESSAGE_BYTES: usize = 24;

mod short;
pub use short::{call_message, reply_recv_message};

/// `Sleep`/`Wait`/`Recv` timeouts count timer ticks of this length.
pub const TICK_MS: u64 = 10;
/// Largest object one `MemCreate` makes (256 MiB).
pub const MAX_OBJECT_PAGES: u64 = 65536;

/// Largest object one `MemDma` makes (1 MiB: a driver's queues and
/// bounce buffers, not bulk memory).
pub const MAX_DMA_PAGES: u64 = 256;

/// Timer ticks per second (the kernel programs its timer at this rate).
pub const TICK_HZ: u64 = 1000 / TICK_MS;
const _: () = assert!(1000 % TICK_MS == 0);

/// Errors a syscall can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum SysError {
    /// The number names no syscall this task may use.
    NoSuchSyscall = 1,
    /// A pointer argument is null, not user memory, not mapped, or not
    /// mapped with the access the call needs.
    BadAddress = 2,
    /// A length, flag or other argument is out of range.
    InvalidArgument = 3,
    /// Bytes that must be UTF-8 are not.
    NotUtf8 = 4,
    /// The slot is out of range or empty (never filled, or dropped).
    InvalidCap = 5,
    /// The capability names another kind of object than the call needs.
    WrongKind = 6,
    /// The capability lacks a right the call needs.
    MissingRights = 7,
    /// The capability table is full.
    TableFull = 8,
    OutOfMemory = 9,
    /// The other side of an IPC died (or can no longer answer).
    PeerDied = 10,
    TimedOut = 11,
    /// `Reply` with no call to answer.
    NoReplyPending = 12,
    /// The mapping would make memory writable and executable in one
    /// address space.
    WritableAndExecutable = 13,
    /// The range is already mapped, or not mapped (for unmap).
    MappingConflict = 14,
    /// A message longer than [`crate::ipc::MSG_MAX_BYTES`] or with more than
    /// [`crate::ipc::MSG_MAX_CAPS`] capabilities.
    MessageTooLong = 15,
    /// The image is not a loadable static ELF executable.
    BadImage = 16,
    /// The task has already started (grant/start) or is dead.
    BadTaskState = 17,
    AlreadyBadged = 18,
    /// The server received the call and will never answer it: it died, or
    /// received another call first. Unlike `PeerDied` (nobody received
    /// it), the request itself may be what ended the server.
    Unanswered = 19,
}

impl SysError {
    pub const ALL: [SysError; 19] = [
        SysError::NoSuchSyscall,
        SysError::BadAddress,
        SysError::InvalidArgument,
        SysError::NotUtf8,
        SysError::InvalidCap,
        SysError::WrongKind,
        SysError::MissingRights,
        SysError::TableFull,
        SysError::OutOfMemory,
        SysError::PeerDied,
        SysError::TimedOut,
        SysError::NoReplyPending,
        SysError::WritableAndExecutable,
        SysError::MappingConflict,
        SysError::MessageTooLong,
        SysError::BadImage,
        SysError::BadTaskState,
        SysError::AlreadyBadged,
        SysError::Unanswered,
    ];

    /// The value returned in `rax`.
    pub const fn to_raw(self) -> u64 {
        (self as u64).wrapping_neg()
    }

    /// Decodes a raw result.
    #[inline]
    pub fn from_raw(raw: u64) -> Result<u64, SysErrorOrUnknown> {
        let as_signed = raw as i64;
        if (-4095..0).contains(&as_signed) {
            let code = as_signed.unsigned_abs();
            match Self::ALL.into_iter().find(|e| *e as u64 == code) {
                Some(e) => Err(SysErrorOrUnknown::Known(e)),
                None => Err(SysErrorOrUnknown::Unknown(code)),
            }
        } else {
            Ok(raw)
        }
    }
}

/// Arguments of [`Sys::TaskSpawn`].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SpawnArgs {
    /// Memory object (READ) holding the ELF file.
    pub image_slot: u64,
    /// Byte range of the ELF inside the object.
    pub image_offset: u64,
    pub image_len: u64,
    /// Task name (UTF-8, at most 32 bytes).
    pub name_ptr: u64,
    pub name_len: u64,
    /// Arguments, NUL-separated, copied to the child's stack (at most
    /// [`SPAWN_ARGS_MAX`] bytes); the child gets pointer and length in
    /// `rdi` and `rsi`.
    pub args_ptr: u64,
    pub args_len: u64,
    /// Notification (SIGNAL) signalled with `death_bits` when the task dies;
    /// [`NO_SLOT`] for none.
    pub death_slot: u64,
    pub death_bits: u64,
    /// 0 (lowest) to [`MAX_PRIORITY`].
    pub priority: u64,
    /// [`SPAWN_LINUX`] for the Linux personality.
    pub flags: u64,
    /// Stack size in pages; 0 for [`crate::layout::USER_STACK_PAGES`]; at
    /// most [`MAX_STACK_PAGES`].
    pub stack_pages: u64,
}

/// [`SpawnArgs::flags`]: run the task with the Linux-ABI personality: Linux
/// syscall numbers (below [`NATIVE_BASE`]) go to the personality, and the
/// stack starts with argc, argv, envp and the auxiliary vector.
pub const SPAWN_LINUX: u64 = 1;
/// Largest stack a spawn can ask for (8 MiB, like Linux's default limit).
pub const MAX_STACK_PAGES: u64 = 2048;

pub const NO_SLOT: u64 = u64::MAX;
pub const SPAWN_ARGS_MAX: usize = 1024;
pub const TASK_NAME_MAX: usize = 32;
pub const MAX_PRIORITY: u64 = 3;

/// Memory-object mappings one task may hold at once.
pub const MAX_MAPPINGS: usize = 128;
/// Tasks the kernel keeps at once (running, not started, or dead but still
/// named by a capability). A spawn beyond it is `OutOfMemory`.
pub const MAX_TASKS: usize = 256;
/// Kernel heap one task may make the kernel hold for it: the objects it
/// creates (endpoints, notifications, memory objects' frame lists) and the
/// tasks it spawns. Past it, the call that asked gets `OutOfMemory`.
pub const TASK_KMEM_QUOTA: u64 = 2 << 20;
/// The first task's quota: it spawns every service.
pub const SUPERVISOR_KMEM_QUOTA: u64 = 4 << 20;

/// [`TaskStatus::state`] values.
pub const TASK_NOT_STARTED: u64 = 0;
pub const TASK_ALIVE: u64 = 1;
pub const TASK_DEAD: u64 = 2;

/// [`TaskStatus::exit_kind`] values.
pub const EXIT_CODE: u64 = 1;
pub const EXIT_FAULT: u64 = 2;
pub const EXIT_KILLED: u64 = 3;
/// Killed by a signal (Linux personality: `kill`/`tgkill` of itself, as
/// `abort()` does); `code` is the signal number.
pub const EXIT_SIGNAL: u64 = 4;

/// Written by [`Sys::TaskStatus`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TaskStatus {
    pub state: u64,
    /// For dead tasks: how it ended, and the exit code or fault details.
    pub exit_kind: u64,
    pub code: u64,
    pub vector: u64,
    pub fault_addr: u64,
    pub fault_rip: u64,
    /// Timer ticks the task has run since it last blocked or yielded: a
    /// spinning task's count keeps growing.
    pub running_ticks: u64,
}

/// Written by [`Sys::SysInfo`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SysInfo {
    pub frames_free: u64,
    pub frames_total: u64,
    pub ticks: u64,
    pub tsc_hz: u64,
    pub tasks: u64,
    /// Kernel heap bytes held for live objects (the object tables' spare
    /// room left out), and bytes free.
    pub heap_used: u64,
    pub heap_free: u64,
    /// IPC syscalls (`Call`, `ReplyRecv`) the kernel's fast path took
    /// since boot (the rest took the general path; see docs/abi.md).
    pub ipc_fast_path: u64,
    /// Of those, the messages that reached their receiver in registers
    /// (`CallShort` and `ReplyRecvShort` on both sides).
    pub ipc_in_registers: u64,
    /// Queries (`CapInfo`) the kernel's query fast path answered since
    /// boot (see docs/abi.md).
    pub query_fast_path: u64,
}

const _: () = assert!(core::mem::size_of::<SysInfo>() == 80);
const _: () = assert!(core::mem::offset_of!(SysInfo, query_fast_path) == 72);
const _: () = assert!(core::mem::offset_of!(SysInfo, ipc_fast_path) == 56);
const _: () = assert!(core::mem::offset_of!(SysInfo, heap_used) == 40);
const _: () = assert!(core::mem::size_of::<TaskStatus>() == 56);
const _: () = assert!(core::mem::size_of::<SpawnArgs>() == 96);

/// A decoded error result, including codes this build does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysErrorOrUnknown {
    Known(SysError),
    Unknown(u64),
}

/// Raw syscall wrappers. Safe to call in the sense of memory safety only when
/// the arguments satisfy the named syscall's contract; the typed wrappers in
/// the services' runtime crate are the intended users.
#[cfg(target_arch = "x86_64")]
pub mod raw {
    use core::arch::asm;

    /// # Safety
    /// The syscall's contract must hold for the arguments (pointers valid for
    /// the access it makes).
    #[inline(always)]
    pub unsafe fn syscall4(n: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
        let ret: u64;
        // SAFETY: `syscall` only transfers to the kernel; the caller vouches
        // for the arguments, and rcx/r11 are declared clobbered.
        unsafe {
            asm!("syscall", inlateout("rax") n => ret, in("rdi") a0, in("rsi") a1,
                 in("rdx") a2, in("r10") a3,
                 lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }

    /// # Safety
    /// As for [`syscall4`].
    #[inline(always)]
    pub unsafe fn syscall3(n: u64, a0: u64, a1: u64, a2: u64) -> u64 {
        // SAFETY: forwarded contract.
        unsafe { syscall4(n, a0, a1, a2, 0) }
    }

    /// # Safety
    /// As for [`syscall4`].
    #[inline(always)]
    pub unsafe fn syscall2(n: u64, a0: u64, a1: u64) -> u64 {
        // SAFETY: forwarded contract.
        unsafe { syscall4(n, a0, a1, 0, 0) }
    }

    /// # Safety
    /// As for [`syscall4`].
    #[inline(always)]
    pub unsafe fn syscall1(n: u64, a0: u64) -> u64 {
        // SAFETY: forwarded contract.
        unsafe { syscall2(n, a0, 0) }
    }

    /// # Safety
    /// As for [`syscall4`].
    #[inline(always)]
    pub unsafe fn syscall0(n: u64) -> u64 {
        // SAFETY: forwarded contract.
        unsafe { syscall2(n, 0, 0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_raw_results() {
        for e in SysError::ALL {
            assert_eq!(
                SysError::from_raw(e.to_raw()),
                Err(SysErrorOrUnknown::Known(e))
            );
        }
        assert_eq!(SysError::from_raw(0), Ok(0));
        assert_eq!(SysError::from_raw(4096), Ok(4096));
        assert_eq!(
            SysError::from_raw(77u64.wrapping_neg()),
            Err(SysErrorOrUnknown::Unknown(77))
        );
        // An address in the higher half is a success value, not an error.
        assert_eq!(
            SysError::from_raw(0xffff_8000_0000_0000),
            Ok(0xffff_8000_0000_0000)
        );
    }

    #[test]
    fn native_numbers_are_above_linux_numbers() {
        for s in Sys::ALL {
            assert!(s as u64 >= NATIVE_BASE);
            assert_eq!(Sys::from_number(s as u64), Some(s));
        }
        assert_eq!(Sys::from_number(1), None, "Linux write must not be native");
        assert_eq!(Sys::from_number(NATIVE_BASE + Sys::ALL.len() as u64), None);
        for (i, s) in Sys::ALL.iter().enumerate() {
            assert_eq!(*s as u64, NATIVE_BASE + i as u64, "ALL is in number order");
        }
    }
}
