//! The syscall fuzzer: many thousands of syscalls with random numbers,
//! wild pointers (null, kernel addresses, unmapped, misaligned, past the
//! end of user space), huge lengths and stale or empty slots. The kernel
//! must answer every one with a result or an error; the supervisor checks
//! afterwards that every frame came back. Seeded, so a run repeats.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::syscall::{NATIVE_BASE, Sys};
use rt::sys;

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

fn main() -> u64 {
    let seed = rt::arg(0).parse::<u64>().unwrap_or(0x5eed_1234_abcd);
    let calls = rt::arg(1).parse::<u64>().unwrap_or(20_000);
    let mut rng = Rng(seed | 1);
    let mut scratch = [0u8; 4096];
    let scratch_at = scratch.as_mut_ptr() as u64;
    let (mut ok, mut errors, mut unknown) = (0u64, 0u64, 0u64);
    for _ in 0..calls {
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
            // A call on an endpoint we hold ourselves would wait forever:
            // only wild message pointers (refused before blocking).
            Some(Sys::Call) => a[1] = WILD[rng.below(WILD.len() as u64) as usize],
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
