//! Physical frame bookkeeping: a bitmap with one bit per 4 KiB frame
//! (1 = in use). The kernel supplies the storage (carved from usable memory)
//! and marks the usable regions free; everything else stays in use forever.

/// Why a free was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    OutOfRange(u64),
    /// The frame was already free: a double free in the caller.
    NotInUse(u64),
}

/// One bit per frame over `[0, frames)`.
#[derive(Debug)]
pub struct FrameBitmap<'a> {
    bits: &'a mut [u64],
    frames: u64,
    free: u64,
    /// Word where the last search ended, so that allocation is not quadratic.
    hint: usize,
}

impl<'a> FrameBitmap<'a> {
    /// Words of storage needed to track `frames` frames.
    pub const fn words_for(frames: u64) -> usize {
        frames.div_ceil(64) as usize
    }

    /// Tracks `frames` frames, all in use. `bits` must hold at least
    /// [`FrameBitmap::words_for`] words.
    pub fn new(bits: &'a mut [u64], frames: u64) -> FrameBitmap<'a> {
        let words = Self::words_for(frames);
        assert!(bits.len() >= words, "frame bitmap storage too small");
        let bits = &mut bits[..words];
        bits.fill(u64::MAX);
        FrameBitmap {
            bits,
            frames,
            free: 0,
            hint: 0,
        }
    }

    /// Marks `[first, first + count)` free, clipped to the tracked range;
    /// frames already free stay free.
    pub fn release_range(&mut self, first: u64, count: u64) {
        let end = first.saturating_add(count).min(self.frames);
        for f in first..end {
            let (w, b) = ((f / 64) as usize, f % 64);
            if self.bits[w] & (1 << b) != 0 {
                self.bits[w] &= !(1 << b);
                self.free += 1;
            }
        }
    }

    /// Marks `[first, first + count)` in use (clipped); returns how many
    /// frames changed.
    pub fn reserve_range(&mut self, first: u64, count: u64) -> u64 {
        let end = first.saturating_add(count).min(self.frames);
        let mut changed = 0;
        for f in first..end {
            let (w, b) = ((f / 64) as usize, f % 64);
            if self.bits[w] & (1 << b) == 0 {
                self.bits[w] |= 1 << b;
                changed += 1;
            }
        }
        self.free -= changed;
        changed
    }

    /// Takes one free frame (lowest after the last one found).
    pub fn alloc(&mut self) -> Option<u64> {
        let n = self.bits.len();
        for i in 0..n {
            let w = (self.hint + i) % n;
            if self.bits[w] != u64::MAX {
                let b = (!self.bits[w]).trailing_zeros() as u64;
                let frame = w as u64 * 64 + b;
                if frame >= self.frames {
                    continue;
                }
                self.bits[w] |= 1 << b;
                self.free -= 1;
                self.hint = w;
                return Some(frame);
            }
        }
        None
    }

    /// Takes `count` free frames in a row (for DMA: a device sees one
    /// physical range); returns the first. One pass over the bitmap,
    /// skipping full words, so the cost is bounded by the memory size.
    pub fn alloc_contiguous(&mut self, count: u64) -> Option<u64> {
        if count == 0 || count > self.free {
            return None;
        }
        let mut run_start = 0;
        let mut run = 0;
        let mut f = 0;
        while f < self.frames {
            if f % 64 == 0 && self.bits[(f / 64) as usize] == u64::MAX {
                run = 0;
                f += 64;
                continue;
            }
            if self.is_free(f) {
                if run == 0 {
                    run_start = f;
                }
                run += 1;
                if run == count {
                    self.reserve_range(run_start, count);
                    return Some(run_start);
                }
            } else {
                run = 0;
            }
            f += 1;
        }
        None
    }

    /// Returns a frame.
    pub fn free(&mut self, frame: u64) -> Result<(), FreeError> {
        if frame >= self.frames {
            return Err(FreeError::OutOfRange(frame));
        }
        let (w, b) = ((frame / 64) as usize, frame % 64);
        if self.bits[w] & (1 << b) == 0 {
            return Err(FreeError::NotInUse(frame));
        }
        self.bits[w] &= !(1 << b);
        self.free += 1;
        Ok(())
    }

    pub fn is_free(&self, frame: u64) -> bool {
        frame < self.frames && self.bits[(frame / 64) as usize] & (1 << (frame % 64)) == 0
    }

    pub fn free_count(&self) -> u64 {
        self.free
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn starts_full_and_hands_out_released_frames_only() {
        let mut store = [0u64; 4];
        let mut fb = FrameBitmap::new(&mut store, 200);
        assert_eq!(fb.alloc(), None);
        fb.release_range(10, 3);
        fb.release_range(190, 100); // clipped at 200
        assert_eq!(fb.free_count(), 13);
        let mut got: Vec<u64> = std::iter::from_fn(|| fb.alloc()).collect();
        got.sort();
        let want: Vec<u64> = (10..13).chain(190..200).collect();
        assert_eq!(got, want);
        assert_eq!(fb.free_count(), 0);
    }

    #[test]
    fn free_rejects_double_free_and_out_of_range() {
        let mut store = [0u64; 1];
        let mut fb = FrameBitmap::new(&mut store, 64);
        fb.release_range(0, 64);
        let f = fb.alloc().unwrap();
        assert_eq!(fb.free(f), Ok(()));
        assert_eq!(fb.free(f), Err(FreeError::NotInUse(f)));
        assert_eq!(fb.free(64), Err(FreeError::OutOfRange(64)));
        assert_eq!(fb.free_count(), 64);
    }

    #[test]
    fn never_hands_out_frames_past_the_end_of_the_last_word() {
        let mut store = [0u64; 1];
        let mut fb = FrameBitmap::new(&mut store, 3);
        fb.release_range(0, 64);
        assert_eq!(fb.free_count(), 3);
        assert_eq!(
            (fb.alloc(), fb.alloc(), fb.alloc(), fb.alloc()),
            (Some(0), Some(1), Some(2), None)
        );
    }

    #[test]
    fn reserve_takes_free_frames_out() {
        let mut store = [0u64; 2];
        let mut fb = FrameBitmap::new(&mut store, 128);
        fb.release_range(0, 128);
        assert_eq!(fb.reserve_range(100, 10), 10);
        assert_eq!(fb.reserve_range(105, 10), 5);
        assert_eq!(fb.free_count(), 113);
        assert!(!fb.is_free(100) && fb.is_free(99) && fb.is_free(115));
    }

    #[test]
    fn contiguous_runs_skip_holes_and_full_words() {
        let mut store = [0u64; 4];
        let mut fb = FrameBitmap::new(&mut store, 256);
        fb.release_range(3, 2); // too short
        fb.release_range(70, 5); // in the second word
        fb.release_range(130, 40);
        fb.release_range(190, 66);
        assert_eq!(fb.alloc_contiguous(5), Some(70));
        assert!(!fb.is_free(70) && !fb.is_free(74));
        assert_eq!(fb.alloc_contiguous(3), Some(130)); // the 2 at 3 are too few
        assert_eq!(fb.alloc_contiguous(60), Some(190));
        assert_eq!(fb.alloc_contiguous(40), None);
        assert_eq!(fb.alloc_contiguous(0), None);
        assert_eq!(fb.alloc_contiguous(2), Some(3));
        assert_eq!(fb.free_count(), 37 + 6);
    }

    proptest! {
        /// Random alloc/free sequences keep the count equal to the model's.
        #[test]
        fn count_matches_a_model(ops in proptest::collection::vec(any::<bool>(), 1..400)) {
            let mut store = [0u64; 3];
            let mut fb = FrameBitmap::new(&mut store, 150);
            fb.release_range(0, 150);
            let mut held = Vec::new();
            for alloc in ops {
                if alloc {
                    if let Some(f) = fb.alloc() {
                        prop_assert!(!held.contains(&f));
                        held.push(f);
                    } else {
                        prop_assert_eq!(held.len(), 150);
                    }
                } else if let Some(f) = held.pop() {
                    prop_assert_eq!(fb.free(f), Ok(()));
                }
                prop_assert_eq!(fb.free_count(), 150 - held.len() as u64);
            }
        }
    }
}
