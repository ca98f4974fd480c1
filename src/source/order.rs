//! Dependency order across all statements of all files.
//!
//! A petgraph graph has one node per statement and an edge from every statement that creates a
//! name to every statement that references it, and from every statement that adds to an object
//! (a column, a partition, a unique key) to every statement that uses it without adding to it
//! too. Cycles (two tables with foreign keys to each other) are strongly connected components:
//! each is kept together in its original order. The components are ordered with Kahn's
//! algorithm and a min-heap on (priority, original index): schemas, extensions and `DO` blocks
//! come as early as they can, everything else keeps file order, then statement order, whenever
//! dependencies allow. The same input always gives the same order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// What the sort needs to know about one statement.
pub(crate) struct Item<'a> {
    /// Names this statement creates: every statement referencing one comes after it.
    pub creates: Vec<&'a str>,
    /// Names of objects this statement adds to: statements referencing one come after it,
    /// except statements that add to the same object.
    pub provides: Vec<&'a str>,
    /// Names this statement depends on.
    pub takes: Vec<&'a str>,
    /// Lower runs earlier among statements that are ready at the same time.
    pub priority: u8,
}

/// The order to run `items` in, as indexes into `items`.
#[cfg(test)]
fn order(items: &[Item]) -> Vec<usize> {
    order_with_cycles(items).sequence
}

/// An order and the dependency cycles found on the way.
pub(crate) struct Ordered {
    /// Indexes into the items, in the order to run them.
    pub sequence: Vec<usize>,
    /// Each cycle (strongly connected component of more than one statement), as indexes into
    /// the items in original order.
    pub cycles: Vec<Vec<usize>>,
}

/// The order to run `items` in, and the cycles among them.
pub(crate) fn order_with_cycles(items: &[Item]) -> Ordered {
    let graph = build_graph(items);
    let components = components(&graph);
    let successors = component_edges(&graph, &components);
    let mut waiting = vec![0usize; components.members.len()];
    for &target in successors.iter().flatten() {
        waiting[target] += 1;
    }
    let key = |c: usize| {
        let members = &components.members[c];
        let priority = members.iter().map(|&i| items[i].priority).min();
        Reverse((priority, members[0]))
    };
    let mut ready: BinaryHeap<_> = (0..waiting.len())
        .filter(|&c| waiting[c] == 0)
        .map(|c| (key(c), c))
        .collect();
    let mut result = Vec::with_capacity(items.len());
    while let Some((_, c)) = ready.pop() {
        result.extend(&components.members[c]);
        for &next in &successors[c] {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push((key(next), next));
            }
        }
    }
    let cycles = components
        .members
        .iter()
        .filter(|m| m.len() > 1)
        .cloned()
        .collect();
    Ordered {
        sequence: result,
        cycles,
    }
}

/// Strongly connected components: their members (sorted by original index) and, per
/// statement, its component.
struct Components {
    members: Vec<Vec<usize>>,
    of: Vec<usize>,
}

fn components(graph: &DiGraph<usize, ()>) -> Components {
    let mut members: Vec<Vec<usize>> = tarjan_scc(graph)
        .into_iter()
        .map(|scc| {
            let mut m: Vec<usize> = scc.into_iter().map(NodeIndex::index).collect();
            m.sort_unstable();
            m
        })
        .collect();
    members.sort_unstable_by_key(|m| m[0]);
    let mut of = vec![0; graph.node_count()];
    for (c, m) in members.iter().enumerate() {
        for &i in m {
            of[i] = c;
        }
    }
    Components { members, of }
}

/// The edges between different components (the condensation, a DAG).
fn component_edges(graph: &DiGraph<usize, ()>, components: &Components) -> Vec<BTreeSet<usize>> {
    let mut successors = vec![BTreeSet::new(); components.members.len()];
    for edge in graph.raw_edges() {
        let from = components.of[edge.source().index()];
        let to = components.of[edge.target().index()];
        if from != to {
            successors[from].insert(to);
        }
    }
    successors
}

fn build_graph(items: &[Item]) -> DiGraph<usize, ()> {
    let mut graph = DiGraph::with_capacity(items.len(), items.len());
    for i in 0..items.len() {
        graph.add_node(i);
    }
    let creators = index_by_name(items, |item| &item.creates);
    let providers = index_by_name(items, |item| &item.provides);
    for (i, item) in items.iter().enumerate() {
        let mut from = BTreeSet::new();
        for name in &item.takes {
            from.extend(creators.get(name).into_iter().flatten());
            if !item.provides.contains(name) {
                from.extend(providers.get(name).into_iter().flatten());
            }
        }
        from.remove(&i);
        for g in from {
            graph.add_edge(NodeIndex::new(g), NodeIndex::new(i), ());
        }
    }
    graph
}

fn index_by_name<'a>(
    items: &'a [Item<'a>],
    names: impl Fn(&'a Item<'a>) -> &'a [&'a str],
) -> HashMap<&'a str, Vec<usize>> {
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        for name in names(item) {
            index.entry(name).or_default().push(i);
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item<'a>(creates: &[&'a str], takes: &[&'a str]) -> Item<'a> {
        Item {
            creates: creates.to_vec(),
            provides: Vec::new(),
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
    fn cycles_stay_together_in_original_order_and_before_their_users() {
        let items = [
            item(&["x"], &["a"]),
            item(&["a"], &["b"]),
            item(&["b"], &["a"]),
            item(&["d"], &[]),
        ];
        assert_eq!(order(&items), [1, 2, 0, 3]);
        assert_eq!(order_with_cycles(&items).cycles, [vec![1, 2]]);
    }

    #[test]
    fn providers_come_before_users_but_not_before_each_other() {
        let mut part1 = item(&["p1"], &["p"]);
        part1.provides = vec!["p"];
        let mut part2 = item(&["p2"], &["p"]);
        part2.provides = vec!["p"];
        let items = [item(&["i"], &["p"]), part2, item(&["p"], &[]), part1];
        assert_eq!(order(&items), [2, 1, 3, 0]);
    }

    #[test]
    fn priority_pulls_schemas_first() {
        let mut schema = item(&["app"], &[]);
        schema.priority = 0;
        let items = [item(&["t"], &[]), schema];
        assert_eq!(order(&items), [1, 0]);
    }
}
