//! The JIT server's protocol, and the address-space layout an app shares
//! with it. The app's code region is one memory object mapped read-execute
//! in the app and read-write in the JIT *at the same address*, so code the
//! JIT links for that address runs in the app unchanged; the data region
//! (dispatch slots, the JIT's bookkeeping, globals) is mapped read-write in
//! both, never executable.
//!
//! Every function of the program has an index (its line in the function
//! table made when the initrd is built), a dispatch slot, and two stubs the
//! JIT writes at load time:
//!
//! - the *entry stub* (`jmp [slot]`): the function's address wherever the
//!   program takes it, so a function pointer follows tier-ups too;
//! - the *lazy stub* (`mov r11d, index; jmp resolver`): every slot starts
//!   here, so a function's first call reaches the app host's resolver, which
//!   asks the JIT to compile it and jumps to the published code.

use super::Protocol;
use serde::{Deserialize, Serialize};

/// Where the app executes JIT code (and the JIT writes it).
pub const APP_CODE_BASE: u64 = 0x4000_0000;
pub const APP_CODE_PAGES: u64 = 1024;
/// Where the program's globals live in both.
pub const APP_DATA_BASE: u64 = 0x5000_0000;
pub const APP_DATA_PAGES: u64 = 1024;
/// Dispatch slots: the first bytes of the data region hold one 8-byte
/// slot per function of the program (in function-table order); every call
/// between program functions loads its callee's slot and jumps there, so a
/// tier-up is one atomic store of the new code's address.
pub const APP_SLOT_BYTES: u64 = 64 * 1024;
/// At most this many functions in a program: one slot each.
pub const MAX_FUNCTIONS: usize = (APP_SLOT_BYTES / 8) as usize;
/// Bytes of stubs per function at the start of the code region.
pub const STUB_BYTES: u64 = 32;
/// Offset of the lazy stub inside a function's stubs.
const LAZY_STUB_OFFSET: u64 = 16;
/// JIT-compiled code goes after the stubs of the largest program.
pub const APP_UNIT_CODE_BASE: u64 = APP_CODE_BASE + MAX_FUNCTIONS as u64 * STUB_BYTES;
/// The JIT's bookkeeping, after the slots: see [`JitState`].
pub const APP_STATE_BASE: u64 = APP_DATA_BASE + APP_SLOT_BYTES;
pub const APP_STATE_BYTES: u64 = 64 * 1024;
/// On-stack replacement: per function [`OSR_WORDS`] words, the address of
/// a compiled continuation of it (0: none), the IR block of the loop
/// header it starts at, and the [`osr_shape_digest`] of the function's
/// values as the JIT saw them. The JIT writes block and digest, then the
/// address; the interpreter moves a running frame there at that loop's
/// back-edge when the digest is its bytecode's. The continuation is
/// `ret fn(ptr state)`: `state` holds every value of the function by its
/// canonical number (`bytecode::format::Function::osr`).
pub const APP_OSR_BASE: u64 = APP_STATE_BASE + APP_STATE_BYTES;
pub const OSR_WORDS: usize = 3;
pub const APP_OSR_BYTES: u64 = (MAX_FUNCTIONS * OSR_WORDS * 8) as u64;
/// Where function `index`'s on-stack-replacement entry is.
pub const fn osr_entry(index: usize) -> u64 {
    APP_OSR_BASE + (index * OSR_WORDS * 8) as u64
}
/// Each function's tier, one byte per function: 0 while it has no
/// compiled code (interpreted, or not yet compiled), `1 + level` once its
/// slot holds code compiled at O`level`. Whoever writes a slot writes the
/// byte first (the JIT's publish, the app host restoring a snapshot), so
/// the app host can tell what its slots hold when it saves a snapshot.
pub const APP_TIERS_BASE: u64 = APP_OSR_BASE + APP_OSR_BYTES;
pub const APP_TIERS_BYTES: u64 = (MAX_FUNCTIONS as u64).next_multiple_of(16);
/// Where function `index`'s tier byte is.
pub const fn tier_byte(index: usize) -> u64 {
    APP_TIERS_BASE + index as u64
}
/// The tier byte for code compiled at O`level` (0: no compiled code).
pub const fn tier_byte_value(level: u8) -> u8 {
    1 + level
}
/// The program's globals and the data sections of compiled functions.
pub const APP_GLOBALS_BASE: u64 = APP_TIERS_BASE + APP_TIERS_BYTES;
/// The LLVM the JIT links (`llvm-sys` 191, LLVM 19): what a snapshot's
/// code was compiled by. The JIT checks at start that its library
/// reports this major version.
pub const JIT_LLVM: &str = "LLVM 19";
pub const JIT_LLVM_MAJOR: u32 = 19;
/// Where the JIT maps the package (IR, export table, function table).
pub const JIT_PACKAGE_BASE: u64 = 0x6000_0000;
/// Largest package: a program whose IR and tables need more is refused
/// by the app host before anything is sent.
pub const MAX_PACKAGE_BYTES: u64 = 64 << 20;
/// Where the app host builds the package, in its own space.
pub const APP_PACKAGE_BASE: u64 = JIT_PACKAGE_BASE + MAX_PACKAGE_BYTES;
/// Where the app host maps the initrd (read-only), above everything else
/// it places by hand.
pub const APP_INITRD_BASE: u64 = 0x7000_0000;

