//! The Linux-ABI personality: the subset of Linux x86-64 syscalls that a
//! statically linked Rust `std` program with static glibc calls, for tasks
//! spawned with `SPAWN_LINUX`. Anything else returns `-ENOSYS` and is logged
//! once per number. There are no files, signals or threads: standard output
//! and error go to the console, signal calls succeed without effect, and
//! memory calls work on anonymous memory under the same W^X rule as
//! everything else. `docs/linux.md` has the table.

use crate::mem::frames;
use crate::mem::paging::{NO_EXECUTE, USER, WRITABLE};
use crate::state::Kernel;
use crate::task::{ExitReason, TaskState};
use crate::usercopy::UserSlice;
use crate::{arch, kevent};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ipc_abi::layout::{PAGE_SIZE, USER_END, USER_STACK_TOP};
use ipc_abi::linux::{auxv, errno, nr, *};
use kerncore::elf::LoadPlan;

/// Anonymous `mmap` memory is handed out upward from here.
const MMAP_BASE: u64 = 0x1000_0000_0000;
const MMAP_END: u64 = 0x6000_0000_0000;
/// The program break may grow this far above the end of the image.
const BRK_MAX: u64 = 1 << 30;
/// Largest single write to the console.
const WRITE_MAX: u64 = 64 * 1024;

/// Per-task state of the personality.
#[derive(Debug)]
pub struct LinuxState {
    brk_start: u64,
    brk_end: u64,
    mmap_next: u64,
    /// Numbers already reported as missing (0..512).
    enosys_logged: [u64; 8],
    rng: u64,
    /// Console output not yet ended by a newline (programs write a line in
    /// several pieces).
    pending_line: Vec<u8>,
}

impl LinuxState {
    pub fn new(plan: &LoadPlan) -> LinuxState {
        let end = plan
            .segments
            .iter()
            .map(|s| s.page_range().end)
            .max()
            .unwrap_or(0);
        LinuxState {
            brk_start: end,
            brk_end: end,
            mmap_next: MMAP_BASE,
            enosys_logged: [0; 8],
            rng: arch::rdtsc() | 1,
            pending_line: Vec::new(),
        }
    }
}

/// The start-up stack: argc, argv, envp, auxv, then the strings and 16
/// random bytes, ending at `USER_STACK_TOP`. Returns the bytes and where
/// they start (16-byte aligned: the initial `rsp`).
pub fn startup_stack(name: &str, args: &[u8], plan: &LoadPlan, seed: u64) -> (Vec<u8>, u64) {
    let argv: Vec<&[u8]> = core::iter::once(name.as_bytes())
        .chain(args.split(|&b| b == 0).filter(|a| !a.is_empty()))
        .collect();
    // Strings and random bytes, top-down.
    let mut strings = Vec::new();
    let mut random = [0u8; 16];
    let mut x = seed ^ arch::rdtsc() ^ 0x9e37_79b9_7f4a_7c15;
    for b in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    strings.extend_from_slice(&random);
    let mut offsets = Vec::new();
    for a in &argv {
        offsets.push(strings.len() as u64);
        strings.extend_from_slice(a);
        strings.push(0);
    }
    let strings_at = (USER_STACK_TOP - strings.len() as u64) & !15;
    let entry_of = |off: u64| strings_at + off;
    let mut words: Vec<u64> = vec![argv.len() as u64];
    words.extend(offsets.iter().map(|&o| entry_of(o)));
    words.push(0); // end of argv
    words.push(0); // empty envp
    let phdr = plan.phdr.unwrap_or(0);
    for (k, v) in [
        (auxv::AT_PHDR, phdr),
        (auxv::AT_PHENT, 56),
        (auxv::AT_PHNUM, plan.phnum as u64),
        (auxv::AT_PAGESZ, PAGE_SIZE),
        (auxv::AT_ENTRY, plan.entry),
        (auxv::AT_UID, 0),
        (auxv::AT_EUID, 0),
        (auxv::AT_GID, 0),
        (auxv::AT_EGID, 0),
        (auxv::AT_SECURE, 0),
        (auxv::AT_RANDOM, strings_at),
        (auxv::AT_EXECFN, entry_of(offsets[0])),
        (auxv::AT_NULL, 0),
    ] {
        words.push(k);
        words.push(v);
    }
    let at = (strings_at - words.len() as u64 * 8) & !15;
    let mut bytes = vec![0u8; (USER_STACK_TOP - at) as usize];
    for (i, w) in words.iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    let s = (strings_at - at) as usize;
    bytes[s..s + strings.len()].copy_from_slice(&strings);
    (bytes, at)
}

