//! Dependency order across all statements of all files.
//!
//! A petgraph graph has one node per statement and an edge from every statement that creates
//! (or provides) a name to every statement that references (or needs) it. The order is Kahn's
//! algorithm with a min-heap on (priority, original index): schemas, extensions and `DO`
//! blocks come as early as they can, everything else keeps file order, then statement order,
//! whenever dependencies allow. A cycle (two tables with foreign keys to each other) does not
//! fail: when nothing is ready, the earliest remaining statement goes next, so the cyclic part
//! keeps its original order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

/// What the sort needs to know about one statement.
pub(crate) struct Item<'a> {
    /// Names that make this statement a dependency of others.
    pub gives: Vec<&'a str>,
    /// Names this statement depends on.
    pub takes: Vec<&'a str>,
    /// Lower runs earlier among statements that are ready at the same time.
    pub priority: u8,
}

/// The order to run `items` in, as indexes into `items`.
pub(crate) fn order(items: &[Item]) -> Vec<usize> {
    let graph = build_graph(items);
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let key = |i: usize| Reverse((items[i].priority, i));
    let mut ready: BinaryHeap<_> = (0..items.len())
        .filter(|&i| waiting[i] == 0)
        .map(key)
        .collect();
    let mut done = vec![false; items.len()];
    let mut result = Vec::with_capacity(items.len());
    while result.len() < items.len() {
        let next = match ready.pop() {
            Some(Reverse((_, i))) if done[i] => continue,
            Some(Reverse((_, i))) => i,
            None => first_remaining(&done),
        };
        done[next] = true;
        result.push(next);
        for successor in graph.neighbors_directed(NodeIndex::new(next), Direction::Outgoing) {
            let s = successor.index();
            waiting[s] = waiting[s].saturating_sub(1);
            if waiting[s] == 0 && !done[s] {
                ready.push(key(s));
            }
        }
    }
    result
}

/// Breaks a cycle: the earliest statement not yet placed.
fn first_remaining(done: &[bool]) -> usize {
    done.iter()
        .position(|d| !d)
        .expect("called only while statements remain")
}

fn build_graph(items: &[Item]) -> DiGraph<usize, ()> {
    let mut graph = DiGraph::with_capacity(items.len(), items.len());
    for i in 0..items.len() {
        graph.add_node(i);
    }
    let mut givers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        for name in &item.gives {
            givers.entry(name).or_default().push(i);
        }
    }
    for (i, item) in items.iter().enumerate() {
        let mut from: Vec<usize> = item
            .takes
            .iter()
            .filter_map(|name| givers.get(name))
            .flatten()
            .copied()
            .filter(|&g| g != i)
            .collect();
        from.sort_unstable();
        from.dedup();
        for g in from {
            graph.add_edge(NodeIndex::new(g), NodeIndex::new(i), ());
        }
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item<'a>(gives: &[&'a str], takes: &[&'a str]) -> Item<'a> {
        Item {
            gives: gives.to_vec(),
            takes: takes.to_vec(),
            priority: 1,
        }
    }

    #[test]
    fn creators_come_before_referencers() {
        let items = [item(&["v"], &["t"]), item(&["t"], &[])];
        assert_eq!(order(&items), [1, 0]);
    }

    #[test]
    fn independent_statements_keep_original_order() {
        let items = [item(&["a"], &[]), item(&["b"], &[]), item(&["c"], &["a"])];
        assert_eq!(order(&items), [0, 1, 2]);
    }

    #[test]
    fn cycles_keep_original_order_and_do_not_fail() {
        let items = [
            item(&["a"], &["b"]),
            item(&["b"], &["a"]),
            item(&["c"], &["a"]),
            item(&["d"], &[]),
        ];
        assert_eq!(order(&items), [3, 0, 1, 2]);
    }

    #[test]
    fn priority_pulls_schemas_first() {
        let mut schema = item(&["app"], &[]);
        schema.priority = 0;
        let items = [item(&["t"], &[]), schema];
        assert_eq!(order(&items), [1, 0]);
    }
}
