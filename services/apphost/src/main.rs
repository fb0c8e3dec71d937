//! The app host (Linux personality, no LLVM): `apphost FILE.ll LEVEL`
//! (or a list such as `0,1,2,3`: the program runs once per level, each
//! time freshly linked with freshly initialized globals).
//!
//! It finds the program's IR in the initrd, sets up the shared regions
//! (code: mapped read-execute here and read-write in the JIT at the same
//! address; data: read-write in both), sends the IR and its C-library
//! export table (names and addresses of functions of this binary's static
//! glibc) to the JIT server, and runs the program's `main` from the code
//! the JIT linked. The program's output is its own `printf`s, tagged with
//! the service name on the console; its exit status is logged.
//!
//! If the JIT server dies while serving us (we see `PeerDied`), we wait for
//! the supervisor to restart it, reconnect by name and ask again, for up to
//! [`JIT_WAIT_TICKS`]. A third argument makes the first request crash the
//! JIT on purpose (test only): `crash-idle`, `crash-compile` or
//! `crash-publish`.
//!
//! Not yet: dispatch slots and per-function tiers (the whole program is
//! compiled at one level), lazy first calls, the interpreter tier.

mod exports;

use ipc_abi::cap::Rights;
use ipc_abi::ipc::Message;
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto;
use ipc_abi::proto::jit::*;
use rt::sys;

/// Slot of the read-only initrd (manifest capability `initrd`).
const INITRD_SLOT: u64 = 1;
const INITRD_VADDR: u64 = 0x7000_0000;
const PACKAGE_VADDR: u64 = 0x6100_0000;
/// How long to wait for a (restarted) JIT server: 10 s.
const JIT_WAIT_TICKS: u64 = 1000;
/// Requests sent before giving up on a JIT that keeps dying.
const JIT_ATTEMPTS: u32 = 3;