fn neg(e: u64) -> u64 {
    e.wrapping_neg()
}

/// Handles a Linux-numbered syscall of the current (Linux) task.
pub fn handle(k: &mut Kernel) {
    let me = k.current();
    let c = k.task(me).context;
    let (n, a0, a1, a2, a3, a4) = (c.rax, c.rdi, c.rsi, c.rdx, c.r10, c.r8);
    let result: u64 = match n {
        nr::WRITE => write(k, a0, &[(a1, a2)]),
        nr::WRITEV => writev(k, a0, a1, a2),
        nr::READ => {
            if a0 == 0 {
                0
            } else {
                neg(errno::EBADF)
            }
        }
        nr::CLOSE => {
            if a0 <= 2 {
                0
            } else {
                neg(errno::EBADF)
            }
        }
        nr::POLL | nr::SET_ROBUST_LIST | nr::MADVISE => 0,
        nr::RT_SIGPROCMASK => zero_out(k, a2, 8),
        nr::RT_SIGACTION => zero_out(k, a2, 32),
        nr::SIGALTSTACK => {
            // Old stack: none (ss_sp 0, ss_flags SS_DISABLE, ss_size 0).
            if a1 != 0 {
                let mut b = [0u8; 24];
                b[8] = 2;
                write_user(k, a1, &b)
            } else {
                0
            }
        }
        nr::IOCTL => neg(errno::ENOTTY),
        nr::OPENAT | nr::READLINK => neg(errno::ENOENT),
        nr::MMAP => mmap(k, a0, a1, a2, a3, a4),
        nr::MUNMAP => munmap(k, a0, a1),
        nr::MPROTECT => mprotect(k, a0, a1, a2),
        nr::BRK => brk(k, a0),
        nr::ARCH_PRCTL => {
            if a0 == ARCH_SET_FS && a1 < USER_END {
                k.task_mut(me).fs_base = a1;
                arch::set_fs_base(a1);
                0
            } else {
                neg(errno::EINVAL)
            }
        }
        nr::SET_TID_ADDRESS | nr::GETTID | nr::GETPID => k.task(me).serial,
        nr::SCHED_YIELD => {
            k.set_result(me, Ok(0));
            k.yield_current();
            return;
        }
        nr::SCHED_GETAFFINITY => {
            if a1 < 8 {
                neg(errno::EINVAL)
            } else {
                match write_user(k, a2, &1u64.to_le_bytes()) {
                    0 => 8,
                    e => e,
                }
            }
        }
        nr::PRLIMIT64 => {
            if a3 != 0 {
                let stack = ipc_abi::syscall::MAX_STACK_PAGES * PAGE_SIZE;
                let cur = if a1 == 3 { stack } else { u64::MAX };
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&cur.to_le_bytes());
                b[8..].copy_from_slice(&u64::MAX.to_le_bytes());
                write_user(k, a3, &b)
            } else {
                0
            }
        }
        nr::GETRANDOM => getrandom(k, a0, a1),
        nr::UNAME => uname(k, a0),
        nr::CLOCK_GETTIME => {
            let ns = now_ns(k);
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
            b[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
            write_user(k, a1, &b)
        }
        nr::NANOSLEEP => return sleep(k, a0),
        nr::CLOCK_NANOSLEEP => return sleep(k, a2),
        nr::FUTEX => futex(k, a0, a1, a2),
        nr::EXIT | nr::EXIT_GROUP => {
            k.kill(me, ExitReason::Exit(a0 & 0xff));
            return;
        }
        other => {
            let name = k.task(me).name.clone();
            if let Some(st) = k.task_mut(me).linux.as_mut()
                && other < 512
                && st.enosys_logged[(other / 64) as usize] & (1 << (other % 64)) == 0
            {
                st.enosys_logged[(other / 64) as usize] |= 1 << (other % 64);
                kevent!("linux.enosys", task = name.as_str(), nr = other);
            }
            neg(errno::ENOSYS)
        }
    };
    k.task_mut(me).context.rax = result;
}

