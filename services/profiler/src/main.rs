//! The profiler (ring 3, native): `profiler [calls=N,N,N,N] [loops=N,N,N,N]
//! [poll=TICKS] [pgo=on|off] [sample=FN] [crash-jit=during|fatal]` (`pgo`:
//! whether O3 compiles get the counts, `pgo` module; off by default: it
//! made spectral-norm 0.825x as fast, docs/profiler.md; `sample`: log
//! function FN's counts at every poll, `profile.sample`, for `cargo xtask
//! bench tiers`; `crash-jit`, test only: the first compile it asks for
//! makes the JIT crash mid-way (`during`: it dies without an answer;
//! `fatal`: LLVM reports a fatal error, the JIT answers that the compile
//! failed and exits), which the JIT does only when its manifest allows). Registers as `profiler`; an app host hands it a run's
//! counters (read-only, `ipc_abi::counters`) and, when it loaded the
//! program into the JIT, a copy of its JIT connection. Every `poll` ticks
//! (default 1, 10 ms) it reads the counters, and for each function whose
//! calls or loop back-edges reached the next tier's threshold (`ladder`)
//! it asks the JIT to compile it there; the JIT publishes through the
//! function's slot while the app runs, so the app never waits. Each
//! decision is an event (`tier.up`, `tier.failed`); when the run ends it
//! prints a table (calls, back-edges, self time, tier reached, when) and
//! the same as `profile.fn` events.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

mod link;
mod mapping;
mod saver;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ipc_abi::cap::Slot;
use ipc_abi::counters::{
    BACKEDGES, CALLS, Counters, LOOP_HEADER, PROFILER_COUNTERS_BASE, START_TIER,
};
use ipc_abi::ipc::Message;
use ipc_abi::proto::jit::{CrashPoint, JitProtocol, JitReply, JitRequest};
use ipc_abi::proto::profiler::{JitAccess, ProfilerProtocol, ProfilerReply, ProfilerRequest};
use ipc_abi::proto::{self, ClientFrame, ProtoError, Protocol, ServerFrame, WireReply};
use ipc_abi::syscall::{SysError, SysErrorOrUnknown};
use ipc_abi::tier::Tier;
use link::Link;
use mapping::Mapped;
use profiler::ladder::{Ladder, Thresholds};
use profiler::pgo;
use profiler::sampler::Sampler;
use rt::sys;

rt::entry!(main);

/// One run being watched.
struct Watch {
    map: Mapped,
    /// The counters object.
    counters: Slot,
    link: Link,
    /// Saves snapshots while the program runs (with snapshots on).
    saver: Option<saver::Saver>,
    ladder: Ladder,
    started_tsc: u64,
    /// When (ms after the run started) each function took each step.
    steps: Vec<[Option<u64>; 4]>,
    tier_ups: u64,
    /// Loop back-edges that make a loop hot (the first step's).
    hot_loop: u64,
    /// Whether O3 compiles are profile-guided.
    pgo: bool,
    /// Where the time goes (sampled at each poll).
    sampler: Sampler,
}

/// How the profiler was started (its arguments).
#[derive(Clone, Copy)]
struct Settings {
    thresholds: Thresholds,
    /// Ticks between reads of the counters.
    poll: u64,
    snapshot_every_ms: u64,
    /// Profile-guided O3 (`pgo=`; off by default until a guided unit no
    /// longer changes O3's result where no weight does: docs/profiler.md).
    pgo: bool,
}