/// The ELF section of the app host that lists its exports' names
/// (NUL-separated), so that tools on the host can check a program against
/// them before booting (the JIT's check in the guest stays the authority).
pub const EXPORTS_SECTION: &str = ".jitos_exports";

/// The name a program's source uses for `symbol`, where headers or the
/// compiler renamed it: C99 `scanf` is `__isoc99_scanf`, fortified calls
/// are `__NAME_chk`, large-file variants end in `64`.
pub fn source_name(symbol: &str) -> Option<&str> {
    if let Some(rest) = symbol
        .strip_prefix("__isoc99_")
        .or_else(|| symbol.strip_prefix("__isoc23_"))
    {
        return Some(rest);
    }
    if let Some(rest) = symbol
        .strip_prefix("__")
        .and_then(|r| r.strip_suffix("_chk"))
    {
        return Some(rest);
    }
    None
}

/// Writes how a refusal names a missing symbol: `scanf (as
/// __isoc99_scanf)`, or just the name when the source uses it as it is.
pub fn write_shown_name(out: &mut impl core::fmt::Write, symbol: &str) -> core::fmt::Result {
    match source_name(symbol) {
        Some(s) => write!(out, "{s} (as {symbol})"),
        None => out.write_str(symbol),
    }
}

/// The app host's exit statuses when the program did not end by itself
/// (otherwise its status is the program's: `exit()`, `main`'s return, or
/// 128 + the signal of a fault, as a shell reports it).
pub mod app_status {
    /// Refused before it ran: functions it calls are not provided, its IR
    /// does not parse or verify, it defines no `main`, it is too large.
    pub const REFUSED: u64 = 126;
    /// The app host could not run it: no JIT server answered (or it kept
    /// dying), a compile failed, a bad argument, the file is missing.
    pub const HOST_FAILED: u64 = 123;
}

// The parts of the layout do not overlap.
const _: () = {
    assert!(APP_UNIT_CODE_BASE < APP_CODE_BASE + APP_CODE_PAGES * 4096);
    assert!(slot(MAX_FUNCTIONS) == APP_STATE_BASE);
    assert!(APP_GLOBALS_BASE < APP_DATA_BASE + APP_DATA_PAGES * 4096);
    assert!(entry_stub(MAX_FUNCTIONS) == APP_UNIT_CODE_BASE);
    assert!(LAZY_STUB_OFFSET + 11 <= STUB_BYTES);
    // Code, data, the package (in the JIT, then in the app), the initrd.
    assert!(APP_CODE_BASE + APP_CODE_PAGES * 4096 <= APP_DATA_BASE);
    assert!(APP_DATA_BASE + APP_DATA_PAGES * 4096 <= JIT_PACKAGE_BASE);
    assert!(APP_PACKAGE_BASE + MAX_PACKAGE_BYTES <= APP_INITRD_BASE);
    assert!(APP_CODE_BASE >= crate::layout::USER_START);
};