fn write_user(k: &Kernel, at: u64, bytes: &[u8]) -> u64 {
    match UserSlice::new(at, bytes.len() as u64)
        .and_then(|s| s.write(k.space_of(k.current()), bytes))
    {
        Ok(()) => 0,
        Err(_) => neg(errno::EFAULT),
    }
}

fn zero_out(k: &Kernel, at: u64, len: usize) -> u64 {
    if at == 0 {
        0
    } else {
        write_user(k, at, &vec![0u8; len])
    }
}

fn write(k: &mut Kernel, fd: u64, pieces: &[(u64, u64)]) -> u64 {
    if fd != 1 && fd != 2 {
        return neg(errno::EBADF);
    }
    let mut text = Vec::new();
    for &(ptr, len) in pieces {
        let len = len.min(WRITE_MAX - text.len() as u64);
        let start = text.len();
        text.resize(start + len as usize, 0);
        if UserSlice::new(ptr, len)
            .and_then(|s| s.read(k.space_of(k.current()), &mut text[start..]))
            .is_err()
        {
            return neg(errno::EFAULT);
        }
    }
    let written = text.len() as u64;
    let me = k.current();
    let t = k.task_mut(me);
    let st = t.linux.as_mut().expect("linux task");
    st.pending_line.extend_from_slice(&text);
    // Print whole lines; keep a partial one (bounded) for the next write.
    let cut = match st.pending_line.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if st.pending_line.len() > 4096 => st.pending_line.len(),
        None => return written,
    };
    let lines: Vec<u8> = st.pending_line.drain(..cut).collect();
    print_lines(&t.name, &lines);
    written
}

fn print_lines(name: &str, bytes: &[u8]) {
    crate::console::print_task_lines(name, &String::from_utf8_lossy(bytes));
}

/// Prints what a dying task left without a final newline.
pub fn flush_output(k: &mut Kernel, id: kerncore::slab::Id) {
    let t = k.task_mut(id);
    if let Some(st) = t.linux.as_mut()
        && !st.pending_line.is_empty()
    {
        let rest = core::mem::take(&mut st.pending_line);
        print_lines(&t.name, &rest);
    }
}

fn writev(k: &mut Kernel, fd: u64, iov: u64, count: u64) -> u64 {
    if count > 1024 {
        return neg(errno::EINVAL);
    }
    let mut raw = vec![0u8; count as usize * 16];
    if UserSlice::new(iov, raw.len() as u64)
        .and_then(|s| s.read(k.space_of(k.current()), &mut raw))
        .is_err()
    {
        return neg(errno::EFAULT);
    }
    let pieces: Vec<(u64, u64)> = raw
        .chunks(16)
        .map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..].try_into().unwrap()),
            )
        })
        .collect();
    write(k, fd, &pieces)
}

fn page_flags(prot: u64) -> u64 {
    let mut f = NO_EXECUTE;
    if prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        f |= USER;
    }
    if prot & PROT_WRITE != 0 {
        f |= WRITABLE;
    }
    if prot & PROT_EXEC != 0 {
        f &= !NO_EXECUTE;
    }
    f
}

fn is_anon(st: &LinuxState, addr: u64) -> bool {
    (MMAP_BASE..MMAP_END).contains(&addr) || (st.brk_start..st.brk_start + BRK_MAX).contains(&addr)
}

