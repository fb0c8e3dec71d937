//! The JIT server. By default it serves `ipc_abi::proto::jit`: it compiles
//! an app's IR and links it into the app's shared code region (see `orc`).
//! With the argument `selftest` it instead proves LLVM works inside our
//! ring-3 Linux personality: it parses and verifies an IR module, optimizes
//! a copy at O0..O3 with the new pass manager, emits x86-64 object code for
//! each, and shows that bad IR is an error with LLVM's message.
//! `cpu=baseline` makes it generate baseline x86-64 code; by default
//! (`cpu=host`) code uses the extensions this CPU has and the kernel
//! enables (AVX, AVX2, FMA...; `llvm::Cpu`).

mod calls;
mod codegen;
mod counting;
mod fatal;
mod inlining;
mod llvm;
mod lowering;
mod native;
mod orc;
mod osr;
mod pgo;
mod serve;
mod unit;

use std::time::Instant;

const SAMPLE_IR: &str = r#"
define internal i64 @fib(i64 %n) {
entry:
  %small = icmp slt i64 %n, 2
  br i1 %small, label %done, label %recurse
recurse:
  %a = sub i64 %n, 1
  %fa = call i64 @fib(i64 %a)
  %b = sub i64 %n, 2
  %fb = call i64 @fib(i64 %b)
  %s = add i64 %fa, %fb
  ret i64 %s
done:
  ret i64 %n
}

define i64 @sum_of_fibs(i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %next, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc2, %loop ]
  %f = call i64 @fib(i64 %i)
  %acc2 = add i64 %acc, %f
  %next = add i64 %i, 1
  %more = icmp slt i64 %next, %n
  br i1 %more, label %loop, label %exit
exit:
  ret i64 %acc2
}
"#;

fn main() {
    let started = Instant::now();
    fatal::install();
    // `cpu=baseline` (anywhere in the arguments): baseline x86-64 code
    // whatever the CPU has (to measure what AVX brings); `cpu=host`, the
    // default, code for this CPU.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cpu = match args.iter().find_map(|a| a.strip_prefix("cpu=")) {
        None | Some("host") => llvm::Cpu::Host,
        Some("baseline") => llvm::Cpu::Baseline,
        Some(other) => {
            eprintln!("jit: cpu={other}: write cpu=host or cpu=baseline");
            std::process::exit(2);
        }
    };
    let mode = args.iter().find(|a| !a.starts_with("cpu="));
    let llvm = match llvm::Llvm::init(cpu) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("jit: cannot initialize LLVM: {e}");
            std::process::exit(2);
        }
    };
    let init_us = started.elapsed().as_micros();
    // Snapshots say which LLVM compiled their code (`JIT_LLVM`): a JIT
    // linking another one must not claim to be it.
    if !llvm::version().starts_with(&format!("{}.", ipc_abi::proto::jit::JIT_LLVM_MAJOR)) {
        eprintln!(
            "jit: LLVM {} is linked, ipc_abi::proto::jit::JIT_LLVM says {}",
            llvm::version(),
            ipc_abi::proto::jit::JIT_LLVM
        );
        std::process::exit(2);
    }
    native::log_event(&format!(
        "jit.ready llvm={} init_us={init_us} cpu={} avx={} avx2={}",
        llvm::version(),
        if cpu == llvm::Cpu::Host {
            "host"
        } else {
            "baseline"
        },
        u8::from(llvm.uses("avx")),
        u8::from(llvm.uses("avx2"))
    ));
    // Serving, it says so in events only: its lines would fall between
    // the program's own.
    match mode.map(String::as_str) {
        Some("selftest") => {}
        Some(ipc_abi::proto::jit::ALLOW_TEST_CRASHES) => serve::serve(&llvm, true),
        _ => serve::serve(&llvm, false),
    }
    println!(
        "jit: LLVM {} ready for {} in {} ms",
        llvm::version(),
        llvm.triple(),
        init_us / 1000
    );

    for level in 0..=3 {
        let t = Instant::now();
        match llvm.compile(SAMPLE_IR, level) {
            Ok(object) => {
                let us = t.elapsed().as_micros();
                println!(
                    "jit: O{level}: object {} bytes, {} functions, {us} us",
                    object.bytes, object.functions
                );
                native::log_event(&format!(
                    "jit.compile level={level} object_bytes={} functions={} guest_us={us}",
                    object.bytes, object.functions
                ));
            }
            Err(e) => {
                println!("jit: O{level}: failed: {e}");
                std::process::exit(1);
            }
        }
    }

    match llvm.compile("define i64 @broken( {", 2) {
        Ok(_) => println!("jit: bad IR was accepted"),
        Err(e) => println!("jit: bad IR refused: {}", e.lines().next().unwrap_or("")),
    }
    match llvm.compile(
        "define void @f() {\nentry:\n  %x = add i32 %x, 1\n  ret void\n}\n",
        2,
    ) {
        Ok(_) => println!("jit: invalid IR was accepted"),
        Err(e) => println!(
            "jit: invalid IR refused: {}",
            e.lines().next().unwrap_or("")
        ),
    }
    println!(
        "jit: self-test done in {} ms",
        started.elapsed().as_millis()
    );
}
