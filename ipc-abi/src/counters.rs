//! The counters page: what the app host counts for each function of its
//! program, for the profiler. One memory object, mapped read-write in the
//! app host at [`APP_COUNTERS_BASE`] (the interpreter writes it, and so does
//! compiled code below the top tier, which runs in the app host) and
//! read-only in the profiler at [`PROFILER_COUNTERS_BASE`].
//!
//! Little-endian `u64` words: a header ([`HEADER_WORDS`]: magic, number of
//! functions, byte offset and length of the names, the function running
//! now ([`RUNNING`]), where the branch edges are), then per function
//! [`COUNTER_WORDS`] words (calls, loop back-edges, the header block of its
//! latest loop, where its branch edges are, its tier at the start, where
//! its call targets are), then the function names, NUL-separated, in
//! function-table order, then the branch edges and call targets (see
//! [`EDGES`], [`TARGETS`]), each function's edges then its targets. Only the app host writes; the profiler trusts nothing it
//! reads (a bad header is refused, counts are only numbers).
//!
//! Time is *sampled*: whenever profiled code starts running a function
//! (its entry, and the return of each call it makes) it stores the
//! function's number in [`RUNNING`] (one store, no clock read); the
//! profiler reads that word at each of its polls and charges the time
//! since its last poll to the function named. Code that does not store
//! (the C library, O3 code) counts for the profiled function that ran
//! last before it.

use crate::layout::PAGE_SIZE;
use crate::proto::jit::MAX_FUNCTIONS;

/// Where the app host maps its counters (between its code and data
/// regions).
pub const APP_COUNTERS_BASE: u64 = 0x4800_0000;
/// Where the profiler maps an app's counters.
pub const PROFILER_COUNTERS_BASE: u64 = 0x4800_0000;
/// Where the JIT maps an app's counters (read-only, when the `Load` passes
/// them): the same address as the app host's, which the JIT's address
/// space leaves free as it does the app's regions.
pub const JIT_COUNTERS_BASE: u64 = APP_COUNTERS_BASE;
/// Largest counters object: every function's counters and names of up to
/// [`MAX_NAME_BYTES`] bytes on average.
pub const MAX_COUNTERS_PAGES: u64 = 4096;
pub const MAX_NAME_BYTES: usize = 64;

pub const COUNTERS_MAGIC: u64 = u64::from_le_bytes(*b"JITCNT06");
pub const HEADER_WORDS: usize = 7;
/// Header word: the function running now, as its index + 1 (0: none, as
/// before `main` and after the run).
pub const RUNNING: usize = 4;
/// Header words: the byte offset and the length in words of the branch
/// edges and call targets of all functions, after the names.
pub const EDGES_AT: usize = 5;
pub const EDGES_LEN: usize = 6;
pub const COUNTER_WORDS: usize = 6;
/// Word of a function's counters that counts its calls (entries).
pub const CALLS: usize = 0;
/// Word that counts its loop back-edges (jumps to a loop's header).
pub const BACKEDGES: usize = 1;
/// Word that names the IR block (index in the function, after
/// `irlower::PIPELINE`) of the header of the loop the interpreter last
/// went round: where a compiled continuation should start (on-stack
/// replacement).
pub const LOOP_HEADER: usize = 2;
/// Word that says where the function's branch edges are (0: it has none
/// counted): its length in words << 32 | its byte offset from the start of
/// the object. Two words per conditional branch, by the branch's edge
/// number (its place among the function's conditional branches in IR
/// block order after the lowering pipeline, `bytecode` `Inst::Branch`):
/// how often it went to its first successor (taken), and how often to
/// its second. The interpreter and code compiled at O1 and O2 count them;
/// the profiler hands them to the JIT for profile-guided O3
/// (`proto::jit::Profile`).
pub const EDGES: usize = 3;
/// Word that says the tier the function's code is at when the watch
/// starts (0: interpreted; `1 + level`: compiled at O`level`, as a boot
/// restored from a snapshot starts it): where its ladder starts.
pub const START_TIER: usize = 4;
/// Word that says where the function's call targets are, as [`EDGES`]
/// does for its edges: [`TARGET_WORDS`] words per call through a pointer,
/// by the call's site number (its place among the function's indirect
/// calls in IR block order after the lowering pipeline, `bytecode`
/// `Callee::Indirect`): the function the calls mostly went to (its index
/// plus 1; 0: none, or outside the program), its votes (a majority vote:
/// one more for each call to it, one fewer for each call elsewhere, a new
/// candidate when they reach 0), and the calls made there. Only the
/// interpreter counts them; the profiler hands them to the JIT with the
/// edges.
pub const TARGETS: usize = 5;
/// Words per call site in [`TARGETS`].
pub const TARGET_WORDS: usize = 3;

