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

/// First native syscall number.
pub const NATIVE_BASE: u64 = 0x1000;

/// Native syscall numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Sys {
    /// `console_write(ptr, len) -> bytes written`: writes UTF-8 text to the
    /// console, tagged with the task's name. At most [`CONSOLE_WRITE_MAX`]
    /// bytes per call.
    ConsoleWrite = NATIVE_BASE,
    /// `exit(code) -> !`: ends the calling task.
    Exit = NATIVE_BASE + 1,
    /// `yield() -> 0`: gives up the rest of the time slice.
    Yield = NATIVE_BASE + 2,
}

impl Sys {
    pub const ALL: [Sys; 3] = [Sys::ConsoleWrite, Sys::Exit, Sys::Yield];

    pub fn from_number(n: u64) -> Option<Sys> {
        Self::ALL.into_iter().find(|s| *s as u64 == n)
    }
}

/// Largest `console_write` in one call.
pub const CONSOLE_WRITE_MAX: usize = 4096;

/// Errors a syscall can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum SysError {
    /// The number names no syscall this task may use.
    NoSuchSyscall = 1,
    /// A pointer argument is null, not user memory, not mapped, or not
    /// mapped with the access the call needs.
    BadAddress = 2,
    /// A length or other argument is out of range.
    InvalidArgument = 3,
    /// Bytes that must be UTF-8 are not.
    NotUtf8 = 4,
}

impl SysError {
    pub const ALL: [SysError; 4] = [
        SysError::NoSuchSyscall,
        SysError::BadAddress,
        SysError::InvalidArgument,
        SysError::NotUtf8,
    ];

    /// The value returned in `rax`.
    pub const fn to_raw(self) -> u64 {
        (self as u64).wrapping_neg()
    }

    /// Decodes a raw result.
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
    pub unsafe fn syscall2(n: u64, a0: u64, a1: u64) -> u64 {
        let ret: u64;
        // SAFETY: `syscall` only transfers to the kernel; the caller vouches
        // for the arguments, and rcx/r11 are declared clobbered.
        unsafe {
            asm!("syscall", inlateout("rax") n => ret, in("rdi") a0, in("rsi") a1,
                 lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }

    /// # Safety
    /// As for [`syscall2`].
    #[inline(always)]
    pub unsafe fn syscall1(n: u64, a0: u64) -> u64 {
        // SAFETY: forwarded contract.
        unsafe { syscall2(n, a0, 0) }
    }

    /// # Safety
    /// As for [`syscall2`].
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
    }
}