fn main() -> u64 {
    let mut settings = Settings {
        thresholds: Thresholds::DEFAULT,
        poll: 1,
        snapshot_every_ms: DEFAULT_SNAPSHOT_EVERY_MS,
        pgo: false,
    };
    let mut sample: Option<&'static str> = None;
    let mut crash_jit = None;
    for arg in rt::args() {
        let parsed = if let Some(v) = arg.strip_prefix("calls=") {
            Thresholds::parse_steps(v).map(|s| settings.thresholds.calls = s)
        } else if let Some(v) = arg.strip_prefix("loops=") {
            Thresholds::parse_steps(v).map(|s| settings.thresholds.loops = s)
        } else if let Some(v) = arg.strip_prefix("pgo=") {
            match v {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => Err("on or off"),
            }
            .map(|on| settings.pgo = on)
        } else if let Some(v) = arg.strip_prefix("crash-jit=") {
            match v {
                "during" => Ok(CrashPoint::DuringCompile),
                "fatal" => Ok(CrashPoint::LlvmFatalError),
                _ => Err("during or fatal"),
            }
            .map(|p| crash_jit = Some(p))
        } else if let Some(v) = arg.strip_prefix("sample=") {
            sample = Some(v);
            Ok(())
        } else if let Some(v) = arg.strip_prefix("snapshot-every-ms=") {
            v.parse::<u64>()
                .map(|ms| settings.snapshot_every_ms = ms)
                .map_err(|_| "milliseconds (0: never)")
        } else if let Some(v) = arg.strip_prefix("poll=") {
            v.parse::<u64>()
                .ok()
                .filter(|&t| t > 0)
                .map(|t| settings.poll = t)
                .ok_or("a positive number of ticks")
        } else {
            Err("unknown argument")
        };
        if let Err(why) = parsed {
            rt::println!("profiler: {arg}: {why}");
            return 2;
        }
    }
    let Ok(ep) = sys::endpoint_create() else {
        return 3;
    };
    if rt::names::register("profiler", ep).is_err() {
        rt::println!("profiler: cannot register");
        return 3;
    }
    let _ = sys::log_event(&format!(
        "profiler.ready calls={} loops={} poll_ticks={} pgo={}",
        steps(&settings.thresholds.calls),
        steps(&settings.thresholds.loops),
        settings.poll,
        if settings.pgo { "on" } else { "off" }
    ));
    let mut watch: Option<Watch> = None;
    let mut msg = Message::new();
    let mut answered = false;
    loop {
        let timeout = if watch.is_some() { settings.poll } else { 0 };
        let got = if answered {
            sys::reply_recv(ep, &mut msg, timeout)
        } else {
            sys::recv(ep, &mut msg, timeout)
        };
        answered = false;
        match got {
            Ok(_) => {}
            Err(SysErrorOrUnknown::Known(SysError::TimedOut)) => {
                if let Some(w) = watch.as_mut() {
                    w.sample_running();
                    w.scan(&mut crash_jit, Step::Next);
                    w.save_if_due();
                    if let Some(name) = sample {
                        w.sample(name);
                    }
                }
                continue;
            }
            Err(_) => continue,
        }
        let caps: Vec<Slot> = msg.received_caps().iter().map(|&c| c as Slot).collect();
        let mut out = Message::new();
        let reply = match proto::decode_request::<ProfilerProtocol>(&msg) {
            Ok(ClientFrame::Hello { .. }) => Ok(ServerFrame::Welcome {
                version: ProfilerProtocol::VERSION,
            }),
            Ok(ClientFrame::Request(req)) => {
                handle(req, caps, &mut watch, settings).map(ServerFrame::Reply)
            }
            Err(e) => Err(e),
        };
        let reply: WireReply<ProfilerReply<'_>> = reply;
        if proto::encode(&mut out, &reply, &[]).is_err() {
            let malformed: WireReply<ProfilerReply<'_>> = Err(ProtoError::Malformed);
            let _ = proto::encode(&mut out, &malformed, &[]);
        }
        msg = out;
        answered = true;
    }
}

