//! Runs under the kernel's Linux personality: a plain Rust `std` program,
//! linked statically against glibc, with no idea it is not on Linux. It
//! uses what the JIT server will need from `std`: arguments, the heap
//! (brk and mmap), hash maps, formatting, time, stdout and stderr, thread
//! locals, and an exit code.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

thread_local! {
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

fn count() -> u64 {
    CALLS.with(|c| {
        c.set(c.get() + 1);
        c.get()
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("linuxhello: args={args:?}");
    let started = Instant::now();

    let squares: HashMap<u64, u64> = (0..10_000u64).map(|i| (i, i * i)).collect();
    let big: Vec<u64> = (0..1_000_000).collect(); // 8 MB: mmap, not brk
    let sum: u64 = big.iter().sum();
    let text = format!("{}-{}", squares[&9_999], sum);
    println!(
        "linuxhello: squares[9999]={} sum={} text_len={}",
        squares[&9_999],
        sum,
        text.len()
    );

    std::thread::sleep(Duration::from_millis(30));
    let elapsed = started.elapsed();
    println!(
        "linuxhello: slept_at_least_30ms={}",
        elapsed >= Duration::from_millis(30)
    );

    for _ in 0..3 {
        count();
    }
    println!("linuxhello: thread_local_count={}", count());
    eprintln!("linuxhello: this line went to stderr");

    // W^X holds here too, and unknown syscalls answer ENOSYS.
    let page = raw::syscall(9, 0, 4096, 3, 0x22); // mmap RW, private anonymous
    println!("linuxhello: mmap_rw_ok={}", (page as i64) > 0);
    println!(
        "linuxhello: mprotect_wx_refused={}",
        raw::syscall(10, page, 4096, 7, 0) as i64 == -13
    );
    println!(
        "linuxhello: mmap_wx_refused={}",
        raw::syscall(9, 0, 4096, 6, 0x22) as i64 == -13
    );
    let unknown = [raw::syscall(400, 0, 0, 0, 0), raw::syscall(400, 0, 0, 0, 0)];
    println!(
        "linuxhello: unknown_is_enosys={}",
        unknown.iter().all(|&r| r as i64 == -38)
    );

    // A shared memory object mapped inside the mmap area is not the
    // personality's to free: munmap leaves it alone.
    let at: u64 = 0x1000_8000_0000;
    let object = raw::syscall(0x1012, 1, 0, 0, 0); // MemCreate(1 page)
    let mapped = raw::syscall(0x1013, object, at, 3, 0) == 1; // MemMap RW
    raw::poke(at, 0x5eed);
    let unmap = raw::syscall(11, at, 4096, 0, 0);
    println!(
        "linuxhello: memobj_survives_munmap={}",
        mapped && unmap == 0 && raw::peek(at) == 0x5eed
    );

    let code = args.get(1).and_then(|a| a.parse::<i32>().ok()).unwrap_or(0);
    std::process::exit(code);
}

/// Raw Linux syscalls for what `std` has no wrapper for.
mod raw {
    pub fn poke(at: u64, v: u64) {
        // SAFETY: `at` is a page this program just mapped read-write.
        unsafe { std::ptr::write_volatile(at as *mut u64, v) }
    }

    pub fn peek(at: u64) -> u64 {
        // SAFETY: as for `poke`; if the kernel had freed the page this read
        // would fault, which the test would see.
        unsafe { std::ptr::read_volatile(at as *const u64) }
    }

    pub fn syscall(n: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
        let ret: u64;
        // SAFETY: the calls made through this (mmap of fresh anonymous
        // memory, mprotect of that memory, an unknown number) touch no
        // memory the program uses.
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") n => ret, in("rdi") a0, in("rsi") a1,
                in("rdx") a2, in("r10") a3, in("r8") u64::MAX, in("r9") 0u64,
                lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }
}
