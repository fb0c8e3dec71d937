//! The JIT service: registers `jit` with the name service and answers
//! `ipc_abi::proto::jit` requests. A request that fails (IR that does not
//! parse or verify, an unresolved symbol, an unknown function) gets a
//! message back; the server goes on.
//!
//! It serves one app at a time and keeps that app's regions mapped: `Load`
//! sets the program up (globals, stubs, slots), each `Compile` links one
//! function and publishes it with one atomic store into its dispatch slot.
//! Its bookkeeping lives in the app's data region (`JitState`), so a
//! restarted server resumes with `Load { resume: true }`.

use crate::calls::CallCounts;
use crate::fatal;
use crate::inlining::Carried;
use crate::llvm::Llvm;
use crate::native::log_event;
use crate::orc::{self, Regions};
use crate::unit::{Program, UNIT_FUNCTION, Unit, global_symbol};
use ipc_abi::cap::Rights;
use ipc_abi::ipc::Message;
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto::jit::*;
use ipc_abi::proto::{self, ClientFrame, ProtoError, Protocol, ServerFrame, WireReply};
use llvm_sys::orc2::LLVMOrcThreadSafeContextGetContext;
use llvm_sys::prelude::LLVMModuleRef;
use rt::sys;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The app being served.
struct App {
    /// The session's JITs, one per level (their code generation differs:
    /// `Llvm::new_machine`), each made at its level's first compile
    /// (dropped first: they hold the regions', the symbols' and the
    /// program's context's addresses).
    linkers: [Option<orc::Linker>; 4],
    /// The badge of the client that loaded it (the supervisor gives each
    /// service its own badge on a looked-up endpoint): only that client
    /// may compile into its regions or replace it.
    owner: u64,
    program: Program,
    /// Boxed: LLVM's memory-manager callbacks hold its address.
    regions: Box<Regions>,
    /// What a function unit's external names resolve to (boxed: the
    /// linker holds its address).
    symbols: Box<orc::SymbolTable>,
    /// The app counts calls and loops: code below O3 counts too.
    counting: bool,
    /// The app's counters, when the `Load` passed them: inlining units
    /// choose their copies with the run's call counts.
    calls: Option<CallCounts>,
}

impl App {
    /// How function `index`'s unit at `level` treats its calls: from
    /// `inlining::FROM_LEVEL` on it carries copies, chosen with the run's
    /// call counts when they say something.
    fn unit(&self, index: usize, level: u8) -> Unit {
        if level < crate::inlining::FROM_LEVEL {
            return Unit::Function(index);
        }
        let functions = self.program.functions.len();
        Unit::Inlining(
            index,
            self.calls.as_ref().and_then(|c| c.of(functions, index)),
        )
    }
}

enum Answer {
    Welcome,
    Reply(JitReply<'static>),
    Failed(String),
    Error(ProtoError),
}

/// Serves the app; `allow_crashes` (a manifest argument, for tests) makes
/// it honour the test-only crash requests.
pub fn serve(llvm: &Llvm, allow_crashes: bool) -> ! {
    let ep = sys::endpoint_create().expect("endpoint");
    if let Err(e) = rt::names::register("jit", ep) {
        eprintln!("jit: cannot register: {e:?}");
        std::process::exit(2);
    }
    log_event("jit.serving");
    let mut msg = Message::new();
    let mut app: Option<App> = None;
    loop {
        if sys::recv(ep, &mut msg, 0).is_err() {
            continue;
        }
        let caps: Vec<u64> = msg.received_caps().iter().map(|&c| c as u64).collect();
        let (answer, after) = handle(llvm, &msg, &caps, &mut app, allow_crashes);
        for c in caps {
            let _ = sys::cap_drop(c);
        }
        let wire: WireReply<JitReply<'_>> = match &answer {
            Answer::Welcome => Ok(ServerFrame::Welcome {
                version: JitProtocol::VERSION,
            }),
            Answer::Reply(r) => Ok(ServerFrame::Reply(*r)),
            Answer::Failed(m) => Ok(ServerFrame::Reply(JitReply::Failed {
                message: m.as_str(),
            })),
            Answer::Error(e) => Err(*e),
        };
        let mut reply = Message::new();
        if proto::encode(&mut reply, &wire, &[]).is_err() {
            let _ = proto::encode(
                &mut reply,
                &WireReply::<JitReply<'_>>::Err(ProtoError::Malformed),
                &[],
            );
        }
        let _ = sys::reply(&reply);
        // A tier-up asked for with the first compile: done now, while the
        // app runs on the code it was just given.
        if let (Some((index, level)), Some(app)) = (after, app.as_mut()) {
            let started = Instant::now();
            match compile(llvm, app, (index, level), None, None) {
                Ok((address, _, _)) => log_event(&format!(
                    "jit.publish fn={} level={level} address={address:#x} guest_us={}",
                    event_word(&app.program.functions[index]),
                    started.elapsed().as_micros()
                )),
                Err(e) => {
                    eprintln!("jit: tier-up failed: {e}");
                    log_event("jit.tier_up_failed");
                }
            }
        }
    }
}

