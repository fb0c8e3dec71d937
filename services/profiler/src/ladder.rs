//! The tier policy: a function climbs interp -> O0 -> O1 -> O2 -> O3 one
//! step at a time, each step when its calls or its loop back-edges reach
//! that step's threshold. A step whose compile failed (or killed the JIT)
//! is never asked for again: the function stays where it is until its
//! counts reach the threshold of the tier above the failed one, and then
//! asks for that one (a construct one tier's code generation trips over
//! may well pass at the next, and if it does not, that step is one more
//! failure, never a retry).

use alloc::vec;
use alloc::vec::Vec;
use ipc_abi::tier::Tier;

/// Counts that move a function up: index 0 is the step to O0, 3 to O3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub calls: [u64; 4],
    pub loops: [u64; 4],
}

impl Thresholds {
    /// 10 / 100 / 1000 / 10000 calls; a hundred times that in loop
    /// back-edges (an iteration is much less work than a call).
    pub const DEFAULT: Thresholds = Thresholds {
        calls: [10, 100, 1_000, 10_000],
        loops: [1_000, 10_000, 100_000, 1_000_000],
    };

    /// Four increasing counts, comma-separated (`10,100,1000,10000`).
    pub fn parse_steps(text: &str) -> Result<[u64; 4], &'static str> {
        let mut steps = [0u64; 4];
        let mut parts = text.split(',');
        for step in &mut steps {
            *step = parts
                .next()
                .and_then(|p| p.trim().parse().ok())
                .ok_or("four counts, comma-separated")?;
        }
        if parts.next().is_some() {
            return Err("four counts, comma-separated");
        }
        if steps[0] == 0 || steps.windows(2).any(|w| w[0] >= w[1]) {
            return Err("counts must be positive and increasing");
        }
        Ok(steps)
    }
}

/// Where one function stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    tier: Tier,
    /// The highest tier a step to which failed: never asked for again.
    failed: Option<Tier>,
    /// A step was asked for and not yet answered.
    pending: bool,
}

impl Place {
    /// Where the next step starts from: its tier, or the failed tier above
    /// it (never asked for again).
    fn base(&self) -> Tier {
        match self.failed {
            Some(failed) if failed > self.tier => failed,
            _ => self.tier,
        }
    }
}

/// Every function's place on the ladder.
pub struct Ladder {
    thresholds: Thresholds,
    places: Vec<Place>,
}

/// The tier above `t` (`None` at the top).
pub fn above(t: Tier) -> Option<Tier> {
    match t {
        Tier::Interp => Some(Tier::Compiled(0)),
        Tier::Compiled(l) if l < 3 => Some(Tier::Compiled(l + 1)),
        Tier::Compiled(_) => None,
    }
}

impl Ladder {
    /// `functions` functions, all starting at `start`.
    pub fn new(functions: usize, start: Tier, thresholds: Thresholds) -> Ladder {
        let place = Place {
            tier: start,
            failed: None,
            pending: false,
        };
        Ladder {
            thresholds,
            places: vec![place; functions],
        }
    }

    pub fn tier(&self, f: usize) -> Option<Tier> {
        self.places.get(f).map(|p| p.tier)
    }

    /// The step function `f` should take now, given its counts: the tier
    /// above it (above its failed step, if one failed) when it has reached
    /// that tier's threshold and has no step in flight. The caller asks
    /// for it and reports with [`Ladder::rose`], [`Ladder::failed`] or
    /// [`Ladder::postpone`].
    pub fn next(&mut self, f: usize, calls: u64, loops: u64) -> Option<Tier> {
        let place = self.places.get_mut(f)?;
        if place.pending {
            return None;
        }
        let to = above(place.base())?;
        let step = to.level()? as usize;
        if calls >= self.thresholds.calls[step] || loops >= self.thresholds.loops[step] {
            place.pending = true;
            Some(to)
        } else {
            None
        }
    }

    /// The highest tier above `f`'s (and above its failed step) whose
    /// threshold its counts reach, taken in one step: at the end of a run
    /// whose snapshot is saved, what the whole run's counts call for,
    /// so that the next boot starts there (intermediate tiers would only
    /// be compiled to be replaced). Reported as [`Ladder::next`]'s steps.
    pub fn settle(&mut self, f: usize, calls: u64, loops: u64) -> Option<Tier> {
        let thresholds = self.thresholds;
        let place = self.places.get_mut(f)?;
        if place.pending {
            return None;
        }
        let mut best = None;
        let mut t = place.base();
        while let Some(up) = above(t) {
            let step = up.level()? as usize;
            if calls >= thresholds.calls[step] || loops >= thresholds.loops[step] {
                best = Some(up);
            }
            t = up;
        }
        place.pending = best.is_some();
        best
    }

    /// Where `f` starts (a boot restored from a snapshot starts it at the
    /// tier it had reached).
    pub fn start_at(&mut self, f: usize, tier: Tier) {
        if let Some(p) = self.places.get_mut(f) {
            p.tier = tier;
        }
    }

    /// The step to `to` is done: `f` runs there now.
    pub fn rose(&mut self, f: usize, to: Tier) {
        if let Some(p) = self.places.get_mut(f) {
            p.tier = to;
            p.pending = false;
        }
    }

    /// The step to `to` failed: `f` stays where it is, and `to` is never
    /// asked for again.
    pub fn failed(&mut self, f: usize, to: Tier) {
        if let Some(p) = self.places.get_mut(f) {
            p.failed = p.failed.max(Some(to));
            p.pending = false;
        }
    }

