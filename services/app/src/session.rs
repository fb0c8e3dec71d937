//! The app host's side of the JIT protocol: one program's package and
//! regions, the connection to the JIT server, and what to do when that
//! server dies: wait for the supervisor to restart it, reconnect by name,
//! `Load { resume: true }` (the program's globals, slots and code stay as
//! they are), at most [`JIT_ATTEMPTS`] times, each wait at most
//! [`JIT_WAIT_TICKS`]. A request the JIT never received (`PeerDied`) is
//! sent again; one it died serving (`Unanswered`) never is, nor one it
//! refused: a compile falls back to the tier below instead (`app.fallback`).

use ipc_abi::cap::Slot;
use ipc_abi::ipc::Message;
use ipc_abi::proto::jit::*;
use ipc_abi::proto::{self, CallError};
use rt::sys;
use std::time::Instant;

/// How long to wait for a (restarted) JIT server: 10 s.
pub const JIT_WAIT_TICKS: u64 = 1000;
/// Requests sent before giving up on a JIT that keeps dying.
pub const JIT_ATTEMPTS: u32 = 3;

/// Test only: make the JIT crash on purpose.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CrashPlan {
    /// Before the first `Load`.
    Idle,
    /// At the second `Compile`: the first call out of code that runs.
    Compile(CrashPoint),
}

pub struct Session {
    /// The package, the code region and the data region.
    pub caps: [Slot; 3],
    pub lengths: (u64, u64, u64),
    pub resolver: u64,
    /// The program's functions (its function table).
    pub names: Vec<String>,
    pub level: u8,
    /// Recompile these functions (all when `None`) at this level after
    /// their first compile.
    pub tier_up: Option<(u8, Option<Vec<usize>>)>,
    pub crash: Option<CrashPlan>,
    /// The run counts calls and loops (`profile`): compiled code must too.
    pub counters: bool,
    /// The counters object, read-only, lent to the JIT with every `Load`
    /// (`Profile::for_the_jit`).
    pub counts: Option<Slot>,
    jit: Option<Slot>,
    /// The JIT has this run's program (a `Load` succeeded since the last
    /// `release`).
    loaded: bool,
    msg: Message,
    compiles: usize,
    /// Time the program spent waiting for compiles.
    pub compile_wait_us: u64,
}

/// Why a `Load` did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The JIT refused the program (it names what is wrong).
    Refused(String),
    /// No JIT answered, or it answered nonsense.
    Failed(String),
}

impl Session {
    pub fn new(
        caps: [Slot; 3],
        lengths: (u64, u64, u64),
        resolver: u64,
        names: Vec<String>,
    ) -> Self {
        Session {
            caps,
            lengths,
            resolver,
            names,
            level: 0,
            tier_up: None,
            crash: None,
            counters: false,
            counts: None,
            jit: None,
            loaded: false,
            msg: Message::new(),
            compiles: 0,
            compile_wait_us: 0,
        }
    }

    fn connected(&mut self) -> Result<Slot, String> {
        if let Some(jit) = self.jit {
            return Ok(jit);
        }
        let jit = rt::names::connect_wait::<JitProtocol>("jit", JIT_WAIT_TICKS)
            .map_err(|e| format!("no JIT server within 10 s: {e:?}"))?;
        self.jit = Some(jit);
        Ok(jit)
    }

    /// The connection to the JIT server, once there is one (the profiler
    /// gets a copy, to ask for tier-ups in this app's name).
    pub fn jit_endpoint(&self) -> Option<Slot> {
        self.jit
    }

    /// Forgets a dead server; `Err` when the attempts are used up.
    fn lost(&mut self, e: CallError, attempt: u32) -> Result<(), String> {
        if let Some(jit) = self.jit.take() {
            let _ = sys::cap_drop(jit);
        }
        if !e.is_peer_died() || attempt >= JIT_ATTEMPTS {
            return Err(format!("JIT call failed after {attempt} attempts: {e:?}"));
        }
        let _ = sys::log_event(&format!("app.jit_died attempt={attempt}"));
        Ok(())
    }

    /// Sends `Load`: a fresh set-up, or after a restart (`resume`) the
    /// dead server's state taken over.
    pub fn load(&mut self, resume: bool) -> Result<(), Failure> {
        for attempt in 1.. {
            let jit = self.connected().map_err(Failure::Failed)?;
            if self.crash == Some(CrashPlan::Idle) {
                self.crash = None;
                // The JIT dies between requests; our next call finds it gone.
                let _ = proto::call::<JitProtocol>(jit, &mut self.msg, &JitRequest::CrashIdle, &[]);
            }
            let request = JitRequest::Load {
                ir_len: self.lengths.0,
                exports_len: self.lengths.1,
                functions_len: self.lengths.2,
                resolver: self.resolver,
                resume,
                counters: self.counters,
            };
            let mut caps = self.caps.to_vec();
            caps.extend(self.counts);
            match proto::call::<JitProtocol>(jit, &mut self.msg, &request, &caps) {
                Ok(JitReply::Loaded {
                    functions,
                    data_bytes,
                    setup_us,
                }) => {
                    let _ = sys::log_event(&format!(
                        "app.loaded level={} functions={functions} data_bytes={data_bytes} setup_us={setup_us} resume={} attempt={attempt}",
                        self.level, resume as u8
                    ));
                    self.loaded = true;
                    return Ok(());
                }
                Ok(JitReply::Failed { message }) => {
                    return Err(Failure::Refused(format!("the JIT refused it: {message}")));
                }
                Ok(_) => {
                    return Err(Failure::Failed(
                        "the JIT answered Load with something else".into(),
                    ));
                }
                Err(e) => {
                    let killed_it = e.is_unanswered();
                    self.lost(e, attempt).map_err(Failure::Failed)?;
                    if killed_it {
                        return Err(Failure::Failed(
                            "the JIT died loading it (not sent again)".into(),
                        ));
                    }
                }
            }
        }
        unreachable!()
    }

