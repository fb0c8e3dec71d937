//! The Linux-ABI personality: the subset of Linux x86-64 syscalls that a
//! statically linked Rust `std` program with static glibc calls, for tasks
//! spawned with `SPAWN_LINUX`. Anything else returns `-ENOSYS` and is logged
//! once per number. There are no files, signals or threads: standard output
//! and error go to the console, signal calls succeed without effect, and
//! memory calls work on anonymous memory under the same W^X rule as
//! everything else. `docs/linux.md` has the table.

use crate::mem::frames;
use crate::mem::user::{Access, RangeError, UserPages};
use crate::state::Kernel;
use crate::task::{ExitReason, TaskState};
use crate::usercopy::UserSlice;
use crate::{arch, kevent};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ipc_abi::layout::{PAGE_SIZE, USER_END, USER_STACK_TOP};
use ipc_abi::linux::{BRK_MAX, MMAP_BASE, MMAP_END, auxv, errno, nr, *};
use kerncore::elf::LoadPlan;

/// Largest single write to the console.
const WRITE_MAX: u64 = 64 * 1024;
/// Longest partial line kept back between writes.
pub const PENDING_MAX: usize = 4096;

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
    /// several pieces), for standard output and standard error apart.
    pending: [Vec<u8>; 2],
}

impl LinuxState {
    /// The break may grow up to here: `BRK_MAX` above the image, never
    /// into the mmap area or past user space.
    fn brk_limit(&self) -> u64 {
        let mut limit = self.brk_start.saturating_add(BRK_MAX).min(USER_END);
        if self.brk_start < MMAP_BASE {
            limit = limit.min(MMAP_BASE);
        }
        limit
    }

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
            pending: [Vec::new(), Vec::new()],
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
    let c = *k.task(me).context;
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
        // A process is one task here: a signal can only go to itself.
        nr::KILL | nr::TKILL => return signal_self(k, a0, a1),
        nr::TGKILL => {
            if a0 != a1 {
                neg(errno::ESRCH)
            } else {
                return signal_self(k, a1, a2);
            }
        }
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
            if let Some(st) = k.task_mut(me).personality.linux_mut()
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

/// `kill`/`tkill` of `target` with `signal`: only the task itself (or
/// `0`, its process group) exists. No handler ever runs, so a signal whose
/// default is to terminate ends the task (`abort()` raises `SIGABRT` this
/// way) and the others are ignored.
fn signal_self(k: &mut Kernel, target: u64, signal: u64) {
    let me = k.current();
    let result = if target != 0 && target != k.task(me).serial {
        neg(errno::ESRCH)
    } else {
        match sig::default_action(signal) {
            _ if signal == 0 => 0,
            None => neg(errno::EINVAL),
            Some(sig::Default::Ignore) => 0,
            Some(sig::Default::Terminate) => {
                k.kill(me, ExitReason::Signal(signal));
                return;
            }
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
    let st = t.personality.linux_mut().expect("linux task");
    let stream = (fd - 1) as usize;
    let pending = &mut st.pending[stream];
    pending.extend_from_slice(&text);
    // Print whole lines; keep a partial one (at most PENDING_MAX bytes)
    // for the next write.
    let mut cut = pending
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    if pending.len() - cut > PENDING_MAX {
        cut = pending.len();
    }
    if cut == 0 {
        return written;
    }
    let lines: Vec<u8> = pending.drain(..cut).collect();
    pending.shrink_to(PENDING_MAX);
    print_lines(&t.name, stream, &lines);
    written
}

/// Prints a task's output lines: standard output tagged `[name]`,
/// standard error `[name:err]`.
fn print_lines(name: &str, stream: usize, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if stream == 0 {
        crate::console::print_task_lines(name, &text);
    } else {
        let mut tag = String::from(name);
        tag.push_str(":err");
        crate::console::print_task_lines(&tag, &text);
    }
}

/// Prints what a task has written without a final newline: when it dies,
/// and before it logs an event, so that the console keeps the order in
/// which things happened.
pub fn flush_output(k: &mut Kernel, id: kerncore::slab::Id) {
    let t = k.task_mut(id);
    if let Some(st) = t.personality.linux_mut() {
        for stream in 0..2 {
            if !st.pending[stream].is_empty() {
                let rest = core::mem::take(&mut st.pending[stream]);
                print_lines(&t.name, stream, &rest);
            }
        }
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

fn access(prot: u64) -> Access {
    Access {
        user: prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0,
        write: prot & PROT_WRITE != 0,
        exec: prot & PROT_EXEC != 0,
        uncached: false,
    }
}

/// Where the personality hands out memory: the mmap area and the break's
/// area. Everything else (the image, the stack, memory objects) is not its
/// to replace or free.
fn anon_areas(st: &LinuxState) -> [(u64, u64); 2] {
    [(MMAP_BASE, MMAP_END), (st.brk_start, st.brk_limit())]
}

fn is_anon(st: &LinuxState, range: UserPages) -> bool {
    anon_areas(st)
        .iter()
        .any(|&(lo, hi)| range.start() >= lo && range.end() <= hi)
}

/// The anonymous pages of `range`, or an error if memory objects are
/// mapped there.
fn own_range(k: &Kernel, addr: u64, len: u64) -> Result<UserPages, u64> {
    let range = UserPages::new(addr, len).map_err(|e| match e {
        RangeError::Unaligned | RangeError::Empty => errno::EINVAL,
        RangeError::NotUser => errno::ENOMEM,
    })?;
    if k.task(k.current()).maps_object_in(range) {
        return Err(errno::EACCES);
    }
    Ok(range)
}

fn free_frame(f: u64) {
    let _ = frames::free(f);
}

/// Maps fresh zeroed pages over `range`, freeing anonymous pages already
/// there; on failure nothing new stays mapped. Asks for no more frames
/// than are free, so a huge request fails at once.
fn map_fresh(k: &mut Kernel, range: UserPages, access: Access) -> Result<(), u64> {
    if range.count() > frames::stats().free {
        return Err(errno::ENOMEM);
    }
    let me = k.current();
    let space = k.task_mut(me).space.as_mut().expect("live task");
    space.unmap(range, free_frame);
    let mut got = Vec::new();
    if got.try_reserve_exact(range.count() as usize).is_err() {
        return Err(errno::ENOMEM);
    }
    for _ in 0..range.count() {
        match frames::alloc_zeroed() {
            Some(f) => got.push(f),
            None => {
                got.into_iter().for_each(free_frame);
                return Err(errno::ENOMEM);
            }
        }
    }
    if space.map(range, got.iter().copied(), access).is_err() {
        got.into_iter().for_each(free_frame);
        return Err(errno::ENOMEM);
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
    if len == 0 {
        return neg(errno::EINVAL);
    }
    let Some(len) = len.checked_next_multiple_of(PAGE_SIZE) else {
        return neg(errno::ENOMEM);
    };
    let me = k.current();
    let st = k.task_mut(me).personality.linux_mut().expect("linux task");
    let range = if flags & MAP_FIXED != 0 {
        match UserPages::new(addr, len) {
            Ok(r) if is_anon(st, r) => r,
            Ok(_) | Err(RangeError::NotUser) => return neg(errno::ENOMEM),
            Err(_) => return neg(errno::EINVAL),
        }
    } else {
        // A page of gap keeps neighbouring mappings from running together.
        let Some(next) = len
            .checked_add(PAGE_SIZE)
            .and_then(|l| st.mmap_next.checked_add(l))
        else {
            return neg(errno::ENOMEM);
        };
        match UserPages::new(st.mmap_next, len) {
            Ok(r) if r.end() <= MMAP_END => {
                st.mmap_next = next;
                r
            }
            _ => return neg(errno::ENOMEM),
        }
    };
    if k.task(me).maps_object_in(range) {
        return neg(errno::ENOMEM);
    }
    match map_fresh(k, range, access(prot)) {
        Ok(()) => range.start(),
        Err(e) => neg(e),
    }
}

fn munmap(k: &mut Kernel, addr: u64, len: u64) -> u64 {
    let range = match UserPages::new(addr, len) {
        Ok(r) => r,
        Err(_) => return neg(errno::EINVAL),
    };
    let me = k.current();
    let t = k.task_mut(me);
    let st = t.personality.linux().expect("linux task");
    // Only the personality's own areas, minus memory objects' pages, which
    // belong to their objects (another task may still map those frames).
    let mut pieces: heapless::Vec<UserPages, 4> = heapless::Vec::new();
    for (lo, hi) in anon_areas(st) {
        let (s, e) = (range.start().max(lo), range.end().min(hi));
        if s < e
            && let Ok(r) = UserPages::new(s, e - s)
        {
            let _ = pieces.push(r);
        }
    }
    let objects: Vec<UserPages> = t.mappings.iter().map(|m| m.range).collect();
    let space = t.space.as_mut().expect("live task");
    for piece in pieces {
        // Unmap the gaps between memory objects inside the piece.
        let mut inside: Vec<UserPages> = objects
            .iter()
            .filter(|o| piece.overlaps(o.start(), o.end()))
            .copied()
            .collect();
        inside.sort_by_key(|o| o.start());
        let mut at = piece.start();
        let bounds = inside
            .iter()
            .map(|o| (o.start(), o.end()))
            .chain(core::iter::once((piece.end(), piece.end())));
        for (lo, hi) in bounds {
            if lo > at
                && let Ok(gap) = UserPages::new(at, lo.min(piece.end()) - at)
            {
                space.unmap(gap, free_frame);
            }
            at = at.max(hi);
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
    if len == 0 && addr.is_multiple_of(PAGE_SIZE) {
        return 0;
    }
    let range = match own_range(k, addr, len) {
        Ok(r) => r,
        // Shared memory objects keep the rights they were mapped with.
        Err(e) => return neg(e),
    };
    let me = k.current();
    let space = k.task_mut(me).space.as_mut().expect("live task");
    let result = match space.protect(range, access(prot)) {
        Ok(n) if n == range.count() => 0,
        Ok(_) => neg(errno::ENOMEM),
        Err(_) => neg(errno::EACCES),
    };
    // SAFETY: as in `map_fresh`.
    unsafe { arch::load_cr3(space.pml4()) };
    result
}

fn brk(k: &mut Kernel, want: u64) -> u64 {
    let me = k.current();
    let st = k.task(me).personality.linux().expect("linux task");
    let (start, end, limit) = (st.brk_start, st.brk_end, st.brk_limit());
    if want < start || want > limit {
        return end;
    }
    let (old_top, new_top) = (
        end.next_multiple_of(PAGE_SIZE),
        want.next_multiple_of(PAGE_SIZE),
    );
    if new_top > old_top {
        let grown = own_range(k, old_top, new_top - old_top)
            .and_then(|r| map_fresh(k, r, Access::READ_WRITE));
        if grown.is_err() {
            return end;
        }
    } else if new_top < old_top {
        munmap(k, new_top, old_top - new_top);
    }
    k.task_mut(me)
        .personality
        .linux_mut()
        .expect("linux task")
        .brk_end = want;
    want
}

fn getrandom(k: &mut Kernel, buf: u64, len: u64) -> u64 {
    let len = len.min(4096);
    let me = k.current();
    let st = k.task_mut(me).personality.linux_mut().expect("linux task");
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
    let hz = k.tsc_hz().max(1) as u128;
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
