//! The death test: `reaper N` makes at least N tasks die, of every kind a
//! task can die of (exit, each fault, killed while running, killed while
//! waiting in `Recv` or for a reply, dying with capabilities it sent and
//! received, a capability to itself among them, and spawned but never
//! started), each spawned from the initrd's `victim`. It counts the
//! kernel's free frames and heap after a first round and again at the end:
//! every death must give back everything.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::cap::Rights;
use ipc_abi::cap::Slot;
use ipc_abi::ipc::Message;
use ipc_abi::syscall::{EXIT_CODE, EXIT_FAULT, EXIT_KILLED, SpawnArgs, SysInfo, TASK_DEAD};
use rt::sys;

rt::entry!(main);

/// Slot 1: the initrd (manifest capability `initrd`).
const INITRD: Slot = 1;
const INITRD_VADDR: u64 = 0x100_0000_0000;

const KINDS: &[&str] = &[
    "exit",
    "null",
    "ud",
    "gp",
    "de",
    "stack",
    "spin",
    "recv",
    "call",
    "call-fault",
    "call-wait",
    "unstarted",
];

struct Reaper {
    image: (u64, u64),
    deaths: Slot,
    ep: Slot,
}

fn main() -> u64 {
    let target: u64 = rt::arg(0).parse().unwrap_or(1000);
    let Some(victim) = testsvc::initrd_file(INITRD, INITRD_VADDR, "victim") else {
        rt::println!("reaper: no initrd capability, or no victim in it");
        return 2;
    };
    let r = Reaper {
        image: victim,
        deaths: sys::notification_create().expect("notification"),
        ep: sys::endpoint_create().expect("endpoint"),
    };
    let mut failures = 0u64;
    let mut deaths = 0u64;
    // A first round grows the kernel's tables to what the test needs.
    for kind in KINDS {
        failures += u64::from(!r.one(kind));
    }
    let before = sys::sys_info();
    while deaths < target {
        for kind in KINDS {
            deaths += 1;
            if !r.one(kind) {
                failures += 1;
                rt::println!("reaper: death {deaths} ({kind}) went wrong");
            }
        }
    }
    let after = sys::sys_info();
    report(deaths, failures, &before, &after);
    0
}

fn report(deaths: u64, failures: u64, before: &SysInfo, after: &SysInfo) {
    testsvc::event!(
        "death.done deaths={deaths} failures={failures} kinds={} frames_before={} frames_after={} heap_before={} heap_after={} tasks_before={} tasks_after={}",
        KINDS.len(),
        before.frames_free,
        after.frames_free,
        before.heap_used,
        after.heap_used,
        before.tasks,
        after.tasks
    );
}

impl Reaper {
    /// One death of `kind`; true if it went as it must.
    fn one(&self, kind: &str) -> bool {
        let args = if kind == "unstarted" { "exit" } else { kind };
        let spawn = SpawnArgs {
            death_slot: self.deaths,
            death_bits: 1,
            ..testsvc::victim_spawn_args(INITRD, self.image, args)
        };
        let Ok(task) = sys::task_spawn(&spawn) else {
            return false;
        };
        if kind == "unstarted" {
            // Nobody can start it once its only capability is gone: the
            // kernel must reclaim it (and signal its death).
            let _ = sys::cap_drop(task);
            return self.await_death();
        }
        let Ok(ep) = sys::cap_derive(self.ep, Rights::SEND.union(Rights::GRANT)) else {
            return false;
        };
        let granted = sys::task_grant(task, ep);
        let _ = sys::cap_drop(ep);
        if granted != Ok(0) || sys::task_start(task).is_err() {
            return false;
        }
        let mut ok = match kind {
            "spin" | "recv" => {
                sys::sleep(1);
                sys::task_kill(task).is_ok()
            }
            "call" | "call-fault" | "call-wait" => self.serve_call(task, kind),
            _ => true,
        };
        ok &= self.await_death();
        let status = sys::task_status(task);
        let want = match kind {
            "exit" | "call" => EXIT_CODE,
            "spin" | "recv" | "call-wait" => EXIT_KILLED,
            _ => EXIT_FAULT,
        };
        ok &= status.is_ok_and(|s| s.state == TASK_DEAD && s.exit_kind == want);
        ok &= sys::cap_drop(task).is_ok();
        ok
    }

    /// Takes the victim's call (with its capabilities); answers it with a
    /// capability to the victim itself, or kills it while it waits.
    fn serve_call(&self, task: Slot, kind: &str) -> bool {
        let mut msg = Message::new();
        if sys::recv(self.ep, &mut msg, 200).is_err() || msg.payload() != kind.as_bytes() {
            return false;
        }
        let got: heapless_caps::Caps = heapless_caps::Caps::from(msg.received_caps());
        let ok = if kind == "call-wait" {
            // Killed while it waits for the reply; the reply then finds
            // nobody to answer.
            sys::task_kill(task).is_ok() && sys::reply(&Message::new()).is_err()
        } else {
            let mut answer = Message::new();
            answer.caps[0] = task as u32;
            answer.ncaps = 1;
            sys::reply(&answer).is_ok()
        };
        got.len == 4 && got.drop_all() && ok
    }

    fn await_death(&self) -> bool {
        sys::wait(self.deaths, 500).is_ok_and(|bits| bits & 1 != 0)
    }
}

/// The capabilities a message brought, to drop after use.
mod heapless_caps {
    pub struct Caps {
        slots: [u32; ipc_abi::ipc::MSG_MAX_CAPS],
        pub len: usize,
    }

    impl From<&[u32]> for Caps {
        fn from(s: &[u32]) -> Caps {
            let mut slots = [0; ipc_abi::ipc::MSG_MAX_CAPS];
            slots[..s.len()].copy_from_slice(s);
            Caps {
                slots,
                len: s.len(),
            }
        }
    }

    impl Caps {
        pub fn drop_all(&self) -> bool {
            self.slots[..self.len]
                .iter()
                .all(|&c| rt::sys::cap_drop(c as u64).is_ok())
        }
    }
}
