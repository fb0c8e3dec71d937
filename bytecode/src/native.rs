//! Crossing between interpreted and native code under the System V ABI.
//!
//! [`call`] calls native code (the C library, compiled functions) with
//! arguments the interpreter placed ([`crate::abi::place`]). [`entry`] is
//! the other way: native code that calls an interpreted function lands in
//! it (through a stub that puts the function's index in `r11d`, as the
//! JIT's lazy stubs do) with the caller's registers and stack, and it hands
//! them to the handler the host registered with [`set_entry_handler`].
#![allow(unsafe_code, reason = "calls into and out of native code by address")]

use crate::abi::Placed;
use crate::format::Class;
use std::sync::OnceLock;

/// What [`call_shim`] reads and writes.
#[repr(C)]
struct CallFrame {
    func: u64,
    gp: [u64; 6],
    xmm: [u64; 8],
    stack: *const u64,
    stack_len: u64,
    al: u64,
    rax: u64,
    xmm0: u64,
    rdx: u64,
    xmm1: u64,
}

/// Calls native code at `addr` with arguments placed as System V wants;
/// `variadic` sets `al` to the number of XMM registers used. Returns the
/// result registers `ret` (up to two classes) name, in order: integers
/// from `rax` then `rdx`, floating values from `xmm0` then `xmm1`.
///
/// # Safety
/// `addr` must be code that takes these arguments (as the program's own
/// call would: the interpreter makes exactly the call the program makes).
pub unsafe fn call(addr: u64, placed: &Placed, variadic: bool, ret: &[Class]) -> [u64; 2] {
    let mut frame = CallFrame {
        func: addr,
        gp: placed.gp,
        xmm: placed.xmm,
        stack: placed.stack.as_ptr(),
        stack_len: placed.stack.len() as u64,
        al: if variadic { placed.xmm_used as u64 } else { 0 },
        rax: 0,
        xmm0: 0,
        rdx: 0,
        xmm1: 0,
    };
    // SAFETY: `frame` is valid for the call; the callee's contract is the
    // caller's (above).
    unsafe { call_shim(&mut frame) };
    let (mut ints, mut floats) = (
        [frame.rax, frame.rdx].into_iter(),
        [frame.xmm0, frame.xmm1].into_iter(),
    );
    let mut out = [0; 2];
    for (slot, class) in out.iter_mut().zip(ret) {
        *slot = match class {
            Class::Int { .. } | Class::Memory { .. } => ints.next(),
            Class::F32 | Class::F64 => floats.next(),
        }
        .unwrap_or(0);
    }
    out
}

/// The interpreter's calls on the program's behalf: exactly the calls the
/// program's own code makes (to the addresses it computed, with the
/// arguments it passes), which compiled code would make unchecked too.
pub fn program_call(addr: u64, args: &[(u64, Class)], variadic: bool, ret: &[Class]) -> [u64; 2] {
    // SAFETY: as safe as the program itself (above).
    unsafe {
        call(
            addr,
            &crate::abi::place(args.iter().copied()),
            variadic,
            ret,
        )
    }
}

/// As [`program_call`], for a function that may return twice (`setjmp`).
pub fn program_call_returns_twice(addr: u64, args: [u64; 2], then: &mut dyn FnMut(u64)) {
    // SAFETY: as safe as the program itself (see `program_call`).
    unsafe { call_returns_twice(addr, args, then) }
}