/// The dispatch slot of function `index`.
pub const fn slot(index: usize) -> u64 {
    APP_DATA_BASE + 8 * index as u64
}

/// The entry stub of function `index`: its address for the program.
pub const fn entry_stub(index: usize) -> u64 {
    APP_CODE_BASE + STUB_BYTES * index as u64
}

/// The lazy stub of function `index`: its slot's value until it is compiled.
pub const fn lazy_stub(index: usize) -> u64 {
    entry_stub(index) + LAZY_STUB_OFFSET
}

/// The machine code of function `index`'s two stubs, for a resolver at
/// `resolver`; `None` if the resolver is beyond a 32-bit jump.
pub fn stubs(index: usize, resolver: u64) -> Option<[u8; STUB_BYTES as usize]> {
    let rel = |from_end: u64, to: u64| i32::try_from(to as i64 - from_end as i64).ok();
    let mut code = [0xCC; STUB_BYTES as usize]; // int3 between and after
    // jmp qword ptr [rip + disp32]
    let entry = entry_stub(index);
    code[..2].copy_from_slice(&[0xFF, 0x25]);
    code[2..6].copy_from_slice(&rel(entry + 6, slot(index))?.to_le_bytes());
    // mov r11d, imm32; jmp rel32
    let lazy = lazy_stub(index);
    let at = LAZY_STUB_OFFSET as usize;
    code[at..at + 2].copy_from_slice(&[0x41, 0xBB]);
    code[at + 2..at + 6].copy_from_slice(&u32::try_from(index).ok()?.to_le_bytes());
    code[at + 6] = 0xE9;
    code[at + 7..at + 11].copy_from_slice(&rel(lazy + 11, resolver)?.to_le_bytes());
    Some(code)
}

/// The JIT's bookkeeping for one app, kept in the app's data region at
/// [`APP_STATE_BASE`] so that a restarted JIT goes on where the dead one
/// stopped: where each global lives, and how much of the code and data
/// regions is taken, and where the functions' entry stubs are.
/// Little-endian `u64` words: magic, functions, globals, code_next,
/// data_next, entry_stubs, then one home per global. The JIT writes
/// `code_next` before it publishes code that lies below it.
///
/// The app host writes it too, when it laid the program out itself
/// (interpreted first, the JIT contacted only once something is hot):
/// then the entry stubs are the app host's own (`entry_stubs`, same
/// [`STUB_BYTES`] apart) and a `Load { resume: true }` adopts that layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JitState<'a> {
    pub functions: u64,
    pub code_next: u64,
    pub data_next: u64,
    /// Function 0's entry stub (its address for the program); function
    /// `i`'s is `STUB_BYTES * i` above: [`entry_stub`]`(0)` when the JIT
    /// wrote them.
    pub entry_stubs: u64,
    /// Address of each global, in module order.
    pub homes: &'a [u64],
}

pub const JIT_STATE_MAGIC: u64 = u64::from_le_bytes(*b"JITSTAT2");
pub const STATE_HEADER_WORDS: usize = 6;
/// The header word holding `code_next` (`data_next` follows): the two the
/// JIT rewrites after each compile.
pub const STATE_NEXT_WORD: usize = 3;
/// Where the JIT's `code_next` and `data_next` are in the data region:
/// the first free byte of the code region after the compiled units, and
/// of the data region after the globals and the units' data.
pub const APP_CODE_NEXT: u64 = APP_STATE_BASE + 8 * STATE_NEXT_WORD as u64;
pub const APP_DATA_NEXT: u64 = APP_CODE_NEXT + 8;
/// At most this many globals in a program.
pub const MAX_GLOBALS: usize = APP_STATE_BYTES as usize / 8 - STATE_HEADER_WORDS;

