//! Execution tiers by name: `interp` (the bytecode interpreter in the app
//! host), then `O0`..`O3` (JIT-compiled at LLVM's optimization levels).
//! People read and write the names; the JIT protocol carries the level.

use core::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Interp,
    /// Compiled at LLVM `-O0`..`-O3` (0..=3).
    Compiled(u8),
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Tier; 5] = [
        Tier::Interp,
        Tier::Compiled(0),
        Tier::Compiled(1),
        Tier::Compiled(2),
        Tier::Compiled(3),
    ];

    /// `interp`, `O0`..`O3` (also `0`..`3` and `o2`, as older manifests
    /// and habits write them).
    pub fn parse(text: &str) -> Option<Tier> {
        if text == "interp" {
            return Some(Tier::Interp);
        }
        let digits = text.strip_prefix(['O', 'o']).unwrap_or(text);
        match digits {
            "0" | "1" | "2" | "3" => Some(Tier::Compiled(digits.as_bytes()[0] - b'0')),
            _ => None,
        }
    }

    /// The LLVM level a compile at this tier uses (`None` for the
    /// interpreter).
    pub fn level(self) -> Option<u8> {
        match self {
            Tier::Interp => None,
            Tier::Compiled(l) => Some(l),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tier::Interp => f.write_str("interp"),
            Tier::Compiled(l) => write!(f, "O{l}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn names_round_trip_and_numbers_are_accepted() {
        for t in Tier::ALL {
            assert_eq!(Tier::parse(&t.to_string()), Some(t));
        }
        assert_eq!(Tier::parse("2"), Some(Tier::Compiled(2)));
        assert_eq!(Tier::parse("o3"), Some(Tier::Compiled(3)));
        for bad in ["", "O4", "4", "interpreter", "O", "O-1", "O10"] {
            assert_eq!(Tier::parse(bad), None, "{bad}");
        }
        assert!(Tier::Interp < Tier::Compiled(0));
    }
}
