//! The IPC benchmark: guest TSC ticks per null syscall, per call+reply
//! round trip with an empty and a 256-byte message, and per context switch
//! (two tasks yielding to each other). Reports one `bench.ipc` event.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::ipc::Message;
use rt::sys;

rt::entry!(main);

const N: u64 = 2000;

fn per_iteration(mut f: impl FnMut()) -> u64 {
    for _ in 0..N / 10 {
        f(); // warm up
    }
    let t0 = sys::rdtsc();
    for _ in 0..N {
        f();
    }
    (sys::rdtsc() - t0) / N
}

fn main() -> u64 {
    let Some(ep) = wait_for_bench() else {
        rt::println!("no bench server");
        return 1;
    };
    let queries_before = sys::sys_info().query_fast_path;
    let null = per_iteration(|| {
        let _ = sys::cap_info(0);
    });
    let queries = sys::sys_info().query_fast_path - queries_before;
    let mut msg = Message::new();
    let before = sys::sys_info();
    let call_empty = per_iteration(|| {
        msg.len = 0;
        msg.ncaps = 0;
        let _ = sys::call_raw(ep, &mut msg);
    });
    let call_256 = per_iteration(|| {
        msg.len = 256;
        msg.ncaps = 0;
        let _ = sys::call_raw(ep, &mut msg);
    });
    // Two IPC syscalls per round trip (this task's Call, the server's
    // ReplyRecv), warm-up rounds included.
    let ipc_syscalls = 2 * 2 * (N + N / 10);
    let after = sys::sys_info();
    let fast = after.ipc_fast_path - before.ipc_fast_path;
    let in_registers = after.ipc_in_registers - before.ipc_in_registers;
    // Each yield switches to the yielder and back: two switches.
    let switch = per_iteration(sys::yield_now) / 2;
    let hz = sys::sys_info().tsc_hz;
    testsvc::event!(
        "bench.ipc null_syscall={null} call_reply_empty={call_empty} call_reply_256={call_256} context_switch={switch} iterations={N} tsc_hz={hz} ipc_syscalls={ipc_syscalls} fast_path={fast} in_registers={in_registers} null_syscalls={} query_fast_path={queries}",
        N + N / 10
    );
    let _ = rt::names::shutdown(0);
    0
}

fn wait_for_bench() -> Option<u64> {
    for _ in 0..200 {
        if let Ok(Some(ep)) = rt::names::lookup("bench") {
            return Some(ep);
        }
        sys::sleep(1);
    }
    None
}
