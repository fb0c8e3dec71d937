//! The snapshot format: what one boot learned about a program, for the
//! next boot to start from (`../shared/DESIGN.md`, "Snapshots and
//! convergence"; `docs/snapshots.md`).
//!
//! A snapshot holds the native code of every compiled function as it lies
//! in the app's code region, the data the compiled units use (their
//! constants, after the globals), each function's tier and slot, the
//! profile counts, the globals' *initial* image (as laid out before the
//! program ran, never the values a run left behind), and what it is valid
//! for: a hash of the program's IR, the app host's build (its export
//! addresses, which the code calls), the ABI version and the JIT's LLVM.
//!
//! On disk: `magic, format version, body length, SHA-256 of the body`,
//! then the body (postcard). Nothing in a file is trusted: [`decode`]
//! refuses a file that is cut short, damaged or of another format, and
//! [`Snapshot::check`] one that is stale or whose addresses leave the
//! regions, each with the check that failed ([`Refusal`]).
//!
//! Two generations per program (`slot` 0 and 1): a new snapshot is
//! written over the older one ([`next_write`]), so a write torn by a crash
//! never destroys the newest good one, and [`choose`] takes the newest
//! valid generation.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MAGIC: [u8; 8] = *b"JITSNAP1";
/// The body's layout; a file of another version is refused.
pub const FORMAT_VERSION: u32 = 2;
/// Magic, version (u32), body length (u64), SHA-256 of the body.
pub const HEADER_BYTES: usize = 8 + 4 + 8 + 32;
/// Largest body accepted (the code and data regions together are 8 MiB).
pub const MAX_BODY_BYTES: u64 = 32 << 20;

/// SHA-256 of `bytes` (the program's IR, the app host's export table).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What a snapshot was made for: a boot with anything else refuses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidFor {
    /// SHA-256 of the program's IR as the initrd holds it.
    pub ir: [u8; 32],
    /// SHA-256 of the app host's export table (names and addresses): the
    /// code calls the C library at those addresses.
    pub app_host: [u8; 32],
    /// `ipc_abi`'s JIT protocol version (the layout of the regions).
    pub abi: u32,
    /// The LLVM that compiled the code.
    pub llvm: String,
    /// The CPU's instruction-set extensions and the vector state the
    /// kernel enables (a digest, the app host's `persist::cpu_id`): the
    /// JIT's code may use any of them (AVX, AVX2...), so it runs only on
    /// the same.
    pub cpu: u64,
}

/// Bytes that lie at `base` in the app's address space.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub base: u64,
    pub bytes: Vec<u8>,
}

impl Placed {
    /// The addresses it covers (`None` if they wrap).
    pub fn range(&self) -> Option<Range<u64>> {
        let end = self.base.checked_add(self.bytes.len() as u64)?;
        Some(self.base..end)
    }
}

/// One function of the program, in function-table order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// `None`: interpreted; `Some(l)`: compiled at O`l`, its code at
    /// `entry` (what its slot held).
    pub level: Option<u8>,
    pub entry: u64,
    pub calls: u64,
    pub backedges: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub valid_for: ValidFor,
    /// Counts up from 1 with every snapshot of the program: the newest
    /// valid one wins.
    pub generation: u64,
    /// The compiled code (the code region from its first unit up).
    pub code: Placed,
    /// The compiled units' data (after the globals in the data region).
    pub unit_data: Placed,
    /// The globals as laid out before the program ran.
    pub globals: Placed,
    pub functions: Vec<Function>,
}

/// What a run knows before its program starts, that every snapshot of the
/// run carries: handed by the app host to whoever saves (itself at the
/// end of the run, the profiler every few seconds while it runs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub valid_for: ValidFor,
    /// The globals as laid out before the program ran.
    pub globals: Placed,
    /// Counts carried over from the restored snapshot (added to the
    /// run's own).
    pub counts: Vec<(u64, u64)>,
    /// Where the program's snapshots go (`SNAPSHOT/NAME`; the slots are
    /// `.0` and `.1`), and the slot and generation of the next one.
    pub path: String,
    pub next: (u8, u64),
}

/// The run's state as the regions hold it now.
#[derive(Clone, Copy, Debug)]
pub struct Now<'a> {
    /// The code region from its first unit to the JIT's `code_next`.
    pub code: &'a [u8],
    pub code_base: u64,
    /// The unit data from the globals' end to the JIT's `data_next`.
    pub unit_data: &'a [u8],
    /// Each function's slot value and tier byte (0: no compiled code,
    /// `1 + level`), and this run's calls and back-edges.
    pub slots: &'a [u64],
    pub tiers: &'a [u8],
    pub counts: &'a [(u64, u64)],
}

