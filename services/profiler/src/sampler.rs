//! Where the time goes, by sampling: at each of its polls the profiler
//! reads which function the app host says is running
//! (`ipc_abi::counters::RUNNING`, one store at every function entry and
//! return to a caller) and charges it the time-stamp-counter cycles since
//! the previous poll. A poll that comes late (the profiler was waiting
//! for a compile) charges at most `cap` cycles; the rest is *unsampled*.
//! Time when no profiled function runs (before `main`, after the run) is
//! *idle*.

use alloc::vec;
use alloc::vec::Vec;

pub struct Sampler {
    cycles: Vec<u64>,
    samples: Vec<u64>,
    idle: u64,
    unsampled: u64,
    last: u64,
    cap: u64,
}

impl Sampler {
    /// For `functions` functions, from time `now`, charging at most `cap`
    /// cycles per sample.
    pub fn new(functions: usize, now: u64, cap: u64) -> Sampler {
        Sampler {
            cycles: vec![0; functions],
            samples: vec![0; functions],
            idle: 0,
            unsampled: 0,
            last: now,
            cap,
        }
    }

    /// A poll at `now` found function `running` (or none) running.
    pub fn sample(&mut self, now: u64, running: Option<usize>) {
        let since = now.saturating_sub(self.last);
        self.last = now;
        let charged = since.min(self.cap);
        self.unsampled += since - charged;
        match running.filter(|&f| f < self.cycles.len()) {
            Some(f) => {
                self.cycles[f] += charged;
                self.samples[f] += 1;
            }
            None => self.idle += charged,
        }
    }

    /// Function `f`'s cycles and samples.
    pub fn of(&self, f: usize) -> (u64, u64) {
        (
            self.cycles.get(f).copied().unwrap_or(0),
            self.samples.get(f).copied().unwrap_or(0),
        )
    }

    /// Cycles charged to functions, idle, unsampled.
    pub fn totals(&self) -> (u64, u64, u64) {
        (self.cycles.iter().sum(), self.idle, self.unsampled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_poll_charges_the_function_running_up_to_the_cap() {
        let mut s = Sampler::new(2, 1000, 100);
        s.sample(1050, Some(0));
        s.sample(1100, Some(1));
        s.sample(1130, Some(1));
        // Late: 300 cycles, of which 100 are charged.
        s.sample(1430, Some(0));
        s.sample(1460, None);
        // Out of range: nobody's.
        s.sample(1470, Some(7));
        assert_eq!(s.of(0), (150, 2));
        assert_eq!(s.of(1), (80, 2));
        assert_eq!(s.of(9), (0, 0));
        assert_eq!(s.totals(), (230, 40, 200));
        // Everything since the start is accounted for.
        let (charged, idle, unsampled) = s.totals();
        assert_eq!(charged + idle + unsampled, 1470 - 1000);
    }
}