    /// The step was not asked for (no JIT to ask yet): it is chosen
    /// again at the next look.
    pub fn postpone(&mut self, f: usize) {
        if let Some(p) = self.places.get_mut(f) {
            p.pending = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_climb_one_step_at_a_time_at_the_thresholds() {
        let mut l = Ladder::new(2, Tier::Interp, Thresholds::DEFAULT);
        assert_eq!(l.next(0, 9, 0), None);
        assert_eq!(l.next(0, 10, 0), Some(Tier::Compiled(0)));
        // In flight: not asked twice.
        assert_eq!(l.next(0, 10_000_000, 0), None);
        l.rose(0, Tier::Compiled(0));
        // Far past every threshold: still one step.
        assert_eq!(l.next(0, 10_000_000, 0), Some(Tier::Compiled(1)));
        l.rose(0, Tier::Compiled(1));
        assert_eq!(l.next(0, 999, 0), None);
        assert_eq!(l.next(0, 1_000, 0), Some(Tier::Compiled(2)));
        l.rose(0, Tier::Compiled(2));
        assert_eq!(l.next(0, 10_000, 0), Some(Tier::Compiled(3)));
        l.rose(0, Tier::Compiled(3));
        assert_eq!(l.next(0, u64::MAX, u64::MAX), None);
        assert_eq!(l.tier(0), Some(Tier::Compiled(3)));
        // Function 1 never moved; out-of-range indices are no one.
        assert_eq!(l.tier(1), Some(Tier::Interp));
        assert_eq!(l.next(7, u64::MAX, 0), None);
    }

    #[test]
    fn settling_jumps_to_the_highest_tier_the_counts_reach() {
        let mut l = Ladder::new(3, Tier::Interp, Thresholds::DEFAULT);
        l.start_at(1, Tier::Compiled(1));
        assert_eq!(l.tier(1), Some(Tier::Compiled(1)));
        assert_eq!(l.settle(0, 5_000, 0), Some(Tier::Compiled(2)));
        assert_eq!(l.settle(0, 5_000, 0), None); // in flight
        l.rose(0, Tier::Compiled(2));
        assert_eq!(l.settle(0, 5_000, 0), None); // nothing higher reached
        // From a restored tier, by loops.
        assert_eq!(l.settle(1, 0, 2_000_000), Some(Tier::Compiled(3)));
        // Below every threshold: stays.
        assert_eq!(l.settle(2, 9, 999), None);
        // Past a failed step only.
        l.failed(2, Tier::Compiled(2));
        assert_eq!(l.settle(2, 5_000, 0), None);
        assert_eq!(l.settle(2, 50_000, 0), Some(Tier::Compiled(3)));
    }

    #[test]
    fn a_hot_loop_lifts_a_function_called_once() {
        let mut l = Ladder::new(1, Tier::Interp, Thresholds::DEFAULT);
        assert_eq!(l.next(0, 1, 999), None);
        assert_eq!(l.next(0, 1, 1_000), Some(Tier::Compiled(0)));
    }

    #[test]
    fn a_failed_step_is_never_asked_for_again() {
        let mut l = Ladder::new(1, Tier::Interp, Thresholds::DEFAULT);
        assert_eq!(l.next(0, 10, 0), Some(Tier::Compiled(0)));
        l.rose(0, Tier::Compiled(0));
        assert_eq!(l.next(0, 100, 0), Some(Tier::Compiled(1)));
        l.failed(0, Tier::Compiled(1));
        // Not O1 again: O2, once the counts say so.
        assert_eq!(l.next(0, 999, 0), None);
        assert_eq!(l.tier(0), Some(Tier::Compiled(0)));
        assert_eq!(l.next(0, 1_000, 0), Some(Tier::Compiled(2)));
        l.failed(0, Tier::Compiled(2));
        assert_eq!(l.next(0, 10_000, 0), Some(Tier::Compiled(3)));
        l.failed(0, Tier::Compiled(3));
        assert_eq!(l.next(0, u64::MAX, u64::MAX), None);
        assert_eq!(l.tier(0), Some(Tier::Compiled(0)));
    }

    #[test]
    fn a_postponed_step_is_chosen_again() {
        let mut l = Ladder::new(1, Tier::Interp, Thresholds::DEFAULT);
        assert_eq!(l.next(0, 10, 0), Some(Tier::Compiled(0)));
        l.postpone(0);
        assert_eq!(l.next(0, 10, 0), Some(Tier::Compiled(0)));
        l.rose(0, Tier::Compiled(0));
        assert_eq!(l.tier(0), Some(Tier::Compiled(0)));
    }

    #[test]
    fn thresholds_parse_and_bad_ones_are_refused() {
        assert_eq!(Thresholds::parse_steps("1, 2,3,4"), Ok([1, 2, 3, 4]));
        for bad in [
            "",
            "1,2,3",
            "1,2,3,4,5",
            "0,1,2,3",
            "5,4,6,7",
            "1,1,2,3",
            "a,b,c,d",
        ] {
            assert!(Thresholds::parse_steps(bad).is_err(), "{bad}");
        }
        let custom = Thresholds {
            calls: [2, 3, 4, 5],
            loops: Thresholds::DEFAULT.loops,
        };
        let mut l = Ladder::new(1, Tier::Interp, custom);
        assert_eq!(l.next(0, 2, 0), Some(Tier::Compiled(0)));
    }
}
