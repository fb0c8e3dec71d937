//! Profile-guided O3: what the profiler tells the JIT about a function
//! when it asks for its O3 code. The counts are the interpreter's (its
//! calls and branch edges while it ran the function, `ipc_abi::counters`):
//! compiled code below O3 counts calls and loop back-edges, not branches,
//! so the calls sent are those of the same span as the branch counts,
//! which keeps the entry count and the weights on one scale.

use ipc_abi::proto::jit::{BranchCounts, MAX_PROFILE_BRANCHES, Profile};

/// Function's profile from `calls` (in the interpreted span), its number
/// of conditional `branches`, and its branch `edges` as
/// `Counters::edges` gives them (edge number, taken, not taken); `None`
/// when nothing was counted. Keeps the [`MAX_PROFILE_BRANCHES`] hottest
/// branches (most executions; the lower edge number first among equals),
/// in edge order, and divides every count by one factor so that all fit
/// in `u32`.
pub fn profile(
    calls: u64,
    branches: usize,
    edges: impl Iterator<Item = (usize, u64, u64)>,
) -> Option<Profile> {
    let mut hottest: alloc::vec::Vec<(usize, u64, u64)> =
        edges.filter(|&(edge, _, _)| edge < branches).collect();
    if calls == 0 && hottest.is_empty() {
        return None;
    }
    hottest.sort_by_key(|&(edge, t, n)| (core::cmp::Reverse(t.saturating_add(n)), edge));
    hottest.truncate(MAX_PROFILE_BRANCHES);
    hottest.sort_by_key(|&(edge, _, _)| edge);
    let largest = hottest
        .iter()
        .flat_map(|&(_, t, n)| [t, n])
        .chain([calls])
        .max()
        .unwrap_or(0);
    let factor = largest / u64::from(u32::MAX) + 1;
    let scaled = |c: u64| (c / factor) as u32;
    let mut weights = heapless::Vec::new();
    for (edge, t, n) in hottest {
        // The truncation above keeps this within capacity.
        let _ = weights.push(BranchCounts {
            edge: edge as u32,
            taken: scaled(t),
            not_taken: scaled(n),
        });
    }
    Some(Profile {
        calls: scaled(calls),
        branches: u32::try_from(branches).unwrap_or(u32::MAX),
        weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(p: &Profile) -> std::vec::Vec<(u32, u32, u32)> {
        p.weights
            .iter()
            .map(|w| (w.edge, w.taken, w.not_taken))
            .collect()
    }

    #[test]
    fn nothing_counted_is_no_profile() {
        assert_eq!(profile(0, 3, [].into_iter()), None);
        // Calls alone are a profile (an entry count, no weights).
        let p = profile(5, 3, [].into_iter()).unwrap();
        assert_eq!((p.calls, p.branches, p.weights.len()), (5, 3, 0));
    }

    #[test]
    fn the_hottest_branches_are_kept_in_edge_order() {
        let n = MAX_PROFILE_BRANCHES + 10;
        // Branch k ran k + 1 times (all taken): the ten coldest go.
        let edges = (0..n).map(|k| (k, k as u64 + 1, 0));
        let p = profile(1, n, edges).unwrap();
        let got = counts(&p);
        assert_eq!(got.len(), MAX_PROFILE_BRANCHES);
        assert_eq!(got[0], (10, 11, 0));
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        // Edges past the function's branches are not its own: dropped.
        let p = profile(1, 2, [(0, 4, 1), (2, 9, 9)].into_iter()).unwrap();
        assert_eq!(counts(&p), [(0, 4, 1)]);
    }

    #[test]
    fn counts_too_large_for_u32_scale_together() {
        let big = 10 * u64::from(u32::MAX);
        let p = profile(big / 1000, 2, [(0, big, big / 10), (1, 3, 1)].into_iter()).unwrap();
        let got = counts(&p);
        assert!(got[0].1 > u32::MAX / 2, "scaled to fill u32, not past it");
        // The ratios stay: taken 10x not taken, calls a thousandth.
        assert_eq!(got[0].1 / got[0].2, 10);
        assert_eq!(got[0].1 / p.calls, 1000);
        // Counts below the factor round to zero (the JIT adds one).
        assert_eq!(got[1], (1, 0, 0));
    }
}