/// A call site's most frequent target so far (one of the program's
/// functions, by index, or `None` for any other), given its words
/// `[candidate, votes, calls]` (see [`TARGETS`]): how the interpreter
/// counts a call that went to `target`.
pub fn vote(words: [u64; TARGET_WORDS], target: Option<u32>) -> [u64; TARGET_WORDS] {
    let [candidate, votes, calls] = words;
    let t = target.map_or(0, |i| u64::from(i) + 1);
    let calls = calls.wrapping_add(1);
    if candidate == t {
        [candidate, votes.saturating_add(1), calls]
    } else if votes == 0 {
        [t, 1, calls]
    } else {
        [candidate, votes - 1, calls]
    }
}

/// What a site's words say: (the candidate function, an estimate of the
/// calls that went to it, the calls made there), if the candidate is one
/// of the program's functions. When it had most of the calls, its votes
/// are at most its calls less the others', so it had at least
/// `(calls + votes) / 2`: the estimate.
pub fn hot_target(words: [u64; TARGET_WORDS]) -> Option<(u32, u64, u64)> {
    let [candidate, votes, calls] = words;
    let index = u32::try_from(candidate.checked_sub(1)?).ok()?;
    (votes > 0 && votes <= calls).then_some((index, (calls + votes) / 2, calls))
}

/// The [`EDGES`] word for `words` words at byte offset `at`.
pub const fn edges_word(at: u64, words: usize) -> u64 {
    (words as u64) << 32 | at
}

/// Where an [`EDGES`] word says the edges are: (byte offset, words).
pub const fn edges_place(word: u64) -> (u64, usize) {
    (word & 0xffff_ffff, (word >> 32) as usize)
}

/// Byte offset of function `index`'s counter `which` ([`CALLS`] or
/// [`BACKEDGES`]) from the start of the counters: what compiled code adds
/// to [`APP_COUNTERS_BASE`].
pub const fn counter_offset(index: usize, which: usize) -> u64 {
    ((HEADER_WORDS + index * COUNTER_WORDS + which) * 8) as u64
}

/// Where the branch edges start for `functions` functions whose names
/// take `names_len` bytes.
pub const fn edges_offset(functions: usize, names_len: usize) -> u64 {
    (counter_offset(functions, 0) + names_len as u64).next_multiple_of(8)
}

/// Pages a counters object needs for `functions` functions whose names
/// take `names_len` bytes (with their separators), with `edge_words`
/// words of branch edges.
pub const fn pages_for(functions: usize, names_len: usize, edge_words: usize) -> u64 {
    let bytes = edges_offset(functions, names_len) + 8 * edge_words as u64;
    bytes.div_ceil(PAGE_SIZE)
}

/// The header words of a counters object for `functions` functions whose
/// names take `names_len` bytes, with `edge_words` words of branch edges.
pub const fn header(functions: usize, names_len: usize, edge_words: usize) -> [u64; HEADER_WORDS] {
    [
        COUNTERS_MAGIC,
        functions as u64,
        counter_offset(functions, 0),
        names_len as u64,
        0,
        edges_offset(functions, names_len),
        edge_words as u64,
    ]
}

/// The [`RUNNING`] word for function `index`.
pub const fn running_word(index: usize) -> u64 {
    index as u64 + 1
}