impl<'a> JitState<'a> {
    /// The first words to write at [`APP_STATE_BASE`]; the homes follow.
    pub fn header(&self) -> [u64; STATE_HEADER_WORDS] {
        [
            JIT_STATE_MAGIC,
            self.functions,
            self.homes.len() as u64,
            self.code_next,
            self.data_next,
            self.entry_stubs,
        ]
    }

    /// Function `index`'s entry stub under this layout.
    pub fn entry_stub(&self, index: usize) -> u64 {
        self.entry_stubs + STUB_BYTES * index as u64
    }

    /// Reads and checks the state of a program with `functions` functions
    /// and `globals` globals, from words read at [`APP_STATE_BASE`] (the
    /// app can write them, so nothing is trusted).
    pub fn from_words(
        words: &'a [u64],
        functions: usize,
        globals: usize,
        code_end: u64,
        data_end: u64,
    ) -> Result<JitState<'a>, &'static str> {
        let header = words.get(..STATE_HEADER_WORDS).ok_or("state cut short")?;
        if header[0] != JIT_STATE_MAGIC {
            return Err("no JIT state: the program was never loaded");
        }
        if header[1] != functions as u64 || header[2] != globals as u64 {
            return Err("the JIT state is for another program");
        }
        let (code_next, data_next) = (header[STATE_NEXT_WORD], header[STATE_NEXT_WORD + 1]);
        if !(APP_UNIT_CODE_BASE..=code_end).contains(&code_next) {
            return Err("code_next lies outside the code region");
        }
        if !(APP_GLOBALS_BASE..=data_end).contains(&data_next) {
            return Err("data_next lies outside the data region");
        }
        // The stubs are only ever jumped to by the app's own code, so any
        // address harms the app alone; still, a table that wraps around
        // or is misaligned is no layout.
        let entry_stubs = header[STATE_NEXT_WORD + 2];
        if entry_stubs == 0
            || entry_stubs % 16 != 0
            || entry_stubs
                .checked_add(STUB_BYTES * functions as u64)
                .is_none()
        {
            return Err("the entry stubs are misplaced");
        }
        let homes = words
            .get(STATE_HEADER_WORDS..STATE_HEADER_WORDS + globals)
            .ok_or("state cut short")?;
        if homes
            .iter()
            .any(|h| !(APP_GLOBALS_BASE..data_next).contains(h))
        {
            return Err("a global's home lies outside the allocated data");
        }
        Ok(JitState {
            functions: functions as u64,
            code_next,
            data_next,
            entry_stubs,
            homes,
        })
    }
}

/// The LLVM passes run on each function of a program before it is lowered
/// to bytecode (`irlower`), and by the JIT on a function it builds an
/// on-stack-replacement continuation of: the same passes on the same IR
/// (LLVM 19 on both sides) give the same values, which is how a frame's
/// registers map onto the compiled code. Only passes within a function
/// (nothing inlined or vectorized; loops unrolled as `irlower::PIPELINE`
/// says; a recursive call in tail position, or before an associative
/// operation, made a loop by `tailcallelim`, as `clang -O3` does); every
/// function is first marked `no-builtins` (see `irlower`).
pub const LOWERING_PIPELINE: &str = "function(sroa,early-cse,instcombine<no-verify-fixpoint>,\
    simplifycfg,tailcallelim,loop(loop-rotate),loop-mssa(licm),loop-unroll<O2;partial>,gvn,\
    instcombine<no-verify-fixpoint>,simplifycfg)";