fn handle(
    req: ProfilerRequest,
    caps: Vec<Slot>,
    watch: &mut Option<Watch>,
    settings: Settings,
) -> Result<ProfilerReply<'static>, ProtoError> {
    match req {
        ProfilerRequest::Watch {
            pages: _,
            jit,
            level,
        } => {
            // A new run replaces an unfinished one (its app host died).
            if let Some(old) = watch.take() {
                old.finish();
            }
            let Some(&counters) = caps.first() else {
                return Err(ProtoError::MissingCapability);
            };
            let access = jit;
            let Ok(link) = Link::new(access, &caps[1..], counters) else {
                drop_all(&caps);
                return Err(ProtoError::MissingCapability);
            };
            let map = match Mapped::new(counters, PROFILER_COUNTERS_BASE) {
                Ok(m) => m,
                Err(why) => {
                    drop_all(&caps);
                    return Ok(ProfilerReply::Failed { message: why });
                }
            };
            let (functions, start) = {
                let (bytes, words) = map.view();
                match Counters::parse(bytes, words) {
                    Ok(c) => (
                        c.functions(),
                        (0..c.functions())
                            .map(|f| match c.get(f, START_TIER) {
                                t @ 1..=4 => Some(Tier::Compiled(t as u8 - 1)),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ),
                    Err(why) => {
                        drop(map);
                        drop_all(&caps);
                        return Ok(ProfilerReply::Failed { message: why });
                    }
                }
            };
            let _ = sys::log_event(&format!(
                "profiler.watch functions={functions} jit={}",
                match access {
                    JitAccess::None => "none",
                    JitAccess::Lent => "lent",
                    JitAccess::OnDemand { .. } => "on-demand",
                }
            ));
            let mut ladder = Ladder::new(
                functions,
                level.map_or(Tier::Interp, |l| Tier::Compiled(l.min(3))),
                settings.thresholds,
            );
            // Functions a snapshot restored start where it left them.
            for (f, tier) in start.iter().enumerate() {
                if let Some(t) = *tier {
                    ladder.start_at(f, t);
                }
            }
            *watch = Some(Watch {
                map,
                counters,
                link,
                saver: None,
                ladder,
                started_tsc: sys::rdtsc(),
                steps: vec![[None; 4]; functions],
                tier_ups: 0,
                hot_loop: settings.thresholds.loops[0],
                pgo: settings.pgo,
                // A sample stands for at most three polls' time.
                sampler: Sampler::new(
                    functions,
                    sys::rdtsc(),
                    3 * settings.poll * ipc_abi::syscall::TICK_MS * sys::sys_info().tsc_hz / 1000,
                ),
            });
            Ok(ProfilerReply::Watching)
        }
        ProfilerRequest::SaveWhileRunning => {
            let Some(w) = watch.as_mut() else {
                drop_all(&caps);
                return Ok(ProfilerReply::Failed {
                    message: "no run is being watched",
                });
            };
            if settings.snapshot_every_ms == 0 {
                drop_all(&caps);
                return Ok(ProfilerReply::Failed {
                    message: "snapshot-every-ms=0: only the app host saves, at the end",
                });
            }
            let hz = sys::sys_info().tsc_hz;
            let made = saver::Saver::new(&caps, settings.snapshot_every_ms * hz / 1000);
            // The mappings keep what they need; the slots go.
            drop_all(&caps);
            match made {
                Ok(s) => {
                    w.saver = Some(s);
                    Ok(ProfilerReply::Watching)
                }
                Err(message) => Ok(ProfilerReply::Failed { message }),
            }
        }
        ProfilerRequest::Finished { settle } => {
            drop_all(&caps);
            let Some(mut w) = watch.take() else {
                return Ok(ProfilerReply::Failed {
                    message: "no run is being watched",
                });
            };
            if settle {
                w.scan(&mut None, Step::Settle);
            }
            let tier_ups = w.tier_ups;
            let jit_loads = w.link.loads();
            let saved = w.saver.as_ref().and_then(|s| s.saved);
            w.finish();
            Ok(ProfilerReply::Done {
                tier_ups,
                jit_loads,
                saved,
            })
        }
    }
}

fn drop_all(caps: &[Slot]) {
    for &c in caps {
        let _ = sys::cap_drop(c);
    }
}

/// Thresholds as one word of an event (`10/100/1000/10000`).
fn steps(s: &[u64; 4]) -> String {
    format!("{}/{}/{}/{}", s[0], s[1], s[2], s[3])
}

/// How often a watched run with snapshots is saved while it runs (the
/// `snapshot-every-ms=` argument; 0: only at its end).
const DEFAULT_SNAPSHOT_EVERY_MS: u64 = 10_000;

/// How long settling waits for the JIT to come up: 20 s.
const SETTLE_JIT_WAIT_TICKS: u64 = 2000;

/// How [`Watch::scan`] moves functions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// One tier up at each threshold, while the program runs.
    Next,
    /// To the highest tier the counts reach, after the run.
    Settle,
}

impl Watch {
    /// A snapshot of the running program, when one is due.
    fn save_if_due(&mut self) {
        let at_ms = self.ms();
        let Some(saver) = self.saver.as_mut() else {
            return;
        };
        let (bytes, words) = self.map.view();
        if let Ok(c) = Counters::parse(bytes, words) {
            saver.tick(&c, at_ms);
        }
    }

    fn ms(&self) -> u64 {
        let hz = sys::sys_info().tsc_hz.max(1);
        (sys::rdtsc().saturating_sub(self.started_tsc)) * 1000 / hz
    }

