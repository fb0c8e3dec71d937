//! A native syscall decoded from its registers into typed arguments. The
//! kernel decodes once, at its dispatch, and its handlers never see a raw
//! register: a value that cannot be what its argument is (a rights mask
//! wider than 32 bits, an I/O width other than 1, 2 or 4, an IRQ line
//! past the last) is refused here with `InvalidArgument`. Pointers and
//! lengths stay numbers: whether they name user memory the caller may
//! touch is the kernel's to check, with its address-space types.

use super::{IRQ_LINES, Sys, SysError};
use crate::cap::Rights;

/// A capability slot of the caller (checked against its table later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(pub u64);

/// `len` bytes of the caller's memory at `ptr` (not yet checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserBuf {
    pub ptr: u64,
    pub len: u64,
}

/// The width of a port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoWidth {
    Byte = 1,
    Word = 2,
    Dword = 4,
}

impl IoWidth {
    fn decode(v: u64) -> Result<IoWidth, SysError> {
        match v {
            1 => Ok(IoWidth::Byte),
            2 => Ok(IoWidth::Word),
            4 => Ok(IoWidth::Dword),
            _ => Err(SysError::InvalidArgument),
        }
    }

    pub fn bytes(self) -> u64 {
        self as u64
    }
}

/// Timer ticks to wait; 0 waits forever where a timeout is asked for.
pub type Ticks = u64;

/// Every native syscall with its arguments (register order as in [`Sys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    ConsoleWrite {
        text: UserBuf,
    },
    Exit {
        code: u64,
    },
    Yield,
    LogEvent {
        text: UserBuf,
    },
    Sleep {
        ticks: Ticks,
    },
    CapDerive {
        slot: Slot,
        mask: Rights,
    },
    CapMint {
        slot: Slot,
        badge: u64,
    },
    CapDrop {
        slot: Slot,
    },
    CapInfo {
        slot: Slot,
    },
    EndpointCreate,
    NotificationCreate,
    Signal {
        slot: Slot,
        bits: u64,
    },
    Wait {
        slot: Slot,
        timeout: Ticks,
    },
    Call {
        slot: Slot,
        msg: u64,
    },
    Recv {
        slot: Slot,
        msg: u64,
        timeout: Ticks,
    },
    Reply {
        msg: u64,
    },
    ReplyRecv {
        slot: Slot,
        msg: u64,
        timeout: Ticks,
    },
    /// `Call` whose message is also in registers (the general path reads
    /// the buffer and ignores them).
    CallShort {
        slot: Slot,
        msg: u64,
    },
    /// `ReplyRecv` without a timeout whose reply is also in registers.
    ReplyRecvShort {
        slot: Slot,
        msg: u64,
    },
    NotificationBind {
        slot: Slot,
    },
    MemCreate {
        pages: u64,
    },
    MemMap {
        slot: Slot,
        vaddr: u64,
        rights: Rights,
    },
    MemUnmap {
        vaddr: u64,
    },
    TaskSpawn {
        args: u64,
    },
    TaskGrant {
        task: Slot,
        slot: Slot,
    },
    TaskStart {
        task: Slot,
    },
    TaskKill {
        task: Slot,
    },
    TaskStatus {
        task: Slot,
        out: u64,
    },
    SysInfo {
        out: u64,
    },
    IoRead {
        slot: Slot,
        port: u64,
        width: IoWidth,
    },
    IoWrite {
        slot: Slot,
        port: u64,
        width: IoWidth,
        value: u64,
    },
    CapNarrow {
        slot: Slot,
        base: u64,
        len: u64,
    },
    IrqBind {
        slot: Slot,
        line: u8,
        notification: Slot,
        bits: u64,
    },
    IrqAck {
        slot: Slot,
        line: u8,
    },
    MemDevice {
        slot: Slot,
        phys: u64,
        pages: u64,
    },
    MemDma {
        slot: Slot,
        pages: u64,
    },
    MemPhys {
        slot: Slot,
    },
}

fn rights(v: u64) -> Result<Rights, SysError> {
    u32::try_from(v)
        .map(Rights)
        .map_err(|_| SysError::InvalidArgument)
}

fn irq_line(v: u64) -> Result<u8, SysError> {
    if v < IRQ_LINES {
        Ok(v as u8)
    } else {
        Err(SysError::InvalidArgument)
    }
}

