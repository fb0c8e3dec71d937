//! Restart policy: `always`, `on-failure` or `never`, with exponential
//! backoff and a restart budget.

use initrd::manifest::RestartPolicy;

/// Longest delay between restarts.
pub const MAX_BACKOFF_MS: u32 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(u64),
    Fault {
        vector: u64,
    },
    /// Killed by a signal (Linux personality).
    Signal(u64),
    Killed,
    /// Never ran: its file is missing or the spawn failed.
    NotStarted,
}

/// A status for a service that could not be started (as a shell's
/// "command not found").
pub const STATUS_NOT_STARTED: u64 = 127;

impl Exit {
    pub fn failed(self) -> bool {
        self != Exit::Code(0)
    }

    /// The status a shell would report for a process that ended this way:
    /// the exit code, or 128 + the signal Linux would have sent.
    pub fn status(self) -> u64 {
        use ipc_abi::exit::{STATUS_KILLED, status_after_fault, status_after_signal};
        match self {
            Exit::Code(c) => c,
            Exit::Fault { vector } => status_after_fault(vector),
            Exit::Signal(s) => status_after_signal(s),
            Exit::Killed => STATUS_KILLED,
            Exit::NotStarted => STATUS_NOT_STARTED,
        }
    }
}

/// Whether the system stops after a `shutdown_on_exit` service ended
/// with `decision`: only when it will not run again.
pub fn ends_system(shutdown_on_exit: bool, decision: Decision) -> bool {
    shutdown_on_exit && !matches!(decision, Decision::Restart { .. })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start it again after this many milliseconds.
    Restart { after_ms: u32 },
    /// The policy does not ask for a restart.
    Done,
    /// It should restart, but has used up its budget.
    GiveUp { restarts: u32 },
}

/// What to do after a service ended, having been restarted `restarts`
/// times already.
pub fn decide(
    policy: RestartPolicy,
    exit: Exit,
    restarts: u32,
    max_restarts: u32,
    backoff_ms: u32,
) -> Decision {
    let wants = match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit.failed(),
        RestartPolicy::Never => false,
    };
    if !wants {
        return Decision::Done;
    }
    if restarts >= max_restarts {
        return Decision::GiveUp { restarts };
    }
    let after_ms = backoff_ms
        .checked_shl(restarts)
        .unwrap_or(u32::MAX)
        .min(MAX_BACKOFF_MS);
    Decision::Restart { after_ms }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RestartPolicy::*;

    #[test]
    fn statuses_are_what_a_shell_reports() {
        assert_eq!(Exit::Code(42).status(), 42);
        assert_eq!(Exit::Fault { vector: 14 }.status(), 139);
        assert_eq!(Exit::Fault { vector: 13 }.status(), 139);
        assert_eq!(Exit::Fault { vector: 6 }.status(), 132);
        assert_eq!(Exit::Fault { vector: 0 }.status(), 136);
        assert_eq!(Exit::Signal(6).status(), 134);
        assert_eq!(Exit::Killed.status(), 137);
        assert_eq!(Exit::NotStarted.status(), 127);
    }

    #[test]
    fn only_a_service_that_will_not_run_again_ends_the_system() {
        let restart = Decision::Restart { after_ms: 50 };
        assert!(!ends_system(true, restart));
        assert!(ends_system(true, Decision::Done));
        assert!(ends_system(true, Decision::GiveUp { restarts: 3 }));
        assert!(!ends_system(false, Decision::Done));
    }

    #[test]
    fn policies() {
        assert_eq!(decide(Never, Exit::Killed, 0, 3, 50), Decision::Done);
        assert_eq!(decide(OnFailure, Exit::Code(0), 0, 3, 50), Decision::Done);
        assert_eq!(
            decide(OnFailure, Exit::Code(1), 0, 3, 50),
            Decision::Restart { after_ms: 50 }
        );
        assert_eq!(
            decide(OnFailure, Exit::Fault { vector: 14 }, 0, 3, 50),
            Decision::Restart { after_ms: 50 }
        );
        assert_eq!(
            decide(Always, Exit::Code(0), 0, 3, 50),
            Decision::Restart { after_ms: 50 }
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_cap_and_the_budget_ends_it() {
        assert_eq!(
            decide(Always, Exit::Killed, 1, 9, 50),
            Decision::Restart { after_ms: 100 }
        );
        assert_eq!(
            decide(Always, Exit::Killed, 2, 9, 50),
            Decision::Restart { after_ms: 200 }
        );
        assert_eq!(
            decide(Always, Exit::Killed, 8, 9, 50),
            Decision::Restart {
                after_ms: MAX_BACKOFF_MS
            }
        );
        assert_eq!(
            decide(Always, Exit::Killed, 40, 99, 50),
            Decision::Restart {
                after_ms: MAX_BACKOFF_MS
            }
        );
        assert_eq!(
            decide(Always, Exit::Killed, 3, 3, 50),
            Decision::GiveUp { restarts: 3 }
        );
        assert_eq!(decide(Never, Exit::Killed, 3, 3, 50), Decision::Done);
    }
}
