//! The seam between the kernel and the ABIs its tasks speak. A task's
//! personality is chosen when it is spawned and fixes three things: its
//! start-up stack, who handles a syscall number below the native range,
//! and what is left to do when it dies. The native ABI is the kernel's own
//! (`syscall`); the Linux ABI lives in `linux` and is reached only through
//! here, so the rest of the kernel never names it.

use crate::arch::trap::TrapFrame;
use crate::linux::{self, LinuxState};
use crate::state::Kernel;
use crate::task::Task;
use alloc::vec::Vec;
use ipc_abi::layout::USER_STACK_TOP;
use kerncore::elf::LoadPlan;
use kerncore::slab::Id;

/// Which ABI a task is spawned with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Native,
    Linux,
}

impl Kind {
    pub fn from_spawn_flags(flags: u64) -> Kind {
        if flags & ipc_abi::syscall::SPAWN_LINUX != 0 {
            Kind::Linux
        } else {
            Kind::Native
        }
    }

    /// The name the `task.start` event gives it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Native => "native",
            Kind::Linux => "linux",
        }
    }

    /// The bytes at the top of a new task's stack, and where they start;
    /// sets the registers the entry point expects. A native task finds its
    /// NUL-separated arguments at the top of its stack (pointer in `rdi`,
    /// length in `rsi`) and is entered as if called (`rsp + 8` aligned); a
    /// Linux task gets the System V start-up stack with argc at an aligned
    /// `rsp`.
    pub fn startup_stack(
        self,
        name: &str,
        args: &[u8],
        plan: &LoadPlan,
        seed: u64,
        context: &mut TrapFrame,
    ) -> (u64, Vec<u8>) {
        match self {
            Kind::Native => {
                let at = USER_STACK_TOP - (args.len() as u64).next_multiple_of(16);
                context.rdi = at;
                context.rsi = args.len() as u64;
                context.rsp = at - 8;
                (at, args.to_vec())
            }
            Kind::Linux => {
                let (bytes, at) = linux::startup_stack(name, args, plan, seed);
                context.rsp = at;
                (at, bytes)
            }
        }
    }
}

/// A task's personality and the state it keeps per task.
#[derive(Debug)]
pub enum Personality {
    Native,
    Linux(LinuxState),
}

/// Kernel heap a personality may hold per task beyond the task record
/// (charged to the spawner as part of the record's cost).
pub const STATE_COST: usize = linux::PENDING_MAX;

impl Personality {
    pub fn new(kind: Kind, plan: &LoadPlan) -> Personality {
        match kind {
            Kind::Native => Personality::Native,
            Kind::Linux => Personality::Linux(LinuxState::new(plan)),
        }
    }

    pub fn linux_mut(&mut self) -> Option<&mut LinuxState> {
        match self {
            Personality::Linux(st) => Some(st),
            Personality::Native => None,
        }
    }

    pub fn linux(&self) -> Option<&LinuxState> {
        match self {
            Personality::Linux(st) => Some(st),
            Personality::Native => None,
        }
    }
}

/// Whether `t`'s pending syscall belongs to its personality rather than
/// to the native ABI (a number below the native ones, from a task that
/// speaks another ABI).
pub fn is_foreign(t: &Task) -> bool {
    let foreign = t.context.rax < ipc_abi::syscall::NATIVE_BASE;
    foreign && !matches!(t.personality, Personality::Native)
}

/// Hands the current task's foreign syscall (`is_foreign`) to its
/// personality.
pub fn on_foreign_syscall(k: &mut Kernel) {
    let me = k.current();
    // (A native task has no foreign syscalls.)
    if let Personality::Linux(_) = k.task(me).personality {
        linux::handle(k);
    }
}

/// What a personality does for a task that is dying, before its death is
/// logged: the Linux one prints a last line left without a newline.
pub fn on_exit(k: &mut Kernel, id: Id) {
    linux::flush_output(k, id);
}

/// What a personality does before a task's event is logged: the Linux one
/// prints a partial line first, so output and events keep their order.
pub fn before_event(k: &mut Kernel, id: Id) {
    linux::flush_output(k, id);
}