impl Template {
    /// The file name of slot `slot`.
    pub fn file(&self, slot: u8) -> String {
        alloc::format!("{}.{slot}", self.path)
    }

    /// A snapshot of the run as `now` shows it. A function counts as
    /// compiled when its tier byte says so and its slot points into the
    /// saved code (a slot published after `code_next` was read is left
    /// out: that function is saved as interpreted).
    pub fn capture(&self, now: &Now<'_>) -> Snapshot {
        let code = Placed {
            base: now.code_base,
            bytes: now.code.to_vec(),
        };
        let range = code.range().unwrap_or(0..0);
        let globals_end = self.globals.base + self.globals.bytes.len() as u64;
        let functions = now
            .slots
            .iter()
            .zip(now.tiers)
            .enumerate()
            .map(|(i, (&entry, &tier))| {
                let compiled = tier > 0 && tier <= 4 && range.contains(&entry);
                let (c0, b0) = self.counts.get(i).copied().unwrap_or_default();
                let (c1, b1) = now.counts.get(i).copied().unwrap_or_default();
                Function {
                    level: compiled.then(|| tier - 1),
                    entry: if compiled { entry } else { 0 },
                    calls: c0.saturating_add(c1),
                    backedges: b0.saturating_add(b1),
                }
            })
            .collect();
        Snapshot {
            valid_for: self.valid_for.clone(),
            generation: self.next.1,
            code,
            unit_data: Placed {
                base: globals_end,
                bytes: now.unit_data.to_vec(),
            },
            globals: self.globals.clone(),
            functions,
        }
    }

    /// A snapshot of the run as the app's regions show it now: `code` is
    /// the whole code region (from `APP_CODE_BASE`), `data` the whole data
    /// region (from `APP_DATA_BASE`), `counts` this run's calls and
    /// back-edges per function. The JIT's free-space words, the slots and
    /// the tier bytes are read from `data`; the app or the JIT may write
    /// them meanwhile, so every value is bounded before use. One function
    /// for the app host (at the end of a run) and the profiler (while it
    /// runs).
    pub fn capture_regions(
        &self,
        code: &[u8],
        data: &[u8],
        counts: &[(u64, u64)],
    ) -> Result<Snapshot, &'static str> {
        use ipc_abi::proto::jit::*;
        let word = |addr: u64| -> Option<u64> {
            let at = usize::try_from(addr.checked_sub(APP_DATA_BASE)?).ok()?;
            let bytes = data.get(at..at.checked_add(8)?)?;
            Some(u64::from_le_bytes(bytes.try_into().ok()?))
        };
        let n = counts.len();
        let code_next = word(APP_CODE_NEXT).ok_or("no JIT state")?;
        let data_next = word(APP_DATA_NEXT).ok_or("no JIT state")?;
        let globals_end = self
            .globals
            .base
            .checked_add(self.globals.bytes.len() as u64)
            .filter(|&e| e >= APP_GLOBALS_BASE)
            .ok_or("the template's globals are not in the data region")?;
        let in_code =
            |a: u64| (APP_UNIT_CODE_BASE..=APP_CODE_BASE + code.len() as u64).contains(&a);
        let in_data = |a: u64| (globals_end..=APP_DATA_BASE + data.len() as u64).contains(&a);
        if !in_code(code_next) || !in_data(data_next) || n > MAX_FUNCTIONS {
            return Err("the JIT state's free space is out of its regions");
        }
        let code = &code
            [(APP_UNIT_CODE_BASE - APP_CODE_BASE) as usize..(code_next - APP_CODE_BASE) as usize];
        let unit_data =
            &data[(globals_end - APP_DATA_BASE) as usize..(data_next - APP_DATA_BASE) as usize];
        let slots: Vec<u64> = (0..n).map(|i| word(slot(i)).unwrap_or(0)).collect();
        let tiers: Vec<u8> = (0..n)
            .map(|i| {
                data.get((tier_byte(i) - APP_DATA_BASE) as usize)
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        Ok(self.capture(&Now {
            code,
            code_base: APP_UNIT_CODE_BASE,
            unit_data,
            slots: &slots,
            tiers: &tiers,
            counts,
        }))
    }

    /// The template as bytes (postcard), to hand to another task.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// A template from [`Template::to_bytes`]; `None` if it does not
    /// decode (nothing in it is trusted more than a file: whatever is
    /// captured with it is checked when a boot restores it).
    pub fn from_bytes(bytes: &[u8]) -> Option<Template> {
        postcard::from_bytes(bytes).ok()
    }

    /// After a snapshot went to slot `next.0`: the next goes over the
    /// other slot, one generation up.
    pub fn advance(&mut self) {
        self.next = (1 - self.next.0.min(1), self.next.1.saturating_add(1));
    }
}

/// Where a snapshot's parts may lie in this boot's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Where compiled code may lie (the code region after the stubs).
    pub code: Range<u64>,
    /// Where the globals lie (their homes, first to last byte).
    pub globals: Range<u64>,
    /// Where unit data may lie (after the globals, to the region's end).
    pub unit_data: Range<u64>,
    pub functions: usize,
}