/// A digest of a function's values in canonical order (arguments, then
/// every instruction in block order), each as (opcode, LLVM type kind,
/// integer width; opcode 0 for an argument): both sides compute it, and a
/// continuation whose function differs from the bytecode's is not used.
pub fn osr_shape_digest(shapes: impl IntoIterator<Item = (u32, u32, u32)>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (a, b, c) in shapes {
        for x in [a, b, c] {
            for byte in x.to_le_bytes() {
                h ^= byte as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    h
}

/// The function table: the names of the functions the program defines, one
/// per line, in module order; a function's line number is its index.
pub fn function_table(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.is_empty())
}

pub struct JitProtocol;

impl Protocol for JitProtocol {
    const ID: u32 = 4;
    const VERSION: u32 = 6;
    type Request<'a> = JitRequest;
    type Reply<'a> = JitReply<'a>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "a request lives on the stack while one message is encoded or served; \
              a profile inline (about 500 bytes, less than the message) needs no allocator"
)]
pub enum JitRequest {
    /// Take on a program. Capabilities: the package (read), the code region
    /// and the data region (read-write). The package holds `ir_len` bytes
    /// of IR, then `exports_len` bytes of export table (entries of `u16
    /// name length, name, u64 address`, little-endian), then
    /// `functions_len` bytes of function table. The JIT parses and
    /// verifies the IR, checks the table and that every external symbol is
    /// exported, and then, unless `resume`, links the globals into the data
    /// region, writes every function's stubs (lazy ones jumping to
    /// `resolver`) and points every slot at its lazy stub. Nothing is
    /// compiled yet. With `resume` it leaves globals, slots and code alone
    /// and takes its bookkeeping from the data region ([`JitState`]): after
    /// a JIT restart, or for a layout the app host made itself.
    /// With `counters`, the app has a counters page (`crate::counters`,
    /// at `APP_COUNTERS_BASE`): code compiled below O3 counts its calls
    /// and loop back-edges there. A fourth capability, the counters
    /// object itself (read suffices), lets the JIT read the run's call
    /// counts (at `crate::counters::JIT_COUNTERS_BASE`) to choose which
    /// callees an O2 or O3 unit carries (docs/jit.md, "Inlining").
    Load {
        ir_len: u64,
        exports_len: u64,
        functions_len: u64,
        resolver: u64,
        resume: bool,
        counters: bool,
    },
    /// Compile function `function` (its index) at `level` (0..=3) as a unit
    /// of its own, link it into the code region and publish it in its slot;
    /// with `then`, after replying, compile it again at that level and
    /// publish that while the app runs. With `profile` (at O3), the counts
    /// guide LLVM (entry count, branch weights: profile-guided O3).
    Compile {
        function: u32,
        level: u8,
        then: Option<u8>,
        crash: Option<CrashPoint>,
        profile: Option<Profile>,
    },
    /// Build function `function`'s on-stack-replacement continuation from
    /// its `block`th block (a loop header, after `LOWERING_PIPELINE`) at
    /// `level`, link it into the code region, and write its address, the
    /// block and its shape digest at `osr_entry(function)` (never a slot).
    CompileOsr {
        function: u32,
        block: u32,
        level: u8,
    },
    /// The run is over: forget the program and unmap its regions, so that
    /// the next run may be loaded by another client (the app host itself,
    /// or the profiler in its name). Only the client that loaded it.
    Release,
    /// Test only: crash now, between requests.
    CrashIdle,
}

/// At most this many branches' counts in a [`Profile`] (the hottest):
/// a profile fits in one message with room to spare.
pub const MAX_PROFILE_BRANCHES: usize = 40;
/// At most this many calls through pointers in a [`Profile`] (the
/// busiest).
pub const MAX_PROFILE_TARGETS: usize = 8;

/// What the profiler counted of one function while the interpreter ran
/// it, for a profile-guided compile: how often each of its conditional
/// branches went each way, and where its calls through pointers went.
/// All counts on one scale (the profiler scales them down together to
/// fit `u32`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// How many conditional branches the function's bytecode has: the
    /// JIT weighs its IR's branches only when it finds as many (the same
    /// lowering on both sides, see `LOWERING_PIPELINE`).
    pub branches: u32,
    /// The hottest branches: (edge number, taken, not taken), where the
    /// edge number is the branch's place among the function's conditional
    /// branches in IR block order after `LOWERING_PIPELINE`, taken its
    /// first successor. Branches left out have no weights.
    pub weights: heapless::Vec<BranchCounts, MAX_PROFILE_BRANCHES>,
    /// How many calls through pointers the function's bytecode has (the
    /// JIT promotes its IR's only when it finds as many).
    pub sites: u32,
    /// The busiest calls through pointers whose calls mostly went to one
    /// of the program's functions: (site number, that function, calls to
    /// it, calls), the site number the call's place among the function's
    /// indirect calls in IR block order after `LOWERING_PIPELINE`.
    pub targets: heapless::Vec<CallTarget, MAX_PROFILE_TARGETS>,
}