    /// The run is over: the JIT forgets the program (so that the next run
    /// may be loaded by the profiler in our name, `profile`). Nothing to
    /// do when we never loaded it; a JIT that does not answer has
    /// forgotten it anyway.
    pub fn release(&mut self) {
        if !std::mem::take(&mut self.loaded) {
            return;
        }
        if let Some(jit) = self.jit {
            let _ = proto::call::<JitProtocol>(jit, &mut self.msg, &JitRequest::Release, &[]);
        }
    }

    /// Test only: asks for a function the program does not define; returns
    /// the JIT's refusal.
    pub fn ask_for_unknown(&mut self) -> Result<String, String> {
        let jit = self.connected()?;
        let request = JitRequest::Compile {
            function: self.names.len() as u32,
            level: self.level,
            then: None,
            crash: None,
            profile: None,
        };
        match proto::call::<JitProtocol>(jit, &mut self.msg, &request, &[]) {
            Ok(JitReply::Failed { message }) => Ok(message.to_string()),
            Ok(_) => Err("the JIT answered for a function that does not exist".into()),
            Err(e) => Err(format!("JIT call failed: {e:?}")),
        }
    }

    /// As [`Session::compile`], at `level` instead of the session's.
    pub fn compile_at(&mut self, index: usize, level: u8) -> Result<u64, String> {
        let saved = std::mem::replace(&mut self.level, level);
        let done = self.compile(index);
        self.level = saved;
        done
    }

    /// Whether the JIT has this run's program.
    pub fn loaded(&self) -> bool {
        self.loaded
    }

    /// Asks for function `index` at the session's level; returns the
    /// address now in its slot. In a run the app host laid out, the
    /// first compile loads the program into the JIT in that layout.
    pub fn compile(&mut self, index: usize) -> Result<u64, String> {
        let started = Instant::now();
        if !self.loaded {
            self.load(true).map_err(|f| match f {
                Failure::Refused(m) | Failure::Failed(m) => m,
            })?;
        }
        self.compiles += 1;
        let mut crash = match self.crash {
            Some(CrashPlan::Compile(point)) if self.compiles == 2 => {
                self.crash = None;
                Some(point)
            }
            _ => None,
        };
        let then = self.tier_up.as_ref().and_then(|(level, chosen)| {
            chosen
                .as_ref()
                .is_none_or(|c| c.contains(&index))
                .then_some(*level)
        });
        // A request that failed, or that the JIT died serving, is never
        // sent again: the function falls back one tier at a time.
        let mut level = self.level;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let jit = self.connected()?;
            let request = JitRequest::Compile {
                function: index as u32,
                level,
                then,
                crash: crash.take(),
                profile: None,
            };
            let why = match proto::call::<JitProtocol>(jit, &mut self.msg, &request, &[]) {
                Ok(JitReply::Compiled { address, .. }) => {
                    let code_end = APP_CODE_BASE + APP_CODE_PAGES * ipc_abi::layout::PAGE_SIZE;
                    if !(APP_UNIT_CODE_BASE..code_end).contains(&address) {
                        return Err(format!(
                            "the JIT placed code at {address:#x}, outside the code region"
                        ));
                    }
                    self.compile_wait_us += started.elapsed().as_micros() as u64;
                    return Ok(address);
                }
                Ok(JitReply::Failed { message }) => {
                    eprintln!(
                        "app: the JIT could not compile {} at O{level}: {message}",
                        self.names[index]
                    );
                    "failed"
                }
                Ok(_) => return Err("the JIT answered Compile with something else".into()),
                Err(e) => {
                    let killed_it = e.is_unanswered();
                    self.lost(e, attempt)?;
                    self.load(true).map_err(|f| match f {
                        Failure::Refused(m) | Failure::Failed(m) => m,
                    })?;
                    if !killed_it {
                        // It died before it got the request: ask again.
                        continue;
                    }
                    "jit-died"
                }
            };
            if level == 0 {
                return Err(format!(
                    "the JIT could not compile {} at any tier",
                    self.names[index]
                ));
            }
            let _ = sys::log_event(&format!(
                "app.fallback fn={} level={level} to={} why={why}",
                crate::event_word(&self.names[index]),
                level - 1
            ));
            level -= 1;
        }
    }
}