/// A counters object as the profiler sees it: checked once, read often.
#[derive(Clone, Copy, Debug)]
pub struct Counters<'a> {
    words: &'a [u64],
    /// The whole object (the edges lie after the names).
    all: &'a [u64],
    functions: usize,
    names: &'a [u8],
}

impl<'a> Counters<'a> {
    /// Checks the header of `bytes` (the whole mapped object).
    pub fn parse(bytes: &'a [u8], words: &'a [u64]) -> Result<Counters<'a>, &'static str> {
        let header = words.get(..HEADER_WORDS).ok_or("counters cut short")?;
        if header[0] != COUNTERS_MAGIC {
            return Err("not a counters object (bad magic)");
        }
        let functions = usize::try_from(header[1]).map_err(|_| "too many functions")?;
        if functions > MAX_FUNCTIONS {
            return Err("too many functions");
        }
        let counters_end = HEADER_WORDS + functions * COUNTER_WORDS;
        if words.len() < counters_end {
            return Err("counters cut short");
        }
        let start = usize::try_from(header[2]).map_err(|_| "names outside the object")?;
        let len = usize::try_from(header[3]).map_err(|_| "names outside the object")?;
        let end = start.checked_add(len).ok_or("names outside the object")?;
        if start < counters_end * 8 || end > bytes.len() {
            return Err("names outside the object");
        }
        let edges_at = usize::try_from(header[EDGES_AT]).map_err(|_| "edges outside the object")?;
        let edges_len =
            usize::try_from(header[EDGES_LEN]).map_err(|_| "edges outside the object")?;
        let edges_end = edges_len
            .checked_mul(8)
            .and_then(|l| l.checked_add(edges_at))
            .ok_or("edges outside the object")?;
        if edges_len > 0 && (edges_at % 8 != 0 || edges_at < end || edges_end > words.len() * 8) {
            return Err("edges outside the object");
        }
        Ok(Counters {
            words: &words[..counters_end],
            all: words,
            functions,
            names: &bytes[start..end],
        })
    }

    pub fn functions(&self) -> usize {
        self.functions
    }

    /// Counter `which` of function `index` (0 for an index out of range).
    /// The app host changes these while they are read: each is one
    /// aligned word, read whole.
    pub fn get(&self, index: usize, which: usize) -> u64 {
        let at = HEADER_WORDS + index * COUNTER_WORDS + which;
        match self.words.get(at) {
            // SAFETY: a reference to an aligned u64 in the mapping; a
            // volatile read because another task writes it.
            Some(w) => unsafe { core::ptr::read_volatile(w) },
            None => 0,
        }
    }