/// A name as one word of a log event.
fn event_word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.$-".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn handle(
    llvm: &Llvm,
    msg: &Message,
    caps: &[u64],
    app: &mut Option<App>,
    allow_crashes: bool,
) -> (Answer, Option<(usize, u8)>) {
    match proto::decode_request::<JitProtocol>(msg) {
        Err(e) => (Answer::Error(e), None),
        Ok(ClientFrame::Hello { .. }) => (Answer::Welcome, None),
        Ok(ClientFrame::Request(
            JitRequest::CrashIdle | JitRequest::Compile { crash: Some(_), .. },
        )) if !allow_crashes => {
            log_event("jit.refused what=test-crash-request");
            (Answer::Error(ProtoError::Denied), None)
        }
        Ok(ClientFrame::Request(JitRequest::CrashIdle)) => crash("idle"),
        Ok(ClientFrame::Request(JitRequest::Load {
            ir_len,
            exports_len,
            functions_len,
            resolver,
            resume,
            counters,
        })) => {
            // The fourth, the counters object, is optional.
            let (&[package, code, data], counts) = (caps.get(..3).unwrap_or(&[]), caps.get(3))
            else {
                return (Answer::Error(ProtoError::MissingCapability), None);
            };
            if let Some(a) = app.as_ref().filter(|a| a.owner != msg.badge) {
                log_event(&format!(
                    "jit.refused what=load-from-another-client client={} owner={}",
                    msg.badge, a.owner
                ));
                return (Answer::Error(ProtoError::Denied), None);
            }
            // A new app (or a reload) replaces the one served before.
            *app = None;
            for base in [JIT_PACKAGE_BASE, APP_CODE_BASE, APP_DATA_BASE] {
                let _ = sys::mem_unmap(base);
            }
            // Unmapped when the app it was for is dropped (above), or when
            // this load fails.
            let calls = match counts.map(|&c| CallCounts::map(c)).transpose() {
                Ok(c) => c,
                Err(m) => return (Answer::Failed(m), None),
            };
            let started = Instant::now();
            let lengths = (ir_len, exports_len, functions_len);
            let result = load(llvm, (package, code, data), lengths, resolver, resume);
            let _ = sys::mem_unmap(JIT_PACKAGE_BASE);
            match result {
                Ok((mut served, data_bytes)) => {
                    served.owner = msg.badge;
                    served.counting = counters;
                    served.calls = calls;
                    let us = started.elapsed().as_micros() as u64;
                    log_event(&format!(
                        "jit.load functions={} globals={} data_bytes={data_bytes} resume={} guest_us={us}",
                        served.program.functions.len(),
                        served.program.globals,
                        resume as u8
                    ));
                    let functions = served.program.functions.len() as u32;
                    *app = Some(served);
                    let reply = JitReply::Loaded {
                        functions,
                        data_bytes,
                        setup_us: us,
                    };
                    (Answer::Reply(reply), None)
                }
                Err(m) => {
                    for base in [APP_CODE_BASE, APP_DATA_BASE] {
                        let _ = sys::mem_unmap(base);
                    }
                    log_event("jit.load_failed");
                    (Answer::Failed(m), None)
                }
            }
        }
        Ok(ClientFrame::Request(JitRequest::Release)) => {
            if app.as_ref().is_some_and(|a| a.owner != msg.badge) {
                log_event(&format!(
                    "jit.refused what=release-from-another-client client={}",
                    msg.badge
                ));
                return (Answer::Error(ProtoError::Denied), None);
            }
            if app.take().is_some() {
                for base in [APP_CODE_BASE, APP_DATA_BASE] {
                    let _ = sys::mem_unmap(base);
                }
                log_event("jit.release");
            }
            (Answer::Reply(JitReply::Released), None)
        }
        Ok(ClientFrame::Request(JitRequest::CompileOsr {
            function,
            block,
            level,
        })) => {
            if level > 3 {
                return (Answer::Error(ProtoError::Malformed), None);
            }
            let (app, index, name) = match compile_target(app, msg.badge, function) {
                Ok(target) => target,
                Err(refusal) => return (refusal, None),
            };
            let started = Instant::now();
            match compile_osr(llvm, app, index, block, level) {
                Ok((address, code_bytes, inlining)) => {
                    let us = started.elapsed().as_micros() as u64;
                    log_event(&format!(
                        "jit.osr fn={name} index={index} block={block} level={level} address={address:#x} code_bytes={code_bytes} guest_us={us}{}",
                        inlined_words(inlining)
                    ));
                    let reply = JitReply::Compiled {
                        address,
                        code_bytes,
                        compile_us: us,
                    };
                    (Answer::Reply(reply), None)
                }
                Err(m) => {
                    log_event(&format!("jit.osr_failed fn={name} block={block}"));
                    (Answer::Failed(m), None)
                }
            }
        }
        Ok(ClientFrame::Request(JitRequest::Compile {
            function,
            level,
            then,
            crash: crash_at,
            profile,
        })) => {
            if level > 3 || then.is_some_and(|t| t > 3) {
                return (Answer::Error(ProtoError::Malformed), None);
            }
            let (app, index, name) = match compile_target(app, msg.badge, function) {
                Ok(target) => target,
                Err(refusal) => return (refusal, None),
            };
            let started = Instant::now();
            match compile(llvm, app, (index, level), profile.as_ref(), crash_at) {
                Ok((address, code_bytes, phases)) => {
                    let us = started.elapsed().as_micros() as u64;
                    log_event(&format!(
                        "jit.compile fn={name} index={index} level={level} address={address:#x} code_bytes={code_bytes} guest_us={us} {phases}"
                    ));
                    let reply = JitReply::Compiled {
                        address,
                        code_bytes,
                        compile_us: us,
                    };
                    (Answer::Reply(reply), then.map(|t| (index, t)))
                }
                Err(m) => {
                    log_event(&format!("jit.compile_failed fn={name}"));
                    (Answer::Failed(m), None)
                }
            }
        }
    }
}