/// Which part of what a snapshot is valid for differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stale {
    Ir,
    AppHost,
    Abi,
    Llvm,
    Cpu,
}

/// Why a snapshot is not used: the check that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Shorter than its header says.
    Truncated {
        have: u64,
        need: u64,
    },
    BadMagic,
    Version(u32),
    TooLarge(u64),
    /// The body's SHA-256 is not the header's (damaged, or torn).
    Checksum,
    /// The body does not decode.
    Malformed,
    Stale(Stale),
    /// An address or count outside this boot's layout (what, in words).
    OutOfRange(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Truncated { have, need } => {
                write!(f, "truncated: {have} bytes, the header says {need}")
            }
            Refusal::BadMagic => f.write_str("not a snapshot (bad magic)"),
            Refusal::Version(v) => {
                write!(f, "format version {v}, this system reads {FORMAT_VERSION}")
            }
            Refusal::TooLarge(n) => write!(f, "body of {n} bytes, at most {MAX_BODY_BYTES}"),
            Refusal::Checksum => f.write_str("checksum mismatch (damaged or torn write)"),
            Refusal::Malformed => f.write_str("the body does not decode"),
            Refusal::Stale(s) => f.write_str(match s {
                Stale::Ir => "stale: made for other IR",
                Stale::AppHost => "stale: made for another app host build",
                Stale::Abi => "stale: made for another ABI version",
                Stale::Llvm => "stale: made by another LLVM",
                Stale::Cpu => "stale: made for a CPU with other features",
            }),
            Refusal::OutOfRange(what) => write!(f, "out of range: {what}"),
        }
    }
}

/// The name a program's snapshots go by (its generations are `NAME.0`
/// and `NAME.1` in the snapshot directory): the last part of the name it
/// was given (`dir/fib.c` → `fib.c`), in characters every FAT volume and
/// the fs service accept (others become `_`), at most 48 of them.
pub fn program_name(program: &str) -> String {
    let last = program.rsplit('/').next().unwrap_or(program);
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    if name.is_empty() || name == "." || name == ".." {
        "program".into()
    } else {
        name
    }
}

/// Where `snapshot`'s code bytes lie in its file ([`encode`]'s output):
/// the byte offset, so that a reader can have them copied straight from
/// the file into place (the app host has the fs service copy them into
/// its code region).
pub fn code_offset(snapshot: &Snapshot) -> usize {
    // The body is postcard: the fields before `code.bytes`, then the
    // bytes' length as a varint, then the bytes.
    let before = postcard::to_allocvec(&(
        &snapshot.valid_for,
        snapshot.generation,
        snapshot.code.base,
        snapshot.code.bytes.len(),
    ))
    .map_or(0, |v| v.len());
    HEADER_BYTES + before
}

/// The file for `snapshot`.
pub fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let body = postcard::to_allocvec(snapshot).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&sha256(&body));
    out.extend_from_slice(&body);
    out
}

/// The snapshot in `file`, if the file is whole and undamaged (trailing
/// bytes after the body, as a file system may leave, are ignored).
pub fn decode(file: &[u8]) -> Result<Snapshot, Refusal> {
    let have = file.len() as u64;
    let header = file.get(..HEADER_BYTES).ok_or(Refusal::Truncated {
        have,
        need: HEADER_BYTES as u64,
    })?;
    if header[..8] != MAGIC {
        return Err(Refusal::BadMagic);
    }
    let version = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(Refusal::Version(version));
    }
    let len = u64::from_le_bytes(header[12..20].try_into().unwrap_or_default());
    if len > MAX_BODY_BYTES {
        return Err(Refusal::TooLarge(len));
    }
    let need = HEADER_BYTES as u64 + len;
    let body = file
        .get(HEADER_BYTES..need as usize)
        .ok_or(Refusal::Truncated { have, need })?;
    if sha256(body)[..] != header[20..52] {
        return Err(Refusal::Checksum);
    }
    postcard::from_bytes(body).map_err(|_| Refusal::Malformed)
}

