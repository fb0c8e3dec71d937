//! Restart policy: `always`, `on-failure` or `never`, with exponential
//! backoff and a restart budget.

use initrd::manifest::RestartPolicy;

/// Longest delay between restarts.
pub const MAX_BACKOFF_MS: u32 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(u64),
    Fault { vector: u64 },
    Killed,
}

impl Exit {
    pub fn failed(self) -> bool {
        self != Exit::Code(0)
    }
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