/// Test only: dies the way a real bug would, with a fault the kernel
/// reports and the supervisor sees.
/// Test only: IR that makes LLVM's x86 code generator report a fatal
/// error (an AVX-512 intrinsic on a target without AVX-512).
const FATAL_IR: &str =
    "declare <16 x float> @llvm.x86.avx512.rsqrt14.ps.512(<16 x float>, <16 x float>, i16)
define <16 x float> @f(<16 x float> %x) {
  %r = call <16 x float> @llvm.x86.avx512.rsqrt14.ps.512(<16 x float> %x, <16 x float> %x, i16 -1)
  ret <16 x float> %r
}
";

fn crash(point: &str) -> ! {
    log_event(&format!("jit.crashing at={point}"));
    // SAFETY: not safe, on purpose: a write to address 0 kills this task.
    unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u64>(), 0) };
    unreachable!("the write to address 0 faulted")
}

/// Stores `address` into function `index`'s dispatch slot: the one write
/// that makes new code visible to the app; its tier byte first
/// (`tier`: `tier_byte_value(level)`, or 0 for a lazy stub), so that the
/// slot never holds code the byte does not describe.
fn publish(index: usize, address: u64, tier: u8) {
    let byte = tier_byte(index) as *const std::sync::atomic::AtomicU8;
    // SAFETY: the tier table lies in the data region, mapped read-write
    // here, MAX_FUNCTIONS bytes long (index < MAX_FUNCTIONS, checked at
    // load).
    unsafe { (*byte).store(tier, Ordering::Release) };
    let slot = slot(index) as *const AtomicU64;
    // SAFETY: the data region is mapped read-write here while the app is
    // served; slots are 8-byte aligned and lie in its first
    // APP_SLOT_BYTES (index < MAX_FUNCTIONS, checked at load); the app
    // only ever loads them.
    unsafe { (*slot).store(address, Ordering::Release) };
}