impl Request {
    /// Decodes syscall `number` with arguments `a` (`rdi`, `rsi`, `rdx`,
    /// `r10`, `r8`, `r9`).
    pub fn decode(number: u64, a: [u64; 6]) -> Result<Request, SysError> {
        use Request as R;
        let sys = Sys::from_number(number).ok_or(SysError::NoSuchSyscall)?;
        let buf = |ptr, len| UserBuf { ptr, len };
        Ok(match sys {
            Sys::ConsoleWrite => R::ConsoleWrite {
                text: buf(a[0], a[1]),
            },
            Sys::Exit => R::Exit { code: a[0] },
            Sys::Yield => R::Yield,
            Sys::LogEvent => R::LogEvent {
                text: buf(a[0], a[1]),
            },
            Sys::Sleep => R::Sleep { ticks: a[0] },
            Sys::CapDerive => R::CapDerive {
                slot: Slot(a[0]),
                mask: rights(a[1])?,
            },
            Sys::CapMint => R::CapMint {
                slot: Slot(a[0]),
                badge: a[1],
            },
            Sys::CapDrop => R::CapDrop { slot: Slot(a[0]) },
            Sys::CapInfo => R::CapInfo { slot: Slot(a[0]) },
            Sys::EndpointCreate => R::EndpointCreate,
            Sys::NotificationCreate => R::NotificationCreate,
            Sys::Signal => R::Signal {
                slot: Slot(a[0]),
                bits: a[1],
            },
            Sys::Wait => R::Wait {
                slot: Slot(a[0]),
                timeout: a[1],
            },
            Sys::Call => R::Call {
                slot: Slot(a[0]),
                msg: a[1],
            },
            Sys::Recv => R::Recv {
                slot: Slot(a[0]),
                msg: a[1],
                timeout: a[2],
            },
            Sys::Reply => R::Reply { msg: a[0] },
            Sys::ReplyRecv => R::ReplyRecv {
                slot: Slot(a[0]),
                msg: a[1],
                timeout: a[2],
            },
            Sys::CallShort => R::CallShort {
                slot: Slot(a[0]),
                msg: a[1],
            },
            Sys::ReplyRecvShort => R::ReplyRecvShort {
                slot: Slot(a[0]),
                msg: a[1],
            },
            Sys::NotificationBind => R::NotificationBind { slot: Slot(a[0]) },
            Sys::MemCreate => R::MemCreate { pages: a[0] },
            Sys::MemMap => R::MemMap {
                slot: Slot(a[0]),
                vaddr: a[1],
                rights: rights(a[2])?,
            },
            Sys::MemUnmap => R::MemUnmap { vaddr: a[0] },
            Sys::TaskSpawn => R::TaskSpawn { args: a[0] },
            Sys::TaskGrant => R::TaskGrant {
                task: Slot(a[0]),
                slot: Slot(a[1]),
            },
            Sys::TaskStart => R::TaskStart { task: Slot(a[0]) },
            Sys::TaskKill => R::TaskKill { task: Slot(a[0]) },
            Sys::TaskStatus => R::TaskStatus {
                task: Slot(a[0]),
                out: a[1],
            },
            Sys::SysInfo => R::SysInfo { out: a[0] },
            Sys::IoRead => R::IoRead {
                slot: Slot(a[0]),
                port: a[1],
                width: IoWidth::decode(a[2])?,
            },
            Sys::IoWrite => R::IoWrite {
                slot: Slot(a[0]),
                port: a[1],
                width: IoWidth::decode(a[2])?,
                value: a[3],
            },
            Sys::CapNarrow => R::CapNarrow {
                slot: Slot(a[0]),
                base: a[1],
                len: a[2],
            },
            Sys::IrqBind => R::IrqBind {
                slot: Slot(a[0]),
                line: irq_line(a[1])?,
                notification: Slot(a[2]),
                bits: a[3],
            },
            Sys::IrqAck => R::IrqAck {
                slot: Slot(a[0]),
                line: irq_line(a[1])?,
            },
            Sys::MemDevice => R::MemDevice {
                slot: Slot(a[0]),
                phys: a[1],
                pages: a[2],
            },
            Sys::MemDma => R::MemDma {
                slot: Slot(a[0]),
                pages: a[1],
            },
            Sys::MemPhys => R::MemPhys { slot: Slot(a[0]) },
        })
    }