fn fail(msg: &str) -> ! {
    eprintln!("apphost: {msg}");
    let _ = sys::log_event("app.error");
    let _ = rt::names::shutdown(1);
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let levels: Option<Vec<u8>> = args.get(2).and_then(|l| {
        l.split(',')
            .map(|v| v.parse::<u8>().ok().filter(|&v| v <= 3))
            .collect()
    });
    let (Some(file), Some(levels)) = (args.get(1), levels) else {
        fail(
            "usage: apphost FILE.ll LEVEL[,LEVEL...] [crash-idle|crash-compile|crash-publish] [-- ARGS...]",
        );
    };
    let pages = sys::mem_map(INITRD_SLOT, INITRD_VADDR, Rights::READ)
        .unwrap_or_else(|e| fail(&format!("no initrd: {e:?}")));
    // SAFETY: the initrd object was just mapped read-only with `pages`
    // pages at INITRD_VADDR and is never unmapped.
    let bytes = unsafe {
        std::slice::from_raw_parts(INITRD_VADDR as *const u8, (pages * PAGE_SIZE) as usize)
    };
    let total = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
    let image = initrd::Image::parse(&bytes[..total.min(bytes.len())])
        .unwrap_or_else(|e| fail(&format!("initrd: {e}")));
    let ir = image
        .find(file)
        .unwrap_or_else(|| fail(&format!("{file} is not in the initrd")))
        .data;

    let mut table = vec![0u8; 4096];
    let mut at = 0;
    for (name, addr) in exports::table() {
        at = push_export(&mut table, at, name, addr).unwrap_or_else(|| fail("export table full"));
    }
    table.truncate(at);

    let rw = Rights::READ.union(Rights::WRITE);
    let package_len = ir.len() as u64 + table.len() as u64;
    let package = sys::mem_create(package_len.div_ceil(PAGE_SIZE))
        .unwrap_or_else(|e| fail(&format!("{e:?}")));
    sys::mem_map(package, PACKAGE_VADDR, rw).unwrap_or_else(|e| fail(&format!("{e:?}")));
    // SAFETY: `package` was just mapped read-write at PACKAGE_VADDR with
    // room for `package_len` bytes; nothing else in this task uses it.
    unsafe {
        let dst = std::slice::from_raw_parts_mut(PACKAGE_VADDR as *mut u8, package_len as usize);
        dst[..ir.len()].copy_from_slice(ir);
        dst[ir.len()..].copy_from_slice(&table);
    }
    let code_region = sys::mem_create(APP_CODE_PAGES).unwrap_or_else(|e| fail(&format!("{e:?}")));
    sys::mem_map(code_region, APP_CODE_BASE, Rights::READ.union(Rights::EXEC))
        .unwrap_or_else(|e| fail(&format!("code: {e:?}")));
    let data = sys::mem_create(APP_DATA_PAGES).unwrap_or_else(|e| fail(&format!("{e:?}")));
    sys::mem_map(data, APP_DATA_BASE, rw).unwrap_or_else(|e| fail(&format!("data: {e:?}")));

    // Arguments after "--" are the program's own (argv[1..]).
    let (args, program_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (args[..i].to_vec(), args[i + 1..].to_vec()),
        None => (args.clone(), Vec::new()),
    };
    let argv_strings: Vec<std::ffi::CString> = std::iter::once(file.as_str())
        .chain(program_args.iter().map(String::as_str))
        .map(|a| std::ffi::CString::new(a).unwrap_or_default())
        .collect();
    let mut argv: Vec<*const std::ffi::c_char> = argv_strings.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut crash = match args.get(3).map(String::as_str) {
        Some("crash-compile") => Some(CrashPoint::DuringCompile),
        Some("crash-publish") => Some(CrashPoint::BeforePublish),
        _ => None,
    };
    let mut crash_idle = args.get(3).is_some_and(|a| a == "crash-idle");
    // `tier-up=N`: the JIT recompiles every function at N while the program
    // runs and switches it over through the dispatch slots.
    let tier_up = args
        .iter()
        .find_map(|a| a.strip_prefix("tier-up="))
        .and_then(|v| v.parse::<u8>().ok());
    let mut msg = Message::new();
    let mut code = 0;
    for &level in &levels {
        let mut attempt = 0;
        let entry = loop {
            attempt += 1;
            let jit = rt::names::connect_wait::<JitProtocol>("jit", JIT_WAIT_TICKS)
                .unwrap_or_else(|e| fail(&format!("no JIT server within 10 s: {e:?}")));
            if std::mem::take(&mut crash_idle) {
                // The JIT dies between requests; our next call finds it gone.
                let _ = proto::call::<JitProtocol>(jit, &mut msg, &JitRequest::CrashIdle, &[]);
            }
            let request = JitRequest::Load {
                ir_len: ir.len() as u64,
                exports_len: table.len() as u64,
                level,
                crash: crash.take(),
                tier_up,
            };
            match proto::call::<JitProtocol>(jit, &mut msg, &request, &[package, code_region, data])
            {
                Ok(JitReply::Loaded {
                    entry,
                    code_bytes,
                    data_bytes,
                    compile_us,
                }) => {
                    let _ = sys::log_event(&format!(
                        "app.loaded file={file} level={level} code_bytes={code_bytes} data_bytes={data_bytes} compile_us={compile_us} attempt={attempt}"
                    ));
                    break entry;
                }
                Ok(JitReply::Failed { message }) => {
                    fail(&format!("the JIT refused {file}: {message}"))
                }
                Err(e) if e.is_peer_died() && attempt < JIT_ATTEMPTS => {
                    let _ = sys::log_event(&format!("app.jit_died attempt={attempt}"));
                    let _ = sys::cap_drop(jit);
                }
                Err(e) => fail(&format!("JIT call failed: {e:?}")),
            }
        };
        if !(APP_CODE_BASE..APP_CODE_BASE + APP_CODE_PAGES * PAGE_SIZE).contains(&entry) {
            fail(&format!("entry {entry:#x} is outside the code region"));
        }
        // SAFETY: the JIT linked the program's `main` at `entry`, inside our
        // read-execute code region, against our exports. C's `main` takes
        // `(argc, argv)` or nothing; under the System V ABI passing both to
        // a `main(void)` is harmless.
        let main: extern "C" fn(i32, *const *const std::ffi::c_char) -> i32 =
            unsafe { std::mem::transmute(entry as usize) };
        let started = std::time::Instant::now();
        code = main(argv.len() as i32 - 1, argv.as_ptr());
        // The flush is timed too: a native program's run includes writing
        // its buffered output at exit, and so must ours.
        exports::flush();
        let run_us = started.elapsed().as_micros();
        let _ = sys::log_event(&format!(
            "app.run file={file} level={level} code={code} run_us={run_us}"
        ));
    }
    let _ = sys::log_event(&format!("app.exit file={file} code={code}"));
    let _ = rt::names::shutdown(code as u64);
    std::process::exit(code);
}