/// Maps fresh zeroed pages over `[at, at + pages)`, freeing anonymous
/// pages already there; on failure nothing new stays mapped.
fn map_fresh(k: &mut Kernel, at: u64, pages: u64, flags: u64) -> Result<(), u64> {
    let me = k.current();
    let t = k.task_mut(me);
    // Memory objects' pages are not the personality's to replace or free.
    if t.mappings
        .iter()
        .any(|m| m.vaddr < at + pages * PAGE_SIZE && at < m.vaddr + m.pages * PAGE_SIZE)
    {
        return Err(errno::ENOMEM);
    }
    let space = t.space.as_mut().expect("live task");
    for i in 0..pages {
        if let Some(f) = space.unmap(at + i * PAGE_SIZE) {
            let _ = frames::free(f);
        }
    }
    for i in 0..pages {
        let mapped = frames::alloc_zeroed().ok_or(errno::ENOMEM).and_then(|f| {
            space.map(at + i * PAGE_SIZE, f, flags).map_err(|_| {
                let _ = frames::free(f);
                errno::ENOMEM
            })
        });
        if let Err(e) = mapped {
            for j in 0..i {
                if let Some(f) = space.unmap(at + j * PAGE_SIZE) {
                    let _ = frames::free(f);
                }
            }
            return Err(e);
        }
    }
    // SAFETY: reloading the running task's own CR3 flushes stale entries.
    unsafe { arch::load_cr3(space.pml4()) };
    Ok(())
}

fn mmap(k: &mut Kernel, addr: u64, len: u64, prot: u64, flags: u64, fd: u64) -> u64 {
    if prot & PROT_WRITE != 0 && prot & PROT_EXEC != 0 {
        return neg(errno::EACCES);
    }
    let _ = fd; // anonymous mappings ignore it
    if flags & MAP_ANONYMOUS == 0 {
        // No files to map.
        return neg(errno::EBADF);
    }
    if len == 0 || len > MMAP_END - MMAP_BASE {
        return neg(errno::EINVAL);
    }
    let pages = len.div_ceil(PAGE_SIZE);
    let me = k.current();
    let st = k.task_mut(me).linux.as_mut().expect("linux task");
    let at = if flags & MAP_FIXED != 0 {
        if !addr.is_multiple_of(PAGE_SIZE)
            || !is_anon(st, addr)
            || !is_anon(st, addr + pages * PAGE_SIZE - 1)
        {
            return neg(errno::EINVAL);
        }
        addr
    } else {
        let at = st.mmap_next;
        if at + pages * PAGE_SIZE > MMAP_END {
            return neg(errno::ENOMEM);
        }
        // A page of gap keeps neighbouring mappings from running together.
        st.mmap_next = at + (pages + 1) * PAGE_SIZE;
        at
    };
    match map_fresh(k, at, pages, page_flags(prot)) {
        Ok(()) => at,
        Err(e) => neg(e),
    }
}

fn munmap(k: &mut Kernel, addr: u64, len: u64) -> u64 {
    if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
        return neg(errno::EINVAL);
    }
    let me = k.current();
    let t = k.task_mut(me);
    let st = t.linux.as_ref().expect("linux task");
    let pages: Vec<u64> = (0..len.div_ceil(PAGE_SIZE))
        .map(|i| addr + i * PAGE_SIZE)
        .filter(|&p| is_anon(st, p))
        .filter(|&p| {
            !t.mappings
                .iter()
                .any(|m| (m.vaddr..m.vaddr + m.pages * PAGE_SIZE).contains(&p))
        })
        .collect();
    let space = t.space.as_mut().expect("live task");
    for p in pages {
        if let Some(f) = space.unmap(p) {
            let _ = frames::free(f);
        }
    }
    // SAFETY: as in `map_fresh`.
    unsafe { arch::load_cr3(space.pml4()) };
    0
}

fn mprotect(k: &mut Kernel, addr: u64, len: u64, prot: u64) -> u64 {
    if prot & PROT_WRITE != 0 && prot & PROT_EXEC != 0 {
        return neg(errno::EACCES);
    }
    if !addr.is_multiple_of(PAGE_SIZE) {
        return neg(errno::EINVAL);
    }
    let me = k.current();
    let t = k.task_mut(me);
    let end = addr.saturating_add(len);
    if t.mappings
        .iter()
        .any(|m| m.vaddr < end && addr < m.vaddr + m.pages * PAGE_SIZE)
    {
        // Shared memory objects keep the rights they were mapped with.
        return neg(errno::EACCES);
    }
    let space = t.space.as_mut().expect("live task");
    let mut result = 0;
    for i in 0..len.div_ceil(PAGE_SIZE) {
        match space.protect(addr + i * PAGE_SIZE, page_flags(prot)) {
            Ok(true) => {}
            Ok(false) => result = neg(errno::ENOMEM),
            Err(_) => result = neg(errno::EACCES),
        }
    }
    // SAFETY: as in `map_fresh`.
    unsafe { arch::load_cr3(space.pml4()) };
    result
}