    /// The syscall this request is.
    pub fn sys(&self) -> Sys {
        use Request as R;
        match self {
            R::ConsoleWrite { .. } => Sys::ConsoleWrite,
            R::Exit { .. } => Sys::Exit,
            R::Yield => Sys::Yield,
            R::LogEvent { .. } => Sys::LogEvent,
            R::Sleep { .. } => Sys::Sleep,
            R::CapDerive { .. } => Sys::CapDerive,
            R::CapMint { .. } => Sys::CapMint,
            R::CapDrop { .. } => Sys::CapDrop,
            R::CapInfo { .. } => Sys::CapInfo,
            R::EndpointCreate => Sys::EndpointCreate,
            R::NotificationCreate => Sys::NotificationCreate,
            R::Signal { .. } => Sys::Signal,
            R::Wait { .. } => Sys::Wait,
            R::Call { .. } => Sys::Call,
            R::Recv { .. } => Sys::Recv,
            R::Reply { .. } => Sys::Reply,
            R::ReplyRecv { .. } => Sys::ReplyRecv,
            R::CallShort { .. } => Sys::CallShort,
            R::ReplyRecvShort { .. } => Sys::ReplyRecvShort,
            R::NotificationBind { .. } => Sys::NotificationBind,
            R::MemCreate { .. } => Sys::MemCreate,
            R::MemMap { .. } => Sys::MemMap,
            R::MemUnmap { .. } => Sys::MemUnmap,
            R::TaskSpawn { .. } => Sys::TaskSpawn,
            R::TaskGrant { .. } => Sys::TaskGrant,
            R::TaskStart { .. } => Sys::TaskStart,
            R::TaskKill { .. } => Sys::TaskKill,
            R::TaskStatus { .. } => Sys::TaskStatus,
            R::SysInfo { .. } => Sys::SysInfo,
            R::IoRead { .. } => Sys::IoRead,
            R::IoWrite { .. } => Sys::IoWrite,
            R::CapNarrow { .. } => Sys::CapNarrow,
            R::IrqBind { .. } => Sys::IrqBind,
            R::IrqAck { .. } => Sys::IrqAck,
            R::MemDevice { .. } => Sys::MemDevice,
            R::MemDma { .. } => Sys::MemDma,
            R::MemPhys { .. } => Sys::MemPhys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: [u64; 6] = [3, 1, 2, 4, 5, 6];

    #[test]
    fn every_number_decodes_to_its_own_syscall() {
        for sys in Sys::ALL {
            let r = Request::decode(sys as u64, GOOD).unwrap();
            assert_eq!(r.sys(), sys);
        }
    }

    #[test]
    fn unknown_numbers_are_no_such_syscall() {
        for n in [
            0,
            1,
            super::super::NATIVE_BASE - 1,
            Sys::ALL[Sys::ALL.len() - 1] as u64 + 1,
            u64::MAX,
        ] {
            assert_eq!(Request::decode(n, GOOD), Err(SysError::NoSuchSyscall));
        }
    }

    #[test]
    fn arguments_land_in_their_fields() {
        let r = Request::decode(Sys::Recv as u64, [7, 0x1000, 50, 0, 0, 0]).unwrap();
        assert_eq!(
            r,
            Request::Recv {
                slot: Slot(7),
                msg: 0x1000,
                timeout: 50
            }
        );
        let r = Request::decode(Sys::IoWrite as u64, [1, 0x3f8, 2, 0xab, 0, 0]).unwrap();
        assert_eq!(
            r,
            Request::IoWrite {
                slot: Slot(1),
                port: 0x3f8,
                width: IoWidth::Word,
                value: 0xab
            }
        );
    }

    #[test]
    fn values_outside_their_type_are_refused() {
        let bad = SysError::InvalidArgument;
        let wide = 1u64 << 32 | Rights::READ.0 as u64;
        assert_eq!(
            Request::decode(Sys::CapDerive as u64, [0, wide, 0, 0, 0, 0]),
            Err(bad)
        );
        assert_eq!(
            Request::decode(Sys::MemMap as u64, [0, 0x1000, wide, 0, 0, 0]),
            Err(bad)
        );
        for w in [0, 3, 8, u64::MAX] {
            assert_eq!(
                Request::decode(Sys::IoRead as u64, [0, 0, w, 0, 0, 0]),
                Err(bad)
            );
        }
        for line in [IRQ_LINES, 256, u64::MAX] {
            assert_eq!(
                Request::decode(Sys::IrqAck as u64, [0, line, 0, 0, 0, 0]),
                Err(bad)
            );
        }
    }
}
