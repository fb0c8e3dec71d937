//! Guest exit statuses, reported to the host through QEMU's `isa-debug-exit`
//! device.
//!
//! The guest writes `EXIT_CODE_BIAS + status` to [`DEBUG_EXIT_PORT`]; QEMU
//! then exits with `(value << 1) | 1`. The bias keeps every guest status away
//! from QEMU's own exit code 1 (bad arguments, missing firmware), so the host
//! can always tell "the guest said" from "QEMU failed".

/// I/O port of the `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Added to the status before it is written to the port.
pub const EXIT_CODE_BIAS: u32 = 0x10;

/// Why the guest stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum GuestStatus {
    /// The last task exited; the kernel powered off normally.
    Success = 0,
    /// The kernel panicked.
    KernelPanic = 1,
    /// A CPU exception in kernel mode (page fault, #GP, double fault, ...).
    KernelException = 2,
    /// The initrd was rejected by the kernel.
    BadInitrd = 3,
    /// The loader refused to boot (missing or invalid kernel or initrd).
    LoaderError = 4,
    /// The boot information handed over by the loader was unusable.
    BadBootInfo = 5,
    /// The kernel ran out of physical memory during boot.
    OutOfMemory = 6,
    /// Every live task was blocked with nothing that could ever wake it.
    Deadlock = 7,
    /// The last task exited, but the supervisor did not end with status 0
    /// (a service whose end it follows failed, or it failed itself); the
    /// `shutdown` event's `supervisor_code` is its status.
    SupervisorFailed = 8,
}

/// The status a shell reports for a process killed by `signal`.
pub const fn status_after_signal(signal: u64) -> u64 {
    128 + signal
}

/// The status a shell reports for a process that took CPU exception
/// `vector` in user mode (Linux sends the signal `for_exception` names).
pub fn status_after_fault(vector: u64) -> u64 {
    status_after_signal(crate::linux::sig::for_exception(vector))
}

/// The status a shell reports for a process that was killed outright.
pub const STATUS_KILLED: u64 = status_after_signal(crate::linux::sig::SIGKILL);

impl GuestStatus {
    pub const ALL: [GuestStatus; 9] = [
        GuestStatus::Success,
        GuestStatus::KernelPanic,
        GuestStatus::KernelException,
        GuestStatus::BadInitrd,
        GuestStatus::LoaderError,
        GuestStatus::BadBootInfo,
        GuestStatus::OutOfMemory,
        GuestStatus::Deadlock,
        GuestStatus::SupervisorFailed,
    ];

    /// The value the guest writes to the debug-exit port.
    pub const fn port_value(self) -> u32 {
        EXIT_CODE_BIAS + self as u32
    }

    /// The process exit code QEMU reports for this status.
    pub const fn qemu_exit_code(self) -> i32 {
        ((self.port_value() << 1) | 1) as i32
    }

    /// Decodes QEMU's exit code; `None` when the code did not come from the
    /// guest (QEMU's own failure, a signal, or a value we never write).
    pub fn from_qemu_exit_code(code: i32) -> Option<GuestStatus> {
        Self::ALL.into_iter().find(|s| s.qemu_exit_code() == code)
    }

    pub const fn name(self) -> &'static str {
        match self {
            GuestStatus::Success => "success",
            GuestStatus::KernelPanic => "kernel-panic",
            GuestStatus::KernelException => "kernel-exception",
            GuestStatus::BadInitrd => "bad-initrd",
            GuestStatus::LoaderError => "loader-error",
            GuestStatus::BadBootInfo => "bad-boot-info",
            GuestStatus::OutOfMemory => "out-of-memory",
            GuestStatus::Deadlock => "deadlock",
            GuestStatus::SupervisorFailed => "supervisor-failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_codes_round_trip_and_never_collide_with_qemu_failure() {
        for s in GuestStatus::ALL {
            assert_ne!(s.qemu_exit_code(), 1);
            assert_eq!(
                GuestStatus::from_qemu_exit_code(s.qemu_exit_code()),
                Some(s)
            );
        }
        assert_eq!(GuestStatus::from_qemu_exit_code(1), None);
        assert_eq!(GuestStatus::from_qemu_exit_code(0), None);
    }
}
