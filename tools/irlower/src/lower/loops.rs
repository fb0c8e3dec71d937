//! A function's loop back-edges: the edges a depth-first walk from the
//! entry block takes to a block still on its path (for the reducible
//! control flow C compiles to, each natural loop's latches to its
//! header). The lowering sends each through a `BackJump`, which counts one
//! iteration for the profiler.

use crate::llvm::{Block, Value};
use std::collections::HashSet;

fn successors(b: Block) -> Vec<Block> {
    b.instructions()
        .last()
        .map(|t: &Value| t.successors())
        .unwrap_or_default()
}

/// The back-edges (from, to) of the function whose blocks are `blocks`
/// (the entry first).
pub fn back_edges(blocks: &[Block]) -> HashSet<(Block, Block)> {
    let mut back = HashSet::new();
    let Some(&entry) = blocks.first() else {
        return back;
    };
    let mut visited: HashSet<Block> = HashSet::from([entry]);
    let mut on_path: HashSet<Block> = HashSet::from([entry]);
    // Each frame: a block, its successors, the next one to look at.
    let mut stack = vec![(entry, successors(entry), 0usize)];
    while let Some((b, succ, next)) = stack.last_mut() {
        let Some(&s) = succ.get(*next) else {
            on_path.remove(b);
            stack.pop();
            continue;
        };
        *next += 1;
        let from = *b;
        if on_path.contains(&s) {
            back.insert((from, s));
        } else if visited.insert(s) {
            on_path.insert(s);
            stack.push((s, successors(s), 0));
        }
    }
    back
}
