//! A hostile Linux-personality program (a static Rust `std` binary, like
//! the JIT server and the app host). `hostile [CALLS] [SEED]` first tries
//! every way found to crash or hang the kernel through Linux syscalls and
//! prints `hostile: NAME=RESULT` for each (the kernel must answer each one
//! with an error, at once), then makes CALLS random Linux syscalls with
//! kernel, non-canonical and wild addresses, huge lengths and `MAP_FIXED`,
//! and prints `hostile: fuzz calls=N`. Reaching the end at all is the
//! point: before the fixes, the first attack stopped the machine.

const ENOMEM: i64 = -12;
const EACCES: i64 = -13;
const EINVAL: i64 = -22;

const READ: u64 = 1;
const WRITE: u64 = 2;
const EXEC: u64 = 4;
const PRIVATE_ANON: u64 = 0x22;
const FIXED: u64 = 0x10;

const MMAP: u64 = 9;
const MPROTECT: u64 = 10;
const MUNMAP: u64 = 11;
const BRK: u64 = 12;

const KERNEL_TEXT: u64 = 0xffff_ffff_8000_0000;
/// Scratch pages the fuzzer may map, unmap and protect at will: far from
/// everything the program itself uses.
const SANDBOX: u64 = 0x5000_0000_0000;
const SANDBOX_PAGES: u64 = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0x5eed);
    attacks();
    let n = fuzz(calls, seed);
    println!("hostile: fuzz calls={n}");
}

fn report(name: &str, got: i64, want: i64) {
    let verdict = if got == want { "refused" } else { "WRONG" };
    println!("hostile: {name}={verdict} ({got})");
}

fn attacks() {
    let heap_page = raw::syscall(MMAP, 0, 4096, READ | WRITE, PRIVATE_ANON, u64::MAX, 0);
    // The reproductions from the kernel-isolation issue.
    report(
        "mprotect_kernel_text",
        raw::call(MPROTECT, KERNEL_TEXT, 16 << 20, READ),
        ENOMEM,
    );
    report(
        "mprotect_non_canonical",
        raw::call(MPROTECT, 0x8000_0000_0000, 4096, READ),
        ENOMEM,
    );
    report(
        "mprotect_length_u64_max",
        raw::call(MPROTECT, heap_page, u64::MAX, READ),
        ENOMEM,
    );
    report(
        "mprotect_16_tib_unmapped",
        raw::call(MPROTECT, 0x4000_0000_0000, 1 << 44, READ),
        ENOMEM,
    );
    report(
        "mprotect_write_exec",
        raw::call(MPROTECT, heap_page, 4096, READ | WRITE | EXEC),
        EACCES,
    );
    report(
        "munmap_kernel_text",
        raw::call(MUNMAP, KERNEL_TEXT, 16 << 20, 0),
        EINVAL,
    );
    report(
        "munmap_32_tib",
        raw::call(MUNMAP, 0x4000_0000_0000, 1 << 45, 0),
        0,
    );
    report(
        "munmap_length_u64_max",
        raw::call(MUNMAP, 0x4000_0000_0000, u64::MAX, 0),
        EINVAL,
    );
    report(
        "mmap_64_tib",
        raw::syscall(MMAP, 0, 1 << 46, READ | WRITE, PRIVATE_ANON, u64::MAX, 0) as i64,
        ENOMEM,
    );
    report(
        "mmap_length_u64_max",
        raw::syscall(MMAP, 0, u64::MAX, READ | WRITE, PRIVATE_ANON, u64::MAX, 0) as i64,
        ENOMEM,
    );
    let mut huge: Vec<u8> = Vec::new();
    let refused = huge.try_reserve_exact(1 << 46).is_err();
    report("malloc_64_tib", if refused { ENOMEM } else { 0 }, ENOMEM);
    for (name, at) in [
        ("mmap_fixed_last_page_before_the_hole", 0x7fff_ffff_f000u64),
        ("mmap_fixed_non_canonical", 0x8000_0000_0000),
        ("mmap_fixed_kernel_direct_map", 0xffff_8000_0000_0000),
        ("mmap_fixed_kernel_text", KERNEL_TEXT),
    ] {
        let r = raw::syscall(
            MMAP,
            at,
            4096,
            READ | WRITE,
            PRIVATE_ANON | FIXED,
            u64::MAX,
            0,
        );
        report(name, r as i64, ENOMEM);
    }
    let brk_now = raw::syscall(BRK, 0, 0, 0, 0, 0, 0);
    for (name, want) in [
        ("brk_into_the_kernel", KERNEL_TEXT),
        ("brk_u64_max", u64::MAX),
        ("brk_past_user_space", 0x7fff_ffff_ffff),
    ] {
        let got = raw::syscall(BRK, want, 0, 0, 0, 0, 0);
        report(name, (got != brk_now) as i64, 0);
    }
    println!("hostile: attacks done, still running");
}