/// Writes `words` into the app's data region at `APP_STATE_BASE + 8 * at`.
fn write_state(at: usize, words: &[u64]) {
    for (i, w) in words.iter().enumerate() {
        let p = (APP_STATE_BASE + 8 * (at + i) as u64) as *mut u64;
        // SAFETY: the data region is mapped read-write here; the state area
        // holds MAX_GLOBALS + header words, and `load` checked the count.
        unsafe { p.write_volatile(*w) };
    }
}

fn read_state(words: usize) -> Vec<u64> {
    (0..words)
        .map(|i| {
            let p = (APP_STATE_BASE + 8 * i as u64) as *const u64;
            // SAFETY: as in `write_state`.
            unsafe { p.read_volatile() }
        })
        .collect()
}

/// Where a compile's time went: cutting the unit from the program,
/// optimizing it, generating and linking its code.
struct Phases {
    cut_us: u64,
    optimize_us: u64,
    codegen_us: u64,
    /// An inlining unit's: the callee bodies it carried, and the calls to
    /// program functions its code still makes (through slots).
    inlining: Inlined,
    /// A profile-guided unit's weights.
    guided: Option<crate::pgo::Guided>,
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cut_us={} optimize_us={} codegen_us={}",
            self.cut_us, self.optimize_us, self.codegen_us
        )?;
        f.write_str(&inlined_words(self.inlining))?;
        match &self.guided {
            Some(g) => write!(f, " {g}"),
            None => Ok(()),
        }
    }
}

/// What an inlining unit carried, and its calls left through slots
/// (`None`: not an inlining unit).
type Inlined = Option<(Carried, usize)>;

/// An inlining unit's event words: ` copies=N cold=K chosen_by=calls|size
/// slot_calls=M` (none for another unit).
fn inlined_words(inlining: Inlined) -> String {
    match inlining {
        Some((carried, calls)) => format!(
            " copies={} cold={} chosen_by={} slot_calls={calls}",
            carried.copies,
            carried.cold,
            if carried.by_calls { "calls" } else { "size" }
        ),
        None => String::new(),
    }
}

/// Compiles function `index` at `level` as a unit (guided by `profile` at
/// O3), links it and publishes it; returns its address, its code size and
/// where the time went.
fn compile(
    llvm: &Llvm,
    app: &mut App,
    (index, level): (usize, u8),
    profile: Option<&Profile>,
    crash_at: Option<CrashPoint>,
) -> Result<(u64, u64, Phases), String> {
    let started = Instant::now();
    // From O2 on a unit carries its callees' bodies for the optimizer.
    let unit = app.unit(index, level);
    let inlining = matches!(unit, Unit::Inlining(..));
    // Code at O1 and O2 counts its branches for a later profile-guided
    // O3 (as the interpreter does; from a unit cut from the lowered
    // program, where branches are numbered as the bytecode numbers them).
    // O0 code does not: it is compiled for speed of compiling.
    let branch_counting = app.counting && (1..=2).contains(&level);
    let (module, copies, guided) = match profile.filter(|_| level == 3) {
        Some(p) => {
            let (m, copies, guided) = app.program.guided_unit(&unit, index, p)?;
            (m, copies, Some(guided))
        }
        None if branch_counting => {
            let (m, copies) = app.program.lowered_unit(&unit, index)?;
            (m, copies, None)
        }
        None => {
            let (m, copies) = app.program.unit(&unit);
            (m, copies, None)
        }
    };
    let cut_us = started.elapsed().as_micros() as u64;
    if app.counting && level < 3 {
        // SAFETY: the unit is a fresh module holding function `index` as
        // its one definition (cut from the lowered program when it counts
        // branches).
        unsafe {
            if branch_counting {
                crate::counting::count_branches(module, index);
            }
            crate::counting::count_calls_and_loops(module, index, true);
        }
    }
    if crash_at == Some(CrashPoint::DuringCompile) {
        crash("during-compile");
    }
    fatal::serving(Some(format!(
        "compiling {} at O{level}",
        app.program.functions[index]
    )));
    // SAFETY: the program's thread-safe context is live while `app` is.
    fatal::watch(unsafe { LLVMOrcThreadSafeContextGetContext(app.program.context()) });
    fatal::take_errors();
    if crash_at == Some(CrashPoint::LlvmFatalError) {
        log_event("jit.crashing at=llvm-fatal-error");
        // Test only: a real fatal error, through the real handler.
        let _ = llvm.compile(FATAL_IR, level);
    }
    let what = format!("{} at O{level}", app.program.functions[index]);
    let slot_calls = inlining.then(|| Cell::new(0));
    let linked = link_unit(llvm, app, module, level, slot_calls.as_ref(), &what)?;
    if crash_at == Some(CrashPoint::BeforePublish) {
        crash("before-publish");
    }
    // The space is taken before anyone can run code in it.
    let (code_next, data_next) = app.regions.next();
    write_state(STATE_NEXT_WORD, &[code_next, data_next]);
    publish(index, linked.addresses[0], tier_byte_value(level));
    let phases = Phases {
        cut_us,
        optimize_us: linked.optimize_us,
        codegen_us: linked.codegen_us,
        inlining: slot_calls.map(|c| (copies, c.get())),
        guided,
    };
    Ok((linked.addresses[0], linked.code_bytes, phases))
}