/// `call_shim(frame)`: copies the stack arguments (keeping the stack
/// 16-byte aligned at the call), loads the argument registers, calls, and
/// stores `rax` and `xmm0` back into `frame`.
#[unsafe(naked)]
unsafe extern "C" fn call_shim(frame: *mut CallFrame) {
    // SAFETY: saves and restores every callee-saved register it uses (rbp,
    // rbx) and returns with the stack as it found it.
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "push rbx",
        "sub rsp, 8",
        "mov rbx, rdi",
        "mov rcx, [rbx + 128]",
        "test rcx, 1",
        "jz 2f",
        "sub rsp, 8",
        "2:",
        "mov rsi, [rbx + 120]",
        "3:",
        "test rcx, rcx",
        "jz 4f",
        "dec rcx",
        "push qword ptr [rsi + rcx*8]",
        "jmp 3b",
        "4:",
        "mov rdi, [rbx + 8]",
        "mov rsi, [rbx + 16]",
        "mov rdx, [rbx + 24]",
        "mov rcx, [rbx + 32]",
        "mov r8, [rbx + 40]",
        "mov r9, [rbx + 48]",
        "movq xmm0, [rbx + 56]",
        "movq xmm1, [rbx + 64]",
        "movq xmm2, [rbx + 72]",
        "movq xmm3, [rbx + 80]",
        "movq xmm4, [rbx + 88]",
        "movq xmm5, [rbx + 96]",
        "movq xmm6, [rbx + 104]",
        "movq xmm7, [rbx + 112]",
        "mov rax, [rbx + 136]",
        "call qword ptr [rbx]",
        "mov [rbx + 144], rax",
        "movq [rbx + 152], xmm0",
        "mov [rbx + 160], rdx",
        "movq [rbx + 168], xmm1",
        "lea rsp, [rbp - 8]",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

const _: () = {
    assert!(core::mem::offset_of!(CallFrame, stack) == 120);
    assert!(core::mem::offset_of!(CallFrame, stack_len) == 128);
    assert!(core::mem::offset_of!(CallFrame, al) == 136);
    assert!(core::mem::offset_of!(CallFrame, rax) == 144);
    assert!(core::mem::offset_of!(CallFrame, xmm0) == 152);
    assert!(core::mem::offset_of!(CallFrame, rdx) == 160);
    assert!(core::mem::offset_of!(CallFrame, xmm1) == 168);
};

/// Calls native code at `addr` that may return twice (`setjmp`) with
/// integer arguments `args`, and runs `then` with its result each time it
/// returns: the first time, and again for every `longjmp` to it. `then`
/// runs inside this call's native frame, which is what keeps the jump
/// target alive for as long as the interpreted frame that called `setjmp`.
/// A `longjmp` abandons the native frames between (the interpreter's, as a
/// C `longjmp` abandons C frames): what they own is leaked, never dropped
/// twice.
///
/// # Safety
/// `addr` must be a function taking up to two integer arguments.
pub unsafe fn call_returns_twice(addr: u64, args: [u64; 2], then: &mut dyn FnMut(u64)) {
    let mut then: &mut dyn FnMut(u64) = then;
    // SAFETY: `twice_shim` calls `addr` with `args`, then `resume` with the
    // address of `then` (alive: it is this frame's) for each return.
    unsafe {
        twice_shim(
            addr,
            args[0],
            args[1],
            &mut then as *mut &mut dyn FnMut(u64) as u64,
        )
    };
}

extern "C" fn resume(then: u64, value: u64) {
    // SAFETY: `then` is the address `call_returns_twice` passed, whose
    // frame is below us on the stack and so alive.
    let then = unsafe { &mut *(then as *mut &mut dyn FnMut(u64)) };
    then(value)
}

/// `twice_shim(addr, a, b, then)`: `addr(a, b)`, then `resume(then,
/// result)`; a `longjmp` back into `addr`'s return lands before the second
/// call again, with `rbx` (callee-saved, so restored by `longjmp`) still
/// holding `then`.
#[unsafe(naked)]
unsafe extern "C" fn twice_shim(addr: u64, a: u64, b: u64, then: u64) {
    // SAFETY: a System V function that keeps rbx and rbp and returns with
    // the stack as it found it.
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "push rbx",
        "sub rsp, 8",
        "mov rbx, rcx",
        "mov rax, rdi",
        "mov rdi, rsi",
        "mov rsi, rdx",
        "call rax",
        "mov rdi, rbx",
        "mov rsi, rax",
        "call {resume}",
        "add rsp, 8",
        "pop rbx",
        "pop rbp",
        "ret",
        resume = sym resume,
    )
}