    /// Function `index`'s branch edges: (edge number, taken, not taken)
    /// for each conditional branch that went either way, in edge order.
    /// Edges that leave the object count as none.
    pub fn edges(&self, index: usize) -> impl Iterator<Item = (usize, u64, u64)> + '_ {
        self.area(index, EDGES)
            .chunks_exact(2)
            .enumerate()
            .filter_map(|(edge, p)| {
                // SAFETY: as in `get`: aligned words of the mapping.
                let (t, n) = unsafe {
                    (
                        core::ptr::read_volatile(&p[0]),
                        core::ptr::read_volatile(&p[1]),
                    )
                };
                (t | n != 0).then_some((edge, t, n))
            })
    }

    /// How many conditional branches function `index` has edges for.
    pub fn branches(&self, index: usize) -> usize {
        edges_place(self.get(index, EDGES)).1 / 2
    }

    /// Function `index`'s calls through pointers: (site number, target
    /// function, calls to it (estimated), calls) for each site whose
    /// calls mostly went to one of the program's functions, in site order
    /// (`hot_target`). Targets that leave the object count as none.
    pub fn targets(&self, index: usize) -> impl Iterator<Item = (usize, u32, u64, u64)> + '_ {
        self.area(index, TARGETS)
            .chunks_exact(TARGET_WORDS)
            .enumerate()
            .filter_map(|(site, w)| {
                // SAFETY: as in `get`: aligned words of the mapping.
                let words: [u64; TARGET_WORDS] =
                    core::array::from_fn(|k| unsafe { core::ptr::read_volatile(&w[k]) });
                let (f, hits, calls) = hot_target(words)?;
                Some((site, f, hits, calls))
            })
    }

    /// How many calls through pointers function `index` has targets for.
    pub fn indirect_calls(&self, index: usize) -> usize {
        edges_place(self.get(index, TARGETS)).1 / TARGET_WORDS
    }

    /// The words function `index`'s counter `which` ([`EDGES`] or
    /// [`TARGETS`]) places (none when they leave the object).
    fn area(&self, index: usize, which: usize) -> &'a [u64] {
        let (at, words) = edges_place(self.get(index, which));
        let start = (at % 8 == 0).then_some(at as usize / 8);
        start
            .and_then(|s| Some(s..s.checked_add(words)?))
            .and_then(|r| self.all.get(r))
            .unwrap_or(&[])
    }

    /// The function running now, if any (and if the word names one).
    pub fn running(&self) -> Option<usize> {
        // SAFETY: as in `get`: an aligned word of the mapping (the header
        // was checked to be there).
        let word = unsafe { core::ptr::read_volatile(&self.words[RUNNING]) };
        let index = usize::try_from(word).ok()?.checked_sub(1)?;
        (index < self.functions).then_some(index)
    }

    /// Function `index`'s name, or `?` when the names are not text.
    pub fn name(&self, index: usize) -> &'a str {
        self.names
            .split(|&b| b == 0)
            .nth(index)
            .and_then(|n| core::str::from_utf8(n).ok())
            .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_BYTES)
            .unwrap_or("?")
    }
}