/// One call site's hot target in a [`Profile`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallTarget {
    pub site: u32,
    /// The function's index in the function table.
    pub function: u32,
    /// Calls that went to it (an estimate from a majority vote, see
    /// `counters::hot_target`).
    pub count: u32,
    /// Calls made at the site.
    pub total: u32,
}

/// One branch's counts in a [`Profile`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchCounts {
    pub edge: u32,
    pub taken: u32,
    pub not_taken: u32,
}

/// The JIT server's argument (in the manifest) that makes it honour the
/// test-only crash requests; without it they are refused as `Denied`.
pub const ALLOW_TEST_CRASHES: &str = "allow-test-crashes";

/// Test only: where a `Compile` makes the JIT server crash on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrashPoint {
    /// In the middle of compiling.
    DuringCompile,
    /// After the code is written into the app's region, before it is
    /// published.
    BeforePublish,
    /// LLVM reports a real fatal error: instead of the function, the JIT
    /// compiles a construct its code generator cannot handle.
    LlvmFatalError,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JitReply<'a> {
    Loaded {
        functions: u32,
        data_bytes: u64,
        setup_us: u64,
    },
    /// The function's code is published at `address`.
    Compiled {
        address: u64,
        code_bytes: u64,
        compile_us: u64,
    },
    /// LLVM's own words (IR that does not parse or verify, symbols nothing
    /// defines), or ours (an unknown function, no program loaded).
    Failed { message: &'a str },
    /// The program is forgotten (`Release`).
    Released,
}

/// Appends one export-table entry.
pub fn push_export(table: &mut [u8], at: usize, name: &str, address: u64) -> Option<usize> {
    let end = at + 2 + name.len() + 8;
    let t = table.get_mut(at..end)?;
    t[..2].copy_from_slice(&(name.len() as u16).to_le_bytes());
    t[2..2 + name.len()].copy_from_slice(name.as_bytes());
    t[2 + name.len()..].copy_from_slice(&address.to_le_bytes());
    Some(end)
}