fn within(part: &Placed, room: &Range<u64>) -> bool {
    part.bytes.is_empty()
        || part
            .range()
            .is_some_and(|r| room.start <= r.start && r.end <= room.end)
}

impl Snapshot {
    /// Whether this snapshot may be used by a boot expecting `expect`,
    /// with `layout`: every part inside its room, every compiled
    /// function's entry inside the code, the globals exactly where this
    /// boot puts them.
    pub fn check(&self, expect: &ValidFor, layout: &Layout) -> Result<(), Refusal> {
        let v = &self.valid_for;
        for (same, which) in [
            (v.ir == expect.ir, Stale::Ir),
            (v.app_host == expect.app_host, Stale::AppHost),
            (v.abi == expect.abi, Stale::Abi),
            (v.llvm == expect.llvm, Stale::Llvm),
            (v.cpu == expect.cpu, Stale::Cpu),
        ] {
            if !same {
                return Err(Refusal::Stale(which));
            }
        }
        if self.functions.len() != layout.functions {
            return Err(Refusal::OutOfRange("another number of functions"));
        }
        if !within(&self.code, &layout.code) {
            return Err(Refusal::OutOfRange("code outside the code region"));
        }
        if !within(&self.unit_data, &layout.unit_data) {
            return Err(Refusal::OutOfRange("unit data outside the data region"));
        }
        if self.globals.range() != Some(layout.globals.clone()) {
            return Err(Refusal::OutOfRange(
                "globals not where this boot lays them out",
            ));
        }
        let code = self.code.range().unwrap_or(0..0);
        for f in &self.functions {
            match f.level {
                None if f.entry == 0 => {}
                Some(l) if l <= 3 && code.contains(&f.entry) => {}
                None => return Err(Refusal::OutOfRange("an interpreted function with code")),
                Some(_) => {
                    return Err(Refusal::OutOfRange(
                        "a compiled function's entry outside its code, or a tier above O3",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What [`choose`] found in a program's two generations.
#[derive(Debug, Default)]
pub struct Choice {
    /// The newest usable snapshot and its slot.
    pub chosen: Option<(usize, Snapshot)>,
    /// The slots refused, and why (a slot that holds nothing is neither).
    pub refused: Vec<(usize, Refusal)>,
    /// Each slot's generation when its file decodes whole, valid for this
    /// boot or not (a stale snapshot still numbers its generation).
    pub generations: [Option<u64>; 2],
}

/// The newest valid snapshot among the files in `slots` (`None`: no
/// file), for a boot expecting `expect` with `layout`.
pub fn choose(slots: [Option<&[u8]>; 2], expect: &ValidFor, layout: &Layout) -> Choice {
    let mut choice = Choice::default();
    for (slot, file) in slots.iter().enumerate() {
        let Some(file) = file else { continue };
        let decoded = decode(file);
        if let Ok(s) = &decoded {
            choice.generations[slot] = Some(s.generation);
        }
        match decoded.and_then(|s| s.check(expect, layout).map(|()| s)) {
            Ok(s) => {
                if choice
                    .chosen
                    .as_ref()
                    .is_none_or(|(_, c)| s.generation > c.generation)
                {
                    choice.chosen = Some((slot, s));
                }
            }
            Err(why) => choice.refused.push((slot, why)),
        }
    }
    choice
}

/// Where the next snapshot goes and its generation, given what
/// [`choose`] found: never over the newest usable one (with none, over the
/// empty, damaged or older slot), numbered above every generation on the
/// disk, stale ones included, so that the newest file is always the one
/// written last.
pub fn next_write(choice: &Choice) -> (usize, u64) {
    let top = choice
        .generations
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0);
    let slot = match &choice.chosen {
        Some((slot, _)) => 1 - slot,
        None => (0..2)
            .min_by_key(|&s| choice.generations[s].map_or(0, |g| g.saturating_add(1)))
            .unwrap_or(0),
    };
    (slot, top.saturating_add(1))
}

#[cfg(test)]
mod tests;