const _: () = {
    assert!(counter_offset(0, CALLS) == 56);
    assert!(counter_offset(1, BACKEDGES) == 112);
    assert!(START_TIER < COUNTER_WORDS && TARGETS < COUNTER_WORDS);
    assert!(RUNNING < HEADER_WORDS);
    assert!(
        pages_for(MAX_FUNCTIONS, MAX_FUNCTIONS * (MAX_NAME_BYTES + 1), 0) <= MAX_COUNTERS_PAGES
    );
    assert!(EDGES < COUNTER_WORDS && EDGES_LEN < HEADER_WORDS);
    // Between the app's code region and its data region.
    assert!(
        crate::proto::jit::APP_CODE_BASE + crate::proto::jit::APP_CODE_PAGES * PAGE_SIZE
            <= APP_COUNTERS_BASE
    );
    assert!(APP_COUNTERS_BASE + MAX_COUNTERS_PAGES * PAGE_SIZE <= crate::proto::jit::APP_DATA_BASE);
};

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    fn object(functions: usize, names: &[&str]) -> Vec<u64> {
        let text: Vec<u8> = names.join("\0").into_bytes();
        let pages = pages_for(functions, text.len(), 4);
        let mut words = vec![0u64; (pages * PAGE_SIZE / 8) as usize];
        words[..HEADER_WORDS].copy_from_slice(&header(functions, text.len(), 4 + 6));
        // Function 0 has two branches: the first taken 3 times and not 1,
        // the second taken never and not 7 times.
        let at = edges_offset(functions, text.len());
        words[(counter_offset(0, EDGES) / 8) as usize] = edges_word(at, 4);
        words[at as usize / 8] = 3;
        words[at as usize / 8 + 1] = 1;
        words[at as usize / 8 + 3] = 7;
        // Function 1 has two indirect calls: the first went to function 0
        // 5 times of 7, the second nowhere in the program.
        let targets = at + 8 * 4;
        words[(counter_offset(1, TARGETS) / 8) as usize] = edges_word(targets, 6);
        words[targets as usize / 8..][..6].copy_from_slice(&[1, 3, 7, 0, 2, 2]);
        let start = counter_offset(functions, 0) as usize;
        let bytes: &mut [u8] = bytemuck_words(&mut words);
        bytes[start..start + text.len()].copy_from_slice(&text);
        words
    }

    fn bytemuck_words(words: &mut [u64]) -> &mut [u8] {
        // SAFETY: u64 words viewed as their bytes (no padding, any bit
        // pattern is a valid u8).
        unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, words.len() * 8) }
    }

    fn bytes_of(words: &[u64]) -> &[u8] {
        // SAFETY: as above, read-only.
        unsafe { core::slice::from_raw_parts(words.as_ptr() as *const u8, words.len() * 8) }
    }

    #[test]
    fn counts_and_names_read_back() {
        let mut words = object(2, &["main", "fib"]);
        words[(counter_offset(1, CALLS) / 8) as usize] = 177;
        words[(counter_offset(0, BACKEDGES) / 8) as usize] = 5;
        let c = Counters::parse(bytes_of(&words), &words).unwrap();
        assert_eq!(c.functions(), 2);
        assert_eq!(
            (c.get(1, CALLS), c.get(0, BACKEDGES), c.get(9, CALLS)),
            (177, 5, 0)
        );
        assert_eq!((c.name(0), c.name(1), c.name(2)), ("main", "fib", "?"));
        assert_eq!(c.edges(0).collect::<Vec<_>>(), [(0, 3, 1), (1, 0, 7)]);
        assert_eq!((c.branches(0), c.branches(1)), (2, 0));
        assert_eq!(c.edges(1).count(), 0);
        assert_eq!(c.targets(1).collect::<Vec<_>>(), [(0, 0, 5, 7)]);
        assert_eq!((c.indirect_calls(0), c.indirect_calls(1)), (0, 2));
        assert_eq!(c.running(), None);
        words[RUNNING] = running_word(1);
        let c = Counters::parse(bytes_of(&words), &words).unwrap();
        assert_eq!(c.running(), Some(1));
        words[RUNNING] = running_word(2);
        let c = Counters::parse(bytes_of(&words), &words).unwrap();
        assert_eq!(c.running(), None, "no function 2");
    }

    #[test]
    fn the_vote_finds_a_majority_target() {
        let run = |calls: &[Option<u32>]| calls.iter().fold([0; TARGET_WORDS], |w, &t| vote(w, t));
        // 7 of 10 to function 4, among others: found, and at least 7
        // estimated... (calls + votes) / 2 with votes 7 - 3 = 4.
        let mut calls = [Some(4); 10];
        calls[1] = Some(2);
        calls[5] = None;
        calls[8] = Some(3);
        let w = run(&calls);
        assert_eq!(hot_target(w), Some((4, 7, 10)));
        // Mostly outside the program: no hot target.
        assert_eq!(hot_target(run(&[None, None, Some(1)])), None);
        // An even split leaves no votes: none either.
        assert_eq!(hot_target(run(&[Some(1), Some(2)])), None);
        // Words the app host could have scribbled: never more votes than
        // calls, never a wrapped index.
        assert_eq!(hot_target([1, 9, 3]), None);
        assert_eq!(hot_target([u64::MAX, 1, 1]), None);
    }

    #[test]
    fn bad_headers_are_refused() {
        let good = object(2, &["main", "fib"]);
        let mut cases: Vec<(usize, u64)> = vec![(0, 0), (1, u64::MAX), (1, 1 << 20)];
        cases.extend([(2, 0), (2, u64::MAX), (3, u64::MAX), (3, 1 << 40)]);
        cases.extend([
            (EDGES_AT, 3),
            (EDGES_AT, 8),
            (EDGES_LEN, 1 << 40),
            (EDGES_LEN, u64::MAX),
        ]);
        for (word, value) in cases {
            let mut words = good.clone();
            words[word] = value;
            assert!(
                Counters::parse(bytes_of(&words), &words).is_err(),
                "header word {word} = {value:#x} accepted"
            );
        }
        assert!(Counters::parse(&[], &[]).is_err());
    }
}
