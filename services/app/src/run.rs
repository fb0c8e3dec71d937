//! One run of a program's `main`, ended the way C ends a program, but
//! returning to the app host instead of ending it: `exit(code)` anywhere in
//! the program comes back here as if `main` had returned `code`, then the
//! handlers the program registered (`atexit`, `on_exit`, `__cxa_atexit`)
//! run in reverse order and its output is flushed. That is what lets one
//! app host run a program at several levels, or several programs, in turn,
//! each as a complete C program. `_exit`, `_Exit` and `quick_exit` still end
//! the app host at once (they skip the handlers in C too).
//!
//! The way back is `enter` / `leave` ([`guarded`], [`program_exit`]): a call that records
//! its stack pointer and callee-saved registers, and an exit that restores
//! them, like `setjmp`/`longjmp`. Only program code and the C library lie
//! between the two (frames with nothing to drop), as after a C `longjmp`.

use std::ffi::{c_int, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A handler the program registered, in registration order.
#[derive(Clone, Copy)]
enum Handler {
    /// `atexit(f)`
    Plain(extern "C" fn()),
    /// `on_exit(f, arg)`: `f(status, arg)`
    WithStatus(extern "C" fn(c_int, *mut c_void), usize),
    /// `__cxa_atexit(f, arg, dso)`: `f(arg)`
    WithArg(extern "C" fn(*mut c_void), usize),
}

static HANDLERS: Mutex<Vec<Handler>> = Mutex::new(Vec::new());

/// The stack pointer [`program_exit`] returns to; 0 outside a run.
static RETURN_STACK: AtomicU64 = AtomicU64::new(0);

/// The status of the run under way, for `on_exit` handlers.
static STATUS: AtomicU64 = AtomicU64::new(0);

/// The program's `main` as the app host calls it.
pub type Main = extern "C" fn(c_int, *const *const std::ffi::c_char) -> c_int;

/// Runs `main(argc, argv)` to its end: a return or an `exit`, then the
/// program's exit handlers (an `exit` inside one of those sets the status
/// and the rest still run, as in glibc). Returns the status.
pub fn run(main: Main, argc: c_int, argv: *const *const std::ffi::c_char) -> c_int {
    HANDLERS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let mut status = guarded(main, argc, argv);
    loop {
        STATUS.store(status as u32 as u64, Ordering::SeqCst);
        if HANDLERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
        {
            break;
        }
        let after = guarded(run_handlers, 0, std::ptr::null());
        if after != HANDLERS_DONE {
            status = after;
        }
    }
    crate::exports::flush();
    status
}

/// What [`run_handlers`] returns when no handler called `exit` (any
/// status a handler passes to `exit` is one byte, so this is none).
const HANDLERS_DONE: c_int = c_int::MIN;

/// Runs the registered handlers, last first, each removed before it runs.
extern "C" fn run_handlers(_: c_int, _: *const *const std::ffi::c_char) -> c_int {
    loop {
        let next = HANDLERS.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match next {
            None => return HANDLERS_DONE,
            Some(Handler::Plain(f)) => f(),
            Some(Handler::WithStatus(f, arg)) => f(
                STATUS.load(Ordering::SeqCst) as u32 as c_int,
                arg as *mut c_void,
            ),
            Some(Handler::WithArg(f, arg)) => f(arg as *mut c_void),
        }
    }
}

/// `f(argc, argv)`, to which [`program_exit`] can return early.
fn guarded(f: Main, argc: c_int, argv: *const *const std::ffi::c_char) -> c_int {
    let outer = RETURN_STACK.load(Ordering::SeqCst);
    // SAFETY: `enter` calls `f` with the System V convention after saving
    // the callee-saved registers on this stack and its stack pointer in
    // RETURN_STACK; `leave` restores exactly those, so either way this
    // returns as from an ordinary call.
    let status = unsafe { enter(f, argc, argv, RETURN_STACK.as_ptr()) };
    RETURN_STACK.store(outer, Ordering::SeqCst);
    status
}

/// The program's `exit(code)`: back to the run under way.
pub extern "C" fn program_exit(code: c_int) -> ! {
    let stack = RETURN_STACK.load(Ordering::SeqCst);
    if stack == 0 {
        // Not inside a run (the app host's own code): end for real.
        crate::finish(code)
    }
    // SAFETY: `stack` is the stack pointer `enter` saved in a call that has
    // not returned yet (it resets RETURN_STACK when it does): the frames
    // above it belong to the program and the C library, which C lets
    // `exit` abandon.
    unsafe { leave(stack, code) }
}

/// `atexit(f)` for the program.
pub extern "C" fn program_atexit(f: extern "C" fn()) -> c_int {
    register(Handler::Plain(f))
}

/// `on_exit(f, arg)` for the program.
pub extern "C" fn program_on_exit(f: extern "C" fn(c_int, *mut c_void), arg: *mut c_void) -> c_int {
    register(Handler::WithStatus(f, arg as usize))
}

/// `__cxa_atexit(f, arg, dso)` for the program.
pub extern "C" fn program_cxa_atexit(
    f: extern "C" fn(*mut c_void),
    arg: *mut c_void,
    _dso: *mut c_void,
) -> c_int {
    register(Handler::WithArg(f, arg as usize))
}

fn register(h: Handler) -> c_int {
    let mut list = HANDLERS.lock().unwrap_or_else(|p| p.into_inner());
    // C guarantees at least 32; refuse (as glibc would on no memory)
    // rather than grow without bound.
    if list.len() >= 65536 {
        return -1;
    }
    list.push(h);
    0
}

/// `enter(f, argc, argv, save)`: pushes the callee-saved registers, stores
/// the stack pointer at `*save`, calls `f(argc, argv)` and returns its
/// result. Entry leaves the stack at 8 mod 16; six pushes and 8 bytes make
/// it 0 at the call.
#[unsafe(naked)]
unsafe extern "C" fn enter(
    f: Main,
    argc: c_int,
    argv: *const *const std::ffi::c_char,
    save: *mut u64,
) -> c_int {
    // SAFETY: a plain System V function: it keeps every callee-saved
    // register and returns to its caller (directly, or through `leave`).
    core::arch::naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "mov [rcx], rsp",
        "mov rax, rdi",
        "mov edi, esi",
        "mov rsi, rdx",
        "call rax",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// `leave(stack, code)`: returns `code` from the `enter` that saved
/// `stack`.
#[unsafe(naked)]
unsafe extern "C" fn leave(stack: u64, code: c_int) -> ! {
    // SAFETY: `stack` points at what `enter` pushed; popping it and
    // returning finishes that `enter` call with `code`.
    core::arch::naked_asm!(
        "mov rsp, rdi",
        "mov eax, esi",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}