/// The program a compile request from client `badge` for `function` is
/// for, the function's index and its name for events; or the answer that
/// refuses it (no program loaded, another client's program, no such
/// function).
fn compile_target(
    app: &mut Option<App>,
    badge: u64,
    function: u32,
) -> Result<(&mut App, usize, String), Answer> {
    let Some(app) = app.as_mut() else {
        return Err(Answer::Failed("no program loaded: send Load first".into()));
    };
    if app.owner != badge {
        log_event(&format!(
            "jit.refused what=compile-from-another-client client={badge} owner={}",
            app.owner
        ));
        return Err(Answer::Error(ProtoError::Denied));
    }
    let index = function as usize;
    let Some(name) = app.program.functions.get(index).map(|n| event_word(n)) else {
        return Err(Answer::Failed(format!(
            "no function #{index}: the program defines {}",
            app.program.functions.len()
        )));
    };
    Ok((app, index, name))
}

/// Optimizes `module` (a fresh unit of the program, handed over) at
/// `level` and links it into the app's regions (for an inlining unit,
/// with `slot_calls`, the calls left standing are routed through slots in
/// between, and counted there); an LLVM error reported on the side
/// (`fatal`) fails it, naming `what` was compiled.
fn link_unit(
    llvm: &Llvm,
    app: &mut App,
    module: LLVMModuleRef,
    level: u8,
    slot_calls: Option<&Cell<usize>>,
    what: &str,
) -> Result<orc::Linked, String> {
    let slot = &mut app.linkers[usize::from(level.min(3))];
    let linker = match slot {
        Some(l) => l,
        None => {
            let regions: *mut orc::Regions = &mut *app.regions;
            // SAFETY: the regions and the symbols are boxed in the app,
            // which drops its linkers first; nothing else uses them while
            // a link runs.
            let made = unsafe { orc::Linker::new(llvm, level, regions, &*app.symbols) };
            match made {
                Ok(l) => slot.insert(l),
                Err(e) => {
                    // SAFETY: the unit is ours to dispose of.
                    unsafe { llvm_sys::core::LLVMDisposeModule(module) };
                    return Err(e);
                }
            }
        }
    };
    let names = &app.program.functions;
    let route = |m| {
        if let Some(count) = slot_calls {
            // SAFETY: `link` hands over the optimized unit, a valid module.
            count.set(unsafe { crate::inlining::route_calls_left(m, names) });
        }
    };
    // SAFETY: the unit is a fresh module in the program's context, handed
    // over to `link`; routing calls keeps it valid.
    let linked = unsafe { linker.link(llvm, module, level, &route, &[UNIT_FUNCTION]) };
    fatal::serving(None);
    let errors = fatal::take_errors();
    let linked = linked?;
    if !errors.is_empty() {
        return Err(format!(
            "LLVM could not compile {what}: {}",
            errors.join("; ")
        ));
    }
    Ok(linked)
}

