//! Profile-guided O3: what the profiler tells the JIT about a function
//! when it asks for its O3 code: the counts of its branch edges (by the
//! interpreter and its O1 and O2 code) and call targets (by the
//! interpreter), `ipc_abi::counters`.

use alloc::vec::Vec;
use ipc_abi::proto::jit::{
    BranchCounts, CallTarget, MAX_PROFILE_BRANCHES, MAX_PROFILE_TARGETS, Profile,
};

/// Fewer runs of a branch (or calls at a site) than this say too little
/// of where it goes to weigh it: such counts are left out (a branch seen
/// once would be weighed 2 to 1 on one observation).
pub const MIN_SAMPLES: u64 = 16;

/// What the interpreter counted of one function (`Counters` gives each).
pub struct Counted<E, T> {
    /// Its number of conditional branches.
    pub branches: usize,
    /// Its branch edges: (edge number, taken, not taken).
    pub edges: E,
    /// Its number of calls through pointers.
    pub sites: usize,
    /// Its calls' hot targets: (site number, function, calls to it,
    /// calls).
    pub targets: T,
}

/// A function's profile from what was `counted`; `None` when nothing
/// was. Leaves out branches and call sites counted fewer than
/// [`MIN_SAMPLES`] times, keeps the [`MAX_PROFILE_BRANCHES`] hottest branches (most
/// executions; the lower edge number first among equals) and the
/// [`MAX_PROFILE_TARGETS`] busiest call sites, each in number order, and
/// divides every count by one factor so that all fit in `u32`.
pub fn profile<E, T>(counted: Counted<E, T>) -> Option<Profile>
where
    E: Iterator<Item = (usize, u64, u64)>,
    T: Iterator<Item = (usize, u32, u64, u64)>,
{
    let Counted {
        branches,
        edges,
        sites,
        targets,
    } = counted;
    let mut hottest: Vec<(usize, u64, u64)> = edges
        .filter(|&(edge, t, n)| edge < branches && t.saturating_add(n) >= MIN_SAMPLES)
        .collect();
    let mut busiest: Vec<(usize, u32, u64, u64)> = targets
        .filter(|&(site, .., total)| site < sites && total >= MIN_SAMPLES)
        .collect();
    if hottest.is_empty() && busiest.is_empty() {
        return None;
    }
    hottest.sort_by_key(|&(edge, t, n)| (core::cmp::Reverse(t.saturating_add(n)), edge));
    hottest.truncate(MAX_PROFILE_BRANCHES);
    hottest.sort_by_key(|&(edge, _, _)| edge);
    busiest.sort_by_key(|&(site, _, _, total)| (core::cmp::Reverse(total), site));
    busiest.truncate(MAX_PROFILE_TARGETS);
    busiest.sort_by_key(|&(site, ..)| site);
    let largest = hottest
        .iter()
        .flat_map(|&(_, t, n)| [t, n])
        .chain(busiest.iter().map(|&(.., total)| total))
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
    let mut call_targets = heapless::Vec::new();
    for (site, function, count, total) in busiest {
        let _ = call_targets.push(CallTarget {
            site: site as u32,
            function,
            count: scaled(count),
            total: scaled(total),
        });
    }
    Some(Profile {
        branches: u32::try_from(branches).unwrap_or(u32::MAX),
        weights,
        sites: u32::try_from(sites).unwrap_or(u32::MAX),
        targets: call_targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Edges = core::iter::Empty<(usize, u64, u64)>;
    type Targets = core::iter::Empty<(usize, u32, u64, u64)>;

    /// What `edges` and `targets` say, with numbers enough.
    fn counted<E, T>(branches: usize, edges: E, targets: T) -> Counted<E, T> {
        Counted {
            branches,
            edges,
            sites: 4,
            targets,
        }
    }

    fn counts(p: &Profile) -> std::vec::Vec<(u32, u32, u32)> {
        p.weights
            .iter()
            .map(|w| (w.edge, w.taken, w.not_taken))
            .collect()
    }

    #[test]
    fn nothing_counted_is_no_profile() {
        assert_eq!(
            profile(counted(3, Edges::default(), Targets::default())),
            None
        );
        // Counts too few to weigh anything: none either.
        let few = counted(3, [(0, 10, 5)].into_iter(), [(1, 2, 9, 9)].into_iter());
        assert_eq!(profile(few), None);
        let p = profile(counted(3, [(1, 10, 6)].into_iter(), Targets::default())).unwrap();
        assert_eq!((p.branches, p.weights.len(), p.sites), (3, 1, 4));
    }

    #[test]
    fn the_hottest_branches_are_kept_in_edge_order() {
        let n = MAX_PROFILE_BRANCHES + 10;
        // Branch k ran k + 16 times (all taken): the ten coldest go.
        let edges = (0..n).map(|k| (k, k as u64 + 16, 0));
        let p = profile(counted(n, edges, Targets::default())).unwrap();
        let got = counts(&p);
        assert_eq!(got.len(), MAX_PROFILE_BRANCHES);
        assert_eq!(got[0], (10, 26, 0));
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        // Edges past the function's branches are not its own, and a
        // branch seen 15 times is too rare: dropped.
        let edges = [(0, 40, 1), (1, 10, 5), (2, 90, 9)].into_iter();
        let p = profile(counted(2, edges, Targets::default())).unwrap();
        assert_eq!(counts(&p), [(0, 40, 1)]);
    }

    #[test]
    fn the_busiest_call_sites_are_kept_in_site_order() {
        // Site 3's calls mostly went to function 7, site 1's to 2; site 9
        // is not the function's, site 0 saw too few calls.
        let targets = [
            (0, 2, 9, 9),
            (1, 2, 40, 50),
            (3, 7, 90, 100),
            (9, 1, 50, 50),
        ]
        .into_iter();
        let p = profile(counted(0, Edges::default(), targets)).unwrap();
        let got: std::vec::Vec<_> = p
            .targets
            .iter()
            .map(|t| (t.site, t.function, t.count, t.total))
            .collect();
        assert_eq!(got, [(1, 2, 40, 50), (3, 7, 90, 100)]);
        // More sites than a profile holds: the busiest stay.
        let many = (0..MAX_PROFILE_TARGETS as u64 + 2).map(|k| (k as usize, 0, k + 16, k + 16));
        let c = Counted {
            sites: 100,
            ..counted(0, Edges::default(), many)
        };
        let p = profile(c).unwrap();
        assert_eq!(p.targets.len(), MAX_PROFILE_TARGETS);
        assert_eq!(p.targets[0].site, 2, "sites 0 and 1 (fewest calls) went");
    }

    #[test]
    fn counts_too_large_for_u32_scale_together() {
        let big = 10 * u64::from(u32::MAX);
        let edges = [(0, big, big / 10), (1, 30, 1)].into_iter();
        let targets = [(0, 1, big / 2, big / 1000)].into_iter();
        let p = profile(counted(2, edges, targets)).unwrap();
        let got = counts(&p);
        assert!(got[0].1 > u32::MAX / 2, "scaled to fill u32, not past it");
        // The ratios stay: taken 10x not taken, the site's calls a
        // thousandth of the branch's.
        assert_eq!(got[0].1 / got[0].2, 10);
        assert_eq!(got[0].1 / p.targets[0].total, 1000);
        // Small counts shrink with the rest (by 11 here), a count below
        // the factor to zero (the JIT adds one to every weight).
        assert_eq!(got[1], (1, 30 / 11, 0));
    }
}
