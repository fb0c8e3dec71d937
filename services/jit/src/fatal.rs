//! LLVM's errors as answers, never as an abort in the middle of a request.
//!
//! - A *fatal error* (`report_fatal_error`: a construct the code generator
//!   cannot select, ...) cannot be returned from. The handler answers the
//!   client whose request is being served with `Failed`, naming what was
//!   being done (function and tier) and LLVM's words, logs `jit.fatal`,
//!   and exits with [`FATAL_EXIT_CODE`]; the supervisor restarts the JIT,
//!   and the app host, which got an answer instead of a dead server, falls
//!   back a tier instead of sending the request again.
//! - An *error diagnostic* (a bad inline-asm string) would make LLVM print
//!   it and `exit(1)`; the handler collects it instead, and the compile
//!   that caused it ends as a `Failed` answer while the JIT stays up.

use ipc_abi::ipc::Message;
use ipc_abi::proto::jit::JitReply;
use ipc_abi::proto::{self, ServerFrame, WireReply};
use llvm_sys::LLVMDiagnosticSeverity;
use llvm_sys::core::{LLVMContextSetDiagnosticHandler, LLVMDisposeMessage};
use llvm_sys::core::{LLVMGetDiagInfoDescription, LLVMGetDiagInfoSeverity};
use llvm_sys::error_handling::LLVMInstallFatalErrorHandler;
use llvm_sys::prelude::{LLVMContextRef, LLVMDiagnosticInfoRef};
use rt::sys;
use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;

/// The JIT's exit status after a fatal error (sysexits' `EX_SOFTWARE`).
pub const FATAL_EXIT_CODE: i32 = 70;

/// What the request being served is doing ("compiling fib at O2"), when a
/// client waits for the answer.
static SERVING: Mutex<Option<String>> = Mutex::new(None);
/// Error diagnostics since the last [`take_errors`].
static ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs the fatal-error handler (once, at start-up).
pub fn install() {
    // SAFETY: `on_fatal` has the signature LLVM expects and never returns.
    unsafe { LLVMInstallFatalErrorHandler(Some(on_fatal)) };
}

/// Routes `ctx`'s diagnostics to [`take_errors`] instead of stderr and
/// `exit(1)`.
pub fn watch(ctx: LLVMContextRef) {
    // SAFETY: `ctx` is a live context; the handler has the expected
    // signature and ignores its opaque pointer.
    unsafe { LLVMContextSetDiagnosticHandler(ctx, Some(on_diagnostic), std::ptr::null_mut()) };
}

/// Says what the request being served is doing, or that none is (`None`).
pub fn serving(what: Option<String>) {
    *SERVING.lock().unwrap_or_else(|e| e.into_inner()) = what;
}

/// The error diagnostics collected since the last call.
pub fn take_errors() -> Vec<String> {
    std::mem::take(&mut *ERRORS.lock().unwrap_or_else(|e| e.into_inner()))
}

extern "C" fn on_diagnostic(info: LLVMDiagnosticInfoRef, _: *mut c_void) {
    // SAFETY: LLVM passes a live diagnostic; the description is an owned
    // message disposed of here.
    unsafe {
        if LLVMGetDiagInfoSeverity(info) != LLVMDiagnosticSeverity::LLVMDSError {
            return;
        }
        let d = LLVMGetDiagInfoDescription(info);
        let text = CStr::from_ptr(d).to_string_lossy().into_owned();
        LLVMDisposeMessage(d);
        ERRORS.lock().unwrap_or_else(|e| e.into_inner()).push(text);
    }
}

extern "C" fn on_fatal(reason: *const c_char) {
    // SAFETY: LLVM passes a NUL-terminated reason.
    let reason = unsafe { CStr::from_ptr(reason) }
        .to_string_lossy()
        .into_owned();
    let reason = reason.trim().replace('\n', " ");
    let serving = SERVING.lock().unwrap_or_else(|e| e.into_inner()).take();
    let _ = sys::log_event(&format!(
        "jit.fatal while={} msg=\"{}\"",
        serving.as_deref().unwrap_or("idle").replace(' ', "_"),
        reason.replace('"', "'")
    ));
    eprintln!("jit: LLVM fatal error: {reason}");
    if let Some(what) = serving {
        let message = format!("LLVM fatal error while {what}: {reason}");
        let wire: WireReply<JitReply<'_>> =
            Ok(ServerFrame::Reply(JitReply::Failed { message: &message }));
        let mut reply = Message::new();
        if proto::encode(&mut reply, &wire, &[]).is_ok() {
            let _ = sys::reply(&reply);
        }
    }
    std::process::exit(FATAL_EXIT_CODE);
}
