//! The syscall fuzzer: many thousands of syscalls with random numbers,
//! wild pointers (null, kernel addresses, unmapped, misaligned, past the
//! end of user space), huge lengths and stale or empty slots. With the
//! initrd capability (slot 1) it also spawns real tasks (the initrd's
//! `victim`, which exits at once) at random priorities, grants them random
//! capabilities, and sends and replies with random capabilities in
//! messages (to an endpoint nobody receives on, so a call never blocks).
//! The kernel must answer every one with a result or an error; the
//! supervisor checks afterwards that every frame and heap byte came back.
//! Seeded, so a run repeats.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::cap::{ObjectKind, Rights};
use ipc_abi::ipc::Message;
use ipc_abi::syscall::{NATIVE_BASE, NO_SLOT, SpawnArgs, Sys};
use rt::sys::{self, SysResult};

rt::entry!(main);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WILD: &[u64] = &[
    0,
    1,
    8,
    0xfff,
    0x1000,
    0x7fff_ffff_f000,
    0x7fff_ffff_fff8,
    0x8000_0000_0000,
    0xdead_beef_0000,
    0x0000_5000_0000_0001,
    0xffff_8000_0000_0000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_ffff_fff0,
    u64::MAX,
];

/// Slot 1: the initrd, when the manifest grants it.
const INITRD: u64 = 1;

/// The initrd's `victim` (offset, length), if there is one.
fn find_victim() -> Option<(u64, u64)> {
    testsvc::initrd_file(INITRD, 0x100_0000_0000, "victim")
}

/// Real spawns and capabilities in messages (the random calls above reach
/// these only by luck).
fn structured(rng: &mut Rng, victim: Option<(u64, u64)>, dead_end: u64) -> SysResult<u64> {
    match rng.below(3) {
        0 => {
            let Some(v) = victim else { return Ok(0) };
            let t = sys::task_spawn(&SpawnArgs {
                death_slot: if rng.below(2) == 0 {
                    NO_SLOT
                } else {
                    rng.below(16)
                },
                death_bits: rng.next(),
                priority: rng.below(5),
                stack_pages: rng.below(3),
                ..testsvc::victim_spawn_args(INITRD, v, "exit")
            })?;
            for _ in 0..rng.below(4) {
                let _ = sys::task_grant(t, rng.below(20));
            }
            if rng.below(4) != 0 {
                let _ = sys::task_start(t);
            }
            if rng.below(2) == 0 {
                let _ = sys::cap_drop(t);
            }
            Ok(t)
        }
        which => {
            let mut msg = Message::new();
            msg.ncaps = rng.below(6) as u32;
            for c in msg.caps.iter_mut() {
                *c = rng.below(24) as u32;
            }
            msg.len = rng.below(1100) as u32;
            // The random calls may have dropped `dead_end` and put a live
            // endpoint in its slot; a call there would wait forever.
            let still_dead_end = sys::cap_info(dead_end).is_ok_and(|(kind, rights)| {
                kind == Some(ObjectKind::Endpoint) && rights == Rights::SEND.union(Rights::GRANT)
            });
            if which == 1 && still_dead_end {
                sys::call_raw(dead_end, &mut msg).map(|()| 0)
            } else {
                sys::reply(&msg).map(|()| 0)
            }
        }
    }
}

fn main() -> u64 {
    let seed = rt::arg(0).parse::<u64>().unwrap_or(0x5eed_1234_abcd);
    let calls = rt::arg(1).parse::<u64>().unwrap_or(20_000);
    let mut rng = Rng(seed | 1);
    // Pointers land in the first 4 KiB; the rest takes what the kernel
    // writes past them (a whole message, a status record).
    let mut scratch = [0u8; 8192];
    let scratch_at = scratch.as_mut_ptr() as u64;
    let (mut ok, mut errors, mut unknown) = (0u64, 0u64, 0u64);
    let victim = find_victim();
    // An endpoint nobody can receive on: calls to it fail, never block.
    let dead_end = {
        let ep = sys::endpoint_create().expect("endpoint");
        let send = sys::cap_derive(ep, Rights::SEND.union(Rights::GRANT)).expect("derive");
        let _ = sys::cap_drop(ep);
        send
    };
    for _ in 0..calls {
        if rng.below(20) == 0 {
            match structured(&mut rng, victim, dead_end) {
                Ok(_) => ok += 1,
                Err(ipc_abi::syscall::SysErrorOrUnknown::Known(_)) => errors += 1,
                Err(_) => unknown += 1,
            }
            continue;
        }
        let number = match rng.below(10) {
            0 => rng.below(500),
            1 => rng.next(),
            _ => NATIVE_BASE + rng.below(Sys::ALL.len() as u64 + 3),
        };
        let mut a = [0u64; 4];
        for v in a.iter_mut() {
            *v = match rng.below(6) {
                0 => WILD[rng.below(WILD.len() as u64) as usize],
                1 => rng.below(140),
                2 => scratch_at + rng.below(4096),
                3 => rng.next(),
                4 => 1 << rng.below(64),
                _ => rng.below(16),
            };
        }
        match Sys::from_number(number) {
            // Ending ourselves would end the run early.
            Some(Sys::Exit) => continue,
            // Keep the initrd (slot 1) for the real spawns.
            Some(Sys::CapDrop) if a[0] == INITRD => continue,
            // A call on an endpoint we hold ourselves, and a receive with
            // no timeout (`ReplyRecvShort` has none), would wait forever:
            // only wild message pointers (refused before blocking).
            Some(Sys::Call | Sys::CallShort | Sys::ReplyRecvShort) => {
                a[1] = WILD[rng.below(WILD.len() as u64) as usize]
            }
            Some(Sys::Recv | Sys::ReplyRecv) => a[2] = 1 + rng.below(2),
            Some(Sys::Wait) => a[1] = 1 + rng.below(2),
            Some(Sys::Sleep) => a[0] = rng.below(2),
            // Keep most objects small so memory runs out only sometimes.
            Some(Sys::MemCreate) if rng.below(4) != 0 => a[0] = rng.below(8),
            _ => {}
        }
        match sys::raw_call(number, a[0], a[1], a[2], a[3]) {
            Ok(_) => ok += 1,
            Err(ipc_abi::syscall::SysErrorOrUnknown::Known(_)) => errors += 1,
            Err(_) => unknown += 1,
        }
    }
    testsvc::event!(
        "fuzz.done calls={calls} ok={ok} errors={errors} unknown_errors={unknown} seed={seed}"
    );
    0
}