/// Builds, links and announces function `index`'s continuation from
/// loop header `block` (`osr`); returns its address, its code size and,
/// for an inlining unit, its copies and calls left through slots.
fn compile_osr(
    llvm: &Llvm,
    app: &mut App,
    index: usize,
    block: u32,
    level: u8,
) -> Result<(u64, u64, Inlined), String> {
    fatal::serving(Some(format!(
        "building the continuation of {} at block {block}",
        app.program.functions[index]
    )));
    // SAFETY: the program's thread-safe context is live while `app` is.
    fatal::watch(unsafe { LLVMOrcThreadSafeContextGetContext(app.program.context()) });
    fatal::take_errors();
    let unit = app.unit(index, level);
    let inlining = matches!(unit, Unit::Inlining(..));
    let built = app.program.osr_unit(index, block, unit.callees());
    let (module, digest, copies) = match built {
        Ok(b) => b,
        Err(e) => {
            fatal::serving(None);
            return Err(e);
        }
    };
    if app.counting && level < 3 {
        // SAFETY: a fresh unit holding the continuation as its function.
        unsafe { crate::counting::count_calls_and_loops(module, index, false) };
    }
    let slot_calls = inlining.then(|| Cell::new(0));
    let linked = link_unit(
        llvm,
        app,
        module,
        level,
        slot_calls.as_ref(),
        "the continuation",
    )?;
    let (code_next, data_next) = app.regions.next();
    write_state(STATE_NEXT_WORD, &[code_next, data_next]);
    let address = linked.addresses[0];
    let words = osr_entry(index) as *const AtomicU64;
    // SAFETY: the data region is mapped read-write here while the app is
    // served; the OSR table has OSR_WORDS words per function (index <
    // MAX_FUNCTIONS); the block and digest are written before the address,
    // which the app reads with Acquire.
    unsafe {
        (*words.add(1)).store(block as u64, Ordering::Relaxed);
        (*words.add(2)).store(digest, Ordering::Relaxed);
        (*words).store(address, Ordering::Release);
    }
    Ok((
        address,
        linked.code_bytes,
        slot_calls.map(|c| (copies, c.get())),
    ))
}