    /// Reads every function's counts and takes the steps they call for
    /// (the first request with a test crash when `crash` is set): one
    /// tier at a time while the program runs, straight to the highest
    /// tier reached when it has ended and a snapshot follows.
    fn scan(&mut self, crash: &mut Option<CrashPoint>, how: Step) {
        if !self.link.usable() {
            return;
        }
        let (bytes, words) = self.map.view();
        let Ok(counters) = Counters::parse(bytes, words) else {
            return;
        };
        for f in 0..counters.functions() {
            let (calls, loops) = (counters.get(f, CALLS), counters.get(f, BACKEDGES));
            let step = match how {
                Step::Next => self.ladder.next(f, calls, loops),
                Step::Settle => self.ladder.settle(f, calls, loops),
            };
            let Some(to) = step else {
                continue;
            };
            let from = self.ladder.tier(f).unwrap_or(Tier::Interp);
            let name = word(counters.name(f));
            let at_ms = self.ms();
            // Settling, the run is over and the compiles are the point:
            // wait for a JIT that is starting (on demand) or restarting.
            let wait = match how {
                Step::Next => 0,
                Step::Settle => SETTLE_JIT_WAIT_TICKS,
            };
            let Some(jit) = self.link.get(&name, at_ms, wait) else {
                self.ladder.postpone(f);
                return;
            };
            let level = to.level().unwrap_or(0);
            // Leaving the interpreter because of a hot loop: a frame may be
            // running it now, and may never return (`main`). Its
            // continuation first: it is what the running frame needs, the
            // slot only serves later calls. (Not with a test crash pending:
            // that is for the step's compile.)
            if how == Step::Next
                && from == Tier::Interp
                && loops >= self.hot_loop
                && crash.is_none()
            {
                let block = counters.get(f, LOOP_HEADER) as u32;
                self.replace_on_stack(jit, f, &name, block, level);
            }
            let profile = if self.pgo && level == 3 {
                pgo::profile(pgo::Counted {
                    branches: counters.branches(f),
                    edges: counters.edges(f),
                    sites: counters.indirect_calls(f),
                    targets: counters.targets(f),
                })
            } else {
                None
            };
            let guided = profile.as_ref().map_or(String::new(), |p| {
                format!(
                    " profile_branches={} profile_targets={}",
                    p.weights.len(),
                    p.targets.len()
                )
            });
            let mut msg = Message::new();
            let request = JitRequest::Compile {
                function: f as u32,
                level,
                then: None,
                crash: crash.take(),
                profile,
            };
            match proto::call::<JitProtocol>(jit, &mut msg, &request, &[]) {
                Ok(JitReply::Compiled { compile_us, .. }) => {
                    self.ladder.rose(f, to);
                    let ms = self.ms();
                    self.steps[f][level as usize] = Some(ms);
                    self.tier_ups += 1;
                    let _ = sys::log_event(&format!(
                        "tier.up fn={name} from={from} to={to} calls={calls} backedges={loops} at_ms={ms} compile_us={compile_us}{guided}"
                    ));
                }
                Ok(_) => {
                    self.ladder.failed(f, to);
                    let _ = sys::log_event(&format!(
                        "tier.failed fn={name} from={from} to={to} why=compile-failed"
                    ));
                }
                Err(e) => {
                    // The JIT died (or refused us): the program goes on at
                    // the tiers it has; a JIT we loaded is loaded again
                    // once it is back, a lent connection is gone. A request
                    // it never received is asked for again; one it died
                    // serving never is.
                    let received = e.is_unanswered() || !e.is_peer_died();
                    if received {
                        self.ladder.failed(f, to);
                        let why = if e.is_peer_died() {
                            "jit-died"
                        } else {
                            "refused"
                        };
                        let _ = sys::log_event(&format!(
                            "tier.failed fn={name} from={from} to={to} why={why}"
                        ));
                    } else {
                        self.ladder.postpone(f);
                    }
                    self.link.lost();
                    let _ = sys::log_event("profiler.jit_lost");
                    return;
                }
            }
        }
    }

    /// Charges the time since the last poll to the function running now.
    fn sample_running(&mut self) {
        let (bytes, words) = self.map.view();
        let running = Counters::parse(bytes, words).ok().and_then(|c| c.running());
        self.sampler.sample(sys::rdtsc(), running);
    }

    /// Logs function `name`'s counts now (`profile.sample`).
    fn sample(&self, name: &str) {
        let (bytes, words) = self.map.view();
        let Ok(c) = Counters::parse(bytes, words) else {
            return;
        };
        if let Some(f) = (0..c.functions()).find(|&f| c.name(f) == name) {
            let _ = sys::log_event(&format!(
                "profile.sample fn={} at_ms={} calls={} backedges={}",
                word(name),
                self.ms(),
                c.get(f, CALLS),
                c.get(f, BACKEDGES)
            ));
        }
    }

