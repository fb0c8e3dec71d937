//! The Linux x86-64 ABI facts the kernel's Linux personality implements:
//! syscall numbers, error numbers and the auxiliary-vector keys. Numbers are
//! Linux's own (`arch/x86/entry/syscalls/syscall_64.tbl`, `errno.h`,
//! `auxvec.h`).

/// Anonymous `mmap` memory is handed out upward from here, below
/// `MMAP_END`.
pub const MMAP_BASE: u64 = 0x1000_0000_0000;
pub const MMAP_END: u64 = 0x6000_0000_0000;
/// The program break may grow this far above the end of the image.
pub const BRK_MAX: u64 = 1 << 30;

const _: () = assert!(MMAP_BASE < MMAP_END && MMAP_END <= crate::layout::USER_STACK_TOP);

pub mod nr {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const CLOSE: u64 = 3;
    pub const FSTAT: u64 = 5;
    pub const POLL: u64 = 7;
    pub const MMAP: u64 = 9;
    pub const MPROTECT: u64 = 10;
    pub const MUNMAP: u64 = 11;
    pub const BRK: u64 = 12;
    pub const RT_SIGACTION: u64 = 13;
    pub const RT_SIGPROCMASK: u64 = 14;
    pub const IOCTL: u64 = 16;
    pub const WRITEV: u64 = 20;
    pub const SCHED_YIELD: u64 = 24;
    pub const MADVISE: u64 = 28;
    pub const NANOSLEEP: u64 = 35;
    pub const GETPID: u64 = 39;
    pub const KILL: u64 = 62;
    pub const EXIT: u64 = 60;
    pub const UNAME: u64 = 63;
    pub const READLINK: u64 = 89;
    pub const SIGALTSTACK: u64 = 131;
    pub const ARCH_PRCTL: u64 = 158;
    pub const GETTID: u64 = 186;
    pub const TKILL: u64 = 200;
    pub const FUTEX: u64 = 202;
    pub const SCHED_GETAFFINITY: u64 = 204;
    pub const SET_TID_ADDRESS: u64 = 218;
    pub const CLOCK_GETTIME: u64 = 228;
    pub const CLOCK_NANOSLEEP: u64 = 230;
    pub const EXIT_GROUP: u64 = 231;
    pub const TGKILL: u64 = 234;
    pub const OPENAT: u64 = 257;
    pub const NEWFSTATAT: u64 = 262;
    pub const SET_ROBUST_LIST: u64 = 273;
    pub const PRLIMIT64: u64 = 302;
    pub const GETRANDOM: u64 = 318;
}

pub mod errno {
    pub const ENOENT: u64 = 2;
    pub const ESRCH: u64 = 3;
    pub const EBADF: u64 = 9;
    pub const EAGAIN: u64 = 11;
    pub const ENOMEM: u64 = 12;
    pub const EACCES: u64 = 13;
    pub const EFAULT: u64 = 14;
    pub const EINVAL: u64 = 22;
    pub const ENOTTY: u64 = 25;
    pub const ENOSYS: u64 = 38;
    pub const ETIMEDOUT: u64 = 110;
}

/// Signal numbers, and what a signal does to a task that has no handler
/// (the personality runs no handlers: `rt_sigaction` succeeds without
/// effect, so every signal takes its default action).
pub mod sig {
    pub const SIGILL: u64 = 4;
    pub const SIGTRAP: u64 = 5;
    pub const SIGABRT: u64 = 6;
    pub const SIGBUS: u64 = 7;
    pub const SIGFPE: u64 = 8;
    pub const SIGKILL: u64 = 9;
    pub const SIGSEGV: u64 = 11;
    /// Highest signal number (the last real-time signal).
    pub const MAX: u64 = 64;

    /// What Linux does by default with a signal.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Default {
        /// The task ends (killed by the signal).
        Terminate,
        /// Nothing happens (`SIGCHLD`, `SIGURG`, `SIGWINCH`, `SIGCONT`,
        /// and the stop signals, since nothing here can stop a task).
        Ignore,
    }

    /// The default action of `signal` (1..=MAX); `None` for a number that
    /// is not a signal.
    pub fn default_action(signal: u64) -> Option<Default> {
        match signal {
            17 | 18 | 19 | 20 | 21 | 22 | 23 | 28 => Some(Default::Ignore),
            1..=MAX => Some(Default::Terminate),
            _ => None,
        }
    }

    /// The signal Linux sends for a CPU exception in user mode.
    pub fn for_exception(vector: u64) -> u64 {
        match vector {
            0 | 16 | 19 => SIGFPE,
            1 | 3 => SIGTRAP,
            6 => SIGILL,
            12 | 17 => SIGBUS,
            _ => SIGSEGV,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn defaults_and_exceptions() {
            assert_eq!(default_action(SIGABRT), Some(Default::Terminate));
            assert_eq!(default_action(17), Some(Default::Ignore));
            assert_eq!(default_action(64), Some(Default::Terminate));
            assert_eq!(default_action(0), None);
            assert_eq!(default_action(65), None);
            assert_eq!(for_exception(14), SIGSEGV);
            assert_eq!(for_exception(13), SIGSEGV);
            assert_eq!(for_exception(6), SIGILL);
            assert_eq!(for_exception(0), SIGFPE);
        }
    }
}

pub mod auxv {
    pub const AT_NULL: u64 = 0;
    pub const AT_PHDR: u64 = 3;
    pub const AT_PHENT: u64 = 4;
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    pub const AT_ENTRY: u64 = 9;
    pub const AT_UID: u64 = 11;
    pub const AT_EUID: u64 = 12;
    pub const AT_GID: u64 = 13;
    pub const AT_EGID: u64 = 14;
    pub const AT_SECURE: u64 = 23;
    pub const AT_RANDOM: u64 = 25;
    pub const AT_EXECFN: u64 = 31;
}

pub const ARCH_SET_FS: u64 = 0x1002;
pub const PROT_READ: u64 = 1;
pub const PROT_WRITE: u64 = 2;
pub const PROT_EXEC: u64 = 4;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_ANONYMOUS: u64 = 0x20;
pub const FUTEX_WAIT: u64 = 0;
pub const FUTEX_WAKE: u64 = 1;
pub const FUTEX_CMD_MASK: u64 = 0x7f;