fn load(
    llvm: &Llvm,
    caps: (u64, u64, u64),
    (ir_len, exports_len, functions_len): (u64, u64, u64),
    resolver: u64,
    resume: bool,
) -> Result<(App, u64), String> {
    let rw = Rights::READ.union(Rights::WRITE);
    let pages = sys::mem_map(caps.0, JIT_PACKAGE_BASE, Rights::READ)
        .map_err(|e| format!("package: {e:?}"))?;
    let code_pages =
        sys::mem_map(caps.1, APP_CODE_BASE, rw).map_err(|e| format!("code region: {e:?}"))?;
    let data_pages =
        sys::mem_map(caps.2, APP_DATA_BASE, rw).map_err(|e| format!("data region: {e:?}"))?;
    let (code_end, data_end) = (
        APP_CODE_BASE + code_pages * PAGE_SIZE,
        APP_DATA_BASE + data_pages * PAGE_SIZE,
    );
    if code_end <= APP_UNIT_CODE_BASE || data_end <= APP_GLOBALS_BASE {
        return Err("the code or data region is too small".into());
    }
    let total = [ir_len, exports_len, functions_len]
        .iter()
        .try_fold(0u64, |a, &b| a.checked_add(b))
        .ok_or("lengths overflow")?;
    if total > pages * PAGE_SIZE {
        return Err(format!(
            "package holds {} bytes, request says {total}",
            pages * PAGE_SIZE
        ));
    }
    // SAFETY: the package object was just mapped read-only at
    // JIT_PACKAGE_BASE with `pages` pages, and `total` fits inside; it
    // stays mapped until `handle` unmaps it after this function.
    let package =
        unsafe { std::slice::from_raw_parts(JIT_PACKAGE_BASE as *const u8, total as usize) };
    let (ir, rest) = package.split_at(ir_len as usize);
    let (export_table, table) = rest.split_at(exports_len as usize);
    let table = std::str::from_utf8(table).map_err(|_| "the function table is not UTF-8")?;
    let table: Vec<&str> = function_table(table).collect();

    let program = Program::parse(ir, llvm.features())?;
    if program.functions != table {
        return Err(format!(
            "the function table does not match the module: the table lists {}, the module defines {}",
            table.join(" "),
            program.functions.join(" ")
        ));
    }
    if program.functions.len() > MAX_FUNCTIONS || program.globals > MAX_GLOBALS {
        return Err(format!(
            "{} functions and {} globals: at most {MAX_FUNCTIONS} and {MAX_GLOBALS}",
            program.functions.len(),
            program.globals
        ));
    }
    let exports: Vec<(String, u64)> = exports(export_table)
        .map(|(n, a)| (n.to_string(), a))
        .collect();
    let missing = program.unresolved(&exports);
    if !missing.is_empty() {
        return Err(format!(
            "the program uses C library functions the app host does not provide: {}",
            missing
                .iter()
                .map(|m| {
                    let mut shown = String::new();
                    let _ = write_shown_name(&mut shown, m);
                    shown
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // A program's own function wins over a C library one of the same name.
    let mut symbols: Vec<(String, u64)> = exports
        .into_iter()
        .filter(|(n, _)| !program.functions.contains(n))
        .collect();
    // The functions' addresses are their entry stubs: ours, or in a
    // layout we take over, wherever it put them.
    let with_functions = |symbols: &mut Vec<(String, u64)>, entry_stubs: u64| {
        symbols.extend(
            program
                .functions
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), entry_stubs + STUB_BYTES * i as u64)),
        );
    };

    let (homes, regions, data_bytes) = if resume {
        let words = read_state(STATE_HEADER_WORDS + program.globals);
        let state = JitState::from_words(
            &words,
            program.functions.len(),
            program.globals,
            code_end,
            data_end,
        )?;
        let regions = Regions::new((state.code_next, code_end), (state.data_next, data_end));
        with_functions(&mut symbols, state.entry_stubs);
        (
            state.homes.to_vec(),
            regions,
            state.data_next - APP_GLOBALS_BASE,
        )
    } else {
        with_functions(&mut symbols, entry_stub(0));
        let mut regions =
            Regions::new((APP_UNIT_CODE_BASE, code_end), (APP_GLOBALS_BASE, data_end));
        for i in 0..program.functions.len() {
            let code = stubs(i, resolver).ok_or("the resolver is out of a stub's reach")?;
            let at = entry_stub(i) as *mut u8;
            // SAFETY: the code region is mapped read-write here and the
            // stubs of function i < MAX_FUNCTIONS lie below
            // APP_UNIT_CODE_BASE < code_end; the app runs no program code
            // while it waits for this reply.
            unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), at, code.len()) };
            publish(i, lazy_stub(i), 0);
        }
        // No continuation of an earlier program (or run) survives a Load:
        // its code uses that run's globals.
        // SAFETY: the OSR table lies in the data region, mapped read-write
        // here; the app runs no program code while it waits for this reply.
        unsafe {
            std::ptr::write_bytes(APP_OSR_BASE as *mut u8, 0, APP_OSR_BYTES as usize);
        }
        let names: Vec<String> = (0..program.globals).map(global_symbol).collect();
        let lookups: Vec<&str> = names.iter().map(String::as_str).collect();
        // SAFETY: a fresh unit of this program, handed over to `link`.
        let linked = unsafe {
            orc::link(
                llvm,
                program.unit(&Unit::Globals).0,
                0,
                &symbols.iter().cloned().collect(),
                &lookups,
                &mut regions,
            )
        }?;
        let (code_next, data_next) = regions.next();
        let state = JitState {
            functions: program.functions.len() as u64,
            code_next,
            data_next,
            entry_stubs: entry_stub(0),
            homes: &linked.addresses,
        };
        write_state(0, &state.header());
        write_state(STATE_HEADER_WORDS, state.homes);
        (linked.addresses, regions, linked.data_bytes)
    };
    symbols.extend(
        homes
            .iter()
            .enumerate()
            .map(|(i, &h)| (global_symbol(i), h)),
    );
    Ok((
        App {
            linkers: [None, None, None, None],
            calls: None,
            owner: 0, // set by `handle`, which knows the client
            program,
            regions: Box::new(regions),
            symbols: Box::new(symbols.into_iter().collect()),
            counting: false, // set by `handle`, which knows the request
        },
        data_bytes,
    ))
}