    /// Asks the JIT for a continuation of function `f` from loop header
    /// `block` (on-stack replacement): the interpreter moves a frame
    /// running that loop there at its next back-edge.
    fn replace_on_stack(&self, jit: Slot, f: usize, name: &str, block: u32, level: u8) {
        let mut msg = Message::new();
        let request = JitRequest::CompileOsr {
            function: f as u32,
            block,
            level,
        };
        match proto::call::<JitProtocol>(jit, &mut msg, &request, &[]) {
            Ok(JitReply::Compiled { compile_us, .. }) => {
                let _ = sys::log_event(&format!(
                    "tier.osr fn={name} block={block} level={level} at_ms={} compile_us={compile_us}",
                    self.ms()
                ));
            }
            Ok(JitReply::Failed { message }) => {
                let why: String = message
                    .chars()
                    .take(200)
                    .map(|c| {
                        if c == '"' || c == '\\' || c.is_control() {
                            '\''
                        } else {
                            c
                        }
                    })
                    .collect();
                let _ = sys::log_event(&format!(
                    "tier.osr_failed fn={name} block={block} why=\"{why}\""
                ));
            }
            _ => {
                let _ = sys::log_event(&format!("tier.osr_failed fn={name} block={block} why=jit"));
            }
        }
    }

    /// The run ended: the table (final counts; no more tier-ups for a
    /// run that is over), and the mapping goes.
    fn finish(mut self) {
        self.sample_running();
        let (bytes, words) = self.map.view();
        if let Ok(c) = Counters::parse(bytes, words) {
            let hz = sys::sys_info().tsc_hz.max(1);
            let (total, idle, unsampled) = self.sampler.totals();
            rt::println!(
                "profile: {:<24} {:>12} {:>12} {:>10} {:>6}  {:<6} {}",
                "function",
                "calls",
                "back-edges",
                "self ms~",
                "%",
                "tier",
                "rose at (ms): O0 O1 O2 O3"
            );
            for f in 0..c.functions() {
                let (calls, loops) = (c.get(f, CALLS), c.get(f, BACKEDGES));
                let (cycles, samples) = self.sampler.of(f);
                let tier = self.ladder.tier(f).unwrap_or(Tier::Interp);
                let when: Vec<String> = self.steps[f]
                    .iter()
                    .map(|s| s.map_or(String::from("-"), |ms| format!("{ms}")))
                    .collect();
                let name = word(c.name(f));
                // Its share of the sampled time, and that share of the
                // time functions ran (sampled or not).
                let share = (cycles as u128 * 1000 / (total as u128).max(1)) as u64;
                let self_us =
                    ((total + unsampled) as u128 * share as u128 * 1000 / hz as u128) as u64;
                let (taken, not_taken) = c.edges(f).fold((0u64, 0u64), |(t, n), (_, a, b)| {
                    (t.saturating_add(a), n.saturating_add(b))
                });
                rt::println!(
                    "profile: {:<24} {calls:>12} {loops:>12} {:>10} {:>6}  {:<6} {}",
                    name,
                    format!("{}.{:03}", self_us / 1000, self_us % 1000),
                    format!("{}.{}", share / 10, share % 10),
                    format!("{tier}"),
                    when.join(" ")
                );
                let _ = sys::log_event(&format!(
                    "profile.fn fn={name} calls={calls} backedges={loops} cycles={cycles} samples={samples} self_us={self_us} branches_taken={taken} branches_not_taken={not_taken} tier={tier} rose_ms={}",
                    when.join("/")
                ));
            }
            rt::println!(
                "profile: (time sampled every poll; time in O3 code and in the C library counts for the profiled function that called it)"
            );
            let _ = sys::log_event(&format!(
                "profile.done functions={} tier_ups={} run_ms={} cycles={total} idle_cycles={idle} unsampled_cycles={unsampled} tsc_hz={hz}",
                c.functions(),
                self.tier_ups,
                self.ms(),
            ));
        }
        self.link.release();
        let _ = sys::cap_drop(self.counters);
    }
}

/// A name as one word of an event (no spaces or quotes).
fn word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' {
                c
            } else {
                '?'
            }
        })
        .collect()
}