fn brk(k: &mut Kernel, want: u64) -> u64 {
    let me = k.current();
    let st = k.task(me).linux.as_ref().expect("linux task");
    let (start, end) = (st.brk_start, st.brk_end);
    if want < start || want > start + BRK_MAX {
        return end;
    }
    let (old_top, new_top) = (
        end.next_multiple_of(PAGE_SIZE),
        want.next_multiple_of(PAGE_SIZE),
    );
    if new_top > old_top {
        if map_fresh(
            k,
            old_top,
            (new_top - old_top) / PAGE_SIZE,
            USER | WRITABLE | NO_EXECUTE,
        )
        .is_err()
        {
            return end;
        }
    } else if new_top < old_top {
        munmap(k, new_top, old_top - new_top);
    }
    k.task_mut(me).linux.as_mut().expect("linux task").brk_end = want;
    want
}

fn getrandom(k: &mut Kernel, buf: u64, len: u64) -> u64 {
    let len = len.min(4096);
    let me = k.current();
    let st = k.task_mut(me).linux.as_mut().expect("linux task");
    let mut bytes = vec![0u8; len as usize];
    for b in bytes.iter_mut() {
        st.rng ^= st.rng << 13;
        st.rng ^= st.rng >> 7;
        st.rng ^= st.rng << 17;
        *b = st.rng as u8;
    }
    match write_user(k, buf, &bytes) {
        0 => len,
        e => e,
    }
}

fn uname(k: &Kernel, buf: u64) -> u64 {
    let mut b = [0u8; 65 * 6];
    for (i, v) in ["jitos", "jitos", "6.0.0-jitos", "#1", "x86_64", ""]
        .iter()
        .enumerate()
    {
        b[i * 65..i * 65 + v.len()].copy_from_slice(v.as_bytes());
    }
    write_user(k, buf, &b)
}

fn now_ns(k: &Kernel) -> u64 {
    let hz = k.tsc_hz.max(1) as u128;
    (arch::rdtsc() as u128 * 1_000_000_000 / hz) as u64
}

fn sleep(k: &mut Kernel, req: u64) {
    let me = k.current();
    let mut ts = [0u8; 16];
    if UserSlice::new(req, 16)
        .and_then(|s| s.read(k.space_of(me), &mut ts))
        .is_err()
    {
        k.task_mut(me).context.rax = neg(errno::EFAULT);
        return;
    }
    let sec = u64::from_le_bytes(ts[..8].try_into().unwrap());
    let nsec = u64::from_le_bytes(ts[8..].try_into().unwrap());
    let ms = sec.saturating_mul(1000).saturating_add(nsec / 1_000_000);
    let ticks = ms.div_ceil(ipc_abi::syscall::TICK_MS);
    k.set_result(me, Ok(0));
    if ticks > 0 {
        k.block_current(TaskState::Sleeping {
            until: arch::apic::ticks().saturating_add(ticks),
        });
    }
}

fn futex(k: &Kernel, addr: u64, op: u64, val: u64) -> u64 {
    match op & FUTEX_CMD_MASK {
        FUTEX_WAKE => 0,
        FUTEX_WAIT => {
            let mut w = [0u8; 4];
            if UserSlice::new(addr, 4)
                .and_then(|s| s.read(k.space_of(k.current()), &mut w))
                .is_err()
            {
                return neg(errno::EFAULT);
            }
            if u32::from_le_bytes(w) as u64 != val & 0xffff_ffff {
                neg(errno::EAGAIN)
            } else {
                // One thread: nobody could ever wake it.
                neg(errno::ETIMEDOUT)
            }
        }
        _ => neg(errno::ENOSYS),
    }
}