/// Walks an export table.
pub fn exports(table: &[u8]) -> impl Iterator<Item = (&str, u64)> {
    let mut rest = table;
    core::iter::from_fn(move || {
        let n = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let name = core::str::from_utf8(rest.get(2..2 + n)?).ok()?;
        let addr = u64::from_le_bytes(rest.get(2 + n..10 + n)?.try_into().ok()?);
        rest = &rest[10 + n..];
        Some((name, addr))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_profile_fits_in_one_message() {
        let mut weights = heapless::Vec::new();
        while weights
            .push(BranchCounts {
                edge: u32::MAX,
                taken: u32::MAX,
                not_taken: u32::MAX,
            })
            .is_ok()
        {}
        let mut targets = heapless::Vec::new();
        while targets
            .push(CallTarget {
                site: u32::MAX,
                function: u32::MAX,
                count: u32::MAX,
                total: u32::MAX,
            })
            .is_ok()
        {}
        let request = super::super::ClientFrame::Request(JitRequest::Compile {
            function: u32::MAX,
            level: 3,
            then: Some(3),
            crash: Some(CrashPoint::DuringCompile),
            profile: Some(Profile {
                branches: u32::MAX,
                weights,
                sites: u32::MAX,
                targets,
            }),
        });
        let mut msg = crate::ipc::Message::new();
        super::super::encode(&mut msg, &request, &[]).unwrap();
        let back: super::super::ClientFrame<JitRequest> =
            postcard::from_bytes(msg.payload()).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn refusals_use_the_sources_names() {
        let shown = |s: &str| {
            let mut out = std::string::String::new();
            write_shown_name(&mut out, s).unwrap();
            out
        };
        assert_eq!(shown("__isoc99_scanf"), "scanf (as __isoc99_scanf)");
        assert_eq!(shown("__printf_chk"), "printf (as __printf_chk)");
        assert_eq!(shown("zlibVersion"), "zlibVersion");
    }

    #[test]
    fn export_tables_round_trip_and_stop_at_garbage() {
        let mut t = [0u8; 64];
        let at = push_export(&mut t, 0, "printf", 0x1234).unwrap();
        let at = push_export(&mut t, at, "malloc", 0x5678).unwrap();
        let got: Vec<_> = exports(&t[..at]).collect();
        assert_eq!(got, [("printf", 0x1234), ("malloc", 0x5678)]);
        assert_eq!(exports(&t[..at - 1]).count(), 1, "a cut entry is not read");
        assert!(push_export(&mut t, 60, "toolong", 1).is_none());
    }

    #[test]
    fn stubs_jump_through_the_slot_and_to_the_resolver() {
        let resolver = 0x40_1234u64;
        let code = stubs(3, resolver).unwrap();
        let entry = entry_stub(3);
        assert_eq!(code[..2], [0xFF, 0x25]);
        let disp = i32::from_le_bytes(code[2..6].try_into().unwrap());
        assert_eq!((entry as i64 + 6 + disp as i64) as u64, slot(3));
        let l = (lazy_stub(3) - entry) as usize;
        assert_eq!(code[l..l + 2], [0x41, 0xBB]);
        assert_eq!(
            u32::from_le_bytes(code[l + 2..l + 6].try_into().unwrap()),
            3
        );
        assert_eq!(code[l + 6], 0xE9);
        let rel = i32::from_le_bytes(code[l + 7..l + 11].try_into().unwrap());
        assert_eq!((lazy_stub(3) as i64 + 11 + rel as i64) as u64, resolver);
        assert!(
            stubs(0, 0x7fff_0000_0000).is_none(),
            "a far resolver is refused"
        );
    }

    #[test]
    fn jit_state_round_trips_and_damage_is_refused() {
        let code_end = APP_CODE_BASE + APP_CODE_PAGES * 4096;
        let data_end = APP_DATA_BASE + APP_DATA_PAGES * 4096;
        let s = JitState {
            functions: 4,
            code_next: APP_UNIT_CODE_BASE + 100,
            data_next: APP_GLOBALS_BASE + 64,
            entry_stubs: APP_CODE_BASE,
            homes: &[APP_GLOBALS_BASE, APP_GLOBALS_BASE + 16],
        };
        let mut w = s.header().to_vec();
        // The JIT rewrites these two words alone after each compile.
        assert_eq!(w[STATE_NEXT_WORD..][..2], [s.code_next, s.data_next]);
        w.extend_from_slice(s.homes);
        assert_eq!(
            JitState::from_words(&w, 4, 2, code_end, data_end),
            Ok(s.clone())
        );
        let check = |w: &[u64], f, g| JitState::from_words(w, f, g, code_end, data_end).is_ok();
        assert!(!check(&w, 5, 2), "another program");
        assert!(!check(&w, 4, 3), "another program");
        assert!(!check(&w[..7], 4, 2), "cut short");
        assert_eq!(s.entry_stub(2), entry_stub(2));
        for (word, bad) in [
            (0, 0),
            (3, code_end + 1),
            (3, APP_CODE_BASE),
            (4, data_end + 8),
            (5, 0),
            (5, APP_CODE_BASE + 8),
            (5, u64::MAX - 15),
            (6, APP_DATA_BASE),
            (7, APP_GLOBALS_BASE + 64),
        ] {
            let mut d = w.clone();
            d[word] = bad;
            assert!(!check(&d, 4, 2), "word {word} = {bad:#x} accepted");
        }
    }

    #[test]
    fn function_tables_skip_blank_lines() {
        let t: Vec<_> = function_table("main\n\nfib\n").collect();
        assert_eq!(t, ["main", "fib"]);
    }
}