/// The argument registers of a call into an interpreted function, and
/// where its stack arguments are.
#[repr(C)]
#[derive(Debug)]
pub struct Incoming {
    pub gp: [u64; 6],
    pub xmm: [u64; 8],
    /// Set by [`Incoming::set_results`]: `xmm0`, `xmm1` and `rdx` on
    /// return (`rax` is the handler's own return value).
    ret_xmm0: u64,
    ret_xmm1: u64,
    ret_rdx: u64,
    _pad: u64,
}

impl Incoming {
    /// Puts `values` (of `classes`, up to two) where System V returns
    /// them; returns the value for `rax`.
    pub fn set_results(&mut self, classes: &[Class], values: [u64; 2]) -> u64 {
        let (mut ints, mut floats) = (Vec::new(), Vec::new());
        for (class, v) in classes.iter().zip(values) {
            match class {
                Class::Int { .. } | Class::Memory { .. } => ints.push(v),
                Class::F32 | Class::F64 => floats.push(v),
            }
        }
        self.ret_xmm0 = floats.first().copied().unwrap_or(0);
        self.ret_xmm1 = floats.get(1).copied().unwrap_or(0);
        self.ret_rdx = ints.get(1).copied().unwrap_or(0);
        ints.first().copied().unwrap_or(0)
    }
}

/// What [`entry`] calls: function index, registers, address of the first
/// stack argument; returns the value for `rax` (and sets the others with
/// [`Incoming::set_results`]).
pub type EntryHandler = fn(u32, &mut Incoming, u64) -> u64;

static HANDLER: OnceLock<EntryHandler> = OnceLock::new();

/// Registers where calls into interpreted functions go (once).
pub fn set_entry_handler(h: EntryHandler) {
    let _ = HANDLER.set(h);
}

extern "C" fn dispatch(index: u32, incoming: *mut Incoming, stack: u64) -> u64 {
    // SAFETY: `entry` passes its own save area, live for this call.
    let incoming = unsafe { &mut *incoming };
    match HANDLER.get() {
        Some(h) => h(index, incoming, stack),
        None => std::process::abort(),
    }
}

/// Where stubs for interpreted functions jump, with the function's index
/// in `r11d` and the caller's arguments untouched. Entry leaves the stack
/// at 8 mod 16; `push rbp` and 144 bytes make it 0 at the call.
#[unsafe(naked)]
pub extern "C" fn entry() {
    // SAFETY: reached only as the first instruction of a call (through a
    // stub): it saves the argument registers, calls `dispatch` under the
    // System V convention and returns to the caller with `rax` and `xmm0`
    // set and every callee-saved register kept.
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "sub rsp, 144",
        "mov [rsp], rdi",
        "mov [rsp + 8], rsi",
        "mov [rsp + 16], rdx",
        "mov [rsp + 24], rcx",
        "mov [rsp + 32], r8",
        "mov [rsp + 40], r9",
        "movq [rsp + 48], xmm0",
        "movq [rsp + 56], xmm1",
        "movq [rsp + 64], xmm2",
        "movq [rsp + 72], xmm3",
        "movq [rsp + 80], xmm4",
        "movq [rsp + 88], xmm5",
        "movq [rsp + 96], xmm6",
        "movq [rsp + 104], xmm7",
        "mov edi, r11d",
        "mov rsi, rsp",
        "lea rdx, [rbp + 16]",
        "call {dispatch}",
        "movq xmm0, [rsp + 112]",
        "movq xmm1, [rsp + 120]",
        "mov rdx, [rsp + 128]",
        "leave",
        "ret",
        dispatch = sym dispatch,
    )
}

const _: () = {
    assert!(core::mem::size_of::<Incoming>() == 144);
    assert!(core::mem::offset_of!(Incoming, ret_xmm0) == 112);
    assert!(core::mem::offset_of!(Incoming, ret_xmm1) == 120);
    assert!(core::mem::offset_of!(Incoming, ret_rdx) == 128);
};