/// Random Linux syscalls. Pointers and ranges are kernel, non-canonical
/// and wild addresses or the sandbox, never the program's own memory, so
/// the program survives whatever the kernel allows.
fn fuzz(calls: u64, seed: u64) -> u64 {
    const WILD: &[u64] = &[
        0,
        1,
        0xfff,
        0x1000,
        0x7fff_ffff_e000,
        0x7fff_ffff_f000,
        0x7fff_ffff_fff8,
        0x8000_0000_0000,
        0xdead_beef_0000,
        0xffff_8000_0000_0000,
        0xffff_ffff_8000_0000,
        0xffff_ffff_ffff_f000,
        u64::MAX,
    ];
    raw::syscall(
        MMAP,
        SANDBOX,
        SANDBOX_PAGES * 4096,
        READ | WRITE,
        PRIVATE_ANON | FIXED,
        u64::MAX,
        0,
    );
    let mut rng = Rng(seed | 1);
    let mut done = 0;
    for _ in 0..calls {
        let nr = match rng.below(4) {
            0 => rng.below(460),
            // The memory calls are where the holes were.
            _ => [MMAP, MPROTECT, MUNMAP, BRK][rng.below(4) as usize],
        };
        // Calls that would end or blind the fuzzer itself: exit,
        // exit_group, kill/tkill/tgkill (a signal to itself ends it),
        // arch_prctl (its TLS), and sleeps (a wild timespec may say "a
        // century").
        if matches!(nr, 60 | 231 | 62 | 200 | 234 | 158 | 35 | 230) {
            continue;
        }
        let mut a = [0u64; 6];
        for v in a.iter_mut() {
            *v = match rng.below(7) {
                0 | 1 => WILD[rng.below(WILD.len() as u64) as usize],
                2 => SANDBOX + rng.below(SANDBOX_PAGES + 2) * 4096,
                3 => 1 << (47 + rng.below(17)),
                4 => rng.below(1 << 20),
                5 => rng.next() | 0x8000_0000_0000_0000,
                _ => rng.below(16),
            };
        }
        match nr {
            // Never the console, never huge output.
            1 | 20 | 18 => a[0] = 3 + rng.below(100),
            // Anonymous mappings at the sandbox, wild places, or anywhere,
            // small enough that the leak stays bounded.
            MMAP => {
                a[0] = if rng.below(2) == 0 {
                    SANDBOX + rng.below(SANDBOX_PAGES) * 4096
                } else {
                    a[0]
                };
                if a[0] < 0x8000_0000_0000
                    && !(SANDBOX..SANDBOX + SANDBOX_PAGES * 4096).contains(&a[0])
                {
                    a[3] &= !FIXED;
                }
                if rng.below(3) != 0 {
                    a[1] = rng.below(16 * 4096);
                }
                a[3] |= 0x20;
            }
            // The program's own memory stays out of reach.
            MPROTECT | MUNMAP
                if a[0] < 0x8000_0000_0000
                    && !(SANDBOX..SANDBOX + SANDBOX_PAGES * 4096).contains(&a[0]) =>
            {
                a[0] = WILD[7 + rng.below(6) as usize];
            }
            BRK => a[0] = WILD[7 + rng.below(6) as usize],
            // rt_sigaction and friends write through their last pointers.
            _ => {}
        }
        raw::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        done += 1;
    }
    done
}

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

/// Raw Linux syscalls.
mod raw {
    /// Memory calls with `(addr, len, prot)`.
    pub fn call(n: u64, a0: u64, a1: u64, a2: u64) -> i64 {
        syscall(n, a0, a1, a2, 0, 0, 0) as i64
    }

    pub fn syscall(n: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> u64 {
        let ret: u64;
        // SAFETY: not safe in general, and not meant to be: this program
        // exists to pass the kernel bad arguments. The callers keep every
        // pointer and range away from the program's own memory (kernel,
        // non-canonical and wild addresses, or the sandbox).
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") n => ret, in("rdi") a0, in("rsi") a1,
                in("rdx") a2, in("r10") a3, in("r8") a4, in("r9") a5,
                lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }
}
