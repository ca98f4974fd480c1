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

use foldhash::{HashMap, HashMapExt};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

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
    /// A statement that acts on objects other statements made (`DROP`, `RENAME`, `ALTER ...
    /// DROP COLUMN`): it keeps its written position (the items' index order) relative to every
    /// statement naming one of the same objects (see [`related`]).
    pub imperative: bool,
    /// Partitioned tables it creates a partition of (`CREATE TABLE ... PARTITION OF t`).
    pub partition_of: Vec<&'a str>,
    /// Tables it adds a `CHECK ... NOT VALID` to: such a statement keeps its written order
    /// against the partitions of the table ([`partition_of`](Item::partition_of)) instead of
    /// waiting for them, since the order decides whether a partition's copy is validated
    /// (created after the constraint) or `NOT VALID` (there before it).
    pub unvalidated_check_on: Vec<&'a str>,
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
    // An imperative statement is ordered by written order alone (`written_order`): as a
    // creator or user of names it would pull `DROP TABLE IF EXISTS t` after `CREATE TABLE t`.
    let creators = index_by_name(items, |item| &item.creates);
    let providers = index_by_name(items, |item| &item.provides);
    for (i, item) in items.iter().enumerate() {
        if item.imperative {
            continue;
        }
        let mut from = BTreeSet::new();
        for name in &item.takes {
            from.extend(creators.get(name).into_iter().flatten());
            if !item.provides.contains(name) {
                from.extend(providers.get(name).into_iter().flatten());
            }
        }
        from.remove(&i);
        // A `CHECK ... NOT VALID` on `t` and a partition of `t` written after it: the
        // partition comes after (its copy of the constraint is validated, as in file order).
        let later: Vec<usize> = from.iter().copied().filter(|&j| j > i).collect();
        for j in later {
            let partition_after = items[j]
                .partition_of
                .iter()
                .any(|t| item.unvalidated_check_on.contains(t));
            if partition_after {
                from.remove(&j);
                graph.update_edge(NodeIndex::new(i), NodeIndex::new(j), ());
            }
        }
        for g in from {
            graph.add_edge(NodeIndex::new(g), NodeIndex::new(i), ());
        }
    }
    written_order(items, &mut graph);
    graph
}

/// Pins every imperative statement in written order against the statements naming the same
/// objects: `DROP TABLE IF EXISTS t` written before `CREATE TABLE t` stays before it (a no-op on
/// the fresh shadow), `ALTER TABLE t DROP COLUMN c` written after it stays after it, and a
/// statement written after a rename or drop sees its result, as when the files run in order.
fn written_order(items: &[Item], graph: &mut DiGraph<usize, ()>) {
    let mentions: Vec<Vec<&str>> = items.iter().map(mentions).collect();
    for (i, item) in items.iter().enumerate() {
        if !item.imperative {
            continue;
        }
        for (j, other) in mentions.iter().enumerate() {
            let shared = j != i
                && mentions[i]
                    .iter()
                    .any(|a| other.iter().any(|b| related(a, b)));
            if shared {
                let (from, to) = if j < i { (j, i) } else { (i, j) };
                graph.update_edge(NodeIndex::new(from), NodeIndex::new(to), ());
            }
        }
    }
}

/// Every object name a statement creates, adds to or uses, without ordering-only suffixes.
fn mentions<'a>(item: &Item<'a>) -> Vec<&'a str> {
    item.creates
        .iter()
        .chain(&item.provides)
        .chain(&item.takes)
        .map(|n| n.split_once('#').map_or(*n, |(base, _)| base))
        .collect()
}

/// Whether two names are the same object or one contains the other (`s` and `s.t`, `s.t` and
/// `s.t.c`).
fn related(a: &str, b: &str) -> bool {
    let inside = |part: &str, whole: &str| {
        part.len() > whole.len()
            && part.starts_with(whole)
            && part.as_bytes()[whole.len()] == b'.'
            && !whole.contains(':')
    };
    a == b || inside(a, b) || inside(b, a)
}

fn index_by_name<'a>(
    items: &'a [Item<'a>],
    names: impl Fn(&'a Item<'a>) -> &'a [&'a str],
) -> HashMap<&'a str, Vec<usize>> {
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, item) in items
        .iter()
        .enumerate()
        .filter(|(_, item)| !item.imperative)
    {
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
            imperative: false,
            partition_of: Vec::new(),
            unvalidated_check_on: Vec::new(),
        }
    }

    #[test]
    fn imperative_statements_keep_written_order_against_the_same_objects() {
        let mut drop_if_exists = item(&[], &["t"]);
        drop_if_exists.imperative = true;
        let mut drop_column = item(&[], &["t"]);
        drop_column.imperative = true;
        let items = [
            item(&["u"], &[]),
            drop_if_exists,
            item(&["v"], &["t"]),
            item(&["t", "t.c"], &[]),
            drop_column,
        ];
        // By dependencies alone, `DROP TABLE IF EXISTS t` would wait for `CREATE TABLE t` and
        // drop it again.
        assert_eq!(order(&items), [0, 1, 3, 2, 4]);
        assert!(order_with_cycles(&items).cycles.is_empty());
    }

    #[test]
    fn a_dropped_schema_pins_the_objects_inside_it() {
        let mut create_schema = item(&["app"], &[]);
        create_schema.priority = 0;
        let mut again = item(&["app"], &[]);
        again.priority = 0;
        let mut drop_schema = item(&[], &["app"]);
        drop_schema.imperative = true;
        let items = [
            create_schema,
            item(&["app.t"], &["app"]),
            drop_schema,
            again,
            item(&["app.u"], &["app"]),
        ];
        // The schema created again after `DROP SCHEMA app CASCADE` is not pulled before it,
        // and what is written after the drop lands in the new schema.
        assert_eq!(order(&items), [0, 1, 2, 3, 4]);
        assert!(related("app", "app.t") && related("s.t.c", "s.t") && !related("app", "apps"));
    }

    #[test]
    fn a_not_valid_check_keeps_its_written_order_against_partitions() {
        let table = item(&["app.p"], &[]);
        let partition = |name: &'static [&'static str]| Item {
            provides: vec!["app.p"],
            partition_of: vec!["app.p"],
            ..item(name, &["app.p"])
        };
        let check = |not_valid: bool| Item {
            unvalidated_check_on: if not_valid { vec!["app.p"] } else { vec![] },
            ..item(&["app.p.c"], &["app.p"])
        };
        let column = Item {
            provides: vec!["app.p"],
            ..item(&["app.p.x"], &["app.p"])
        };
        // Written before the partitions: stays before them (their copies are validated).
        let items = [
            table,
            check(true),
            partition(&["app.p1"]),
            partition(&["app.p2"]),
        ];
        assert_eq!(order(&items), [0, 1, 2, 3]);
        // A validated CHECK waits for the partitions, as anything using the table does.
        let items = [item(&["app.p"], &[]), check(false), partition(&["app.p1"])];
        assert_eq!(order(&items), [0, 2, 1]);
        // Written after a partition: after it; a column added later still comes first.
        let items = [
            item(&["app.p"], &[]),
            partition(&["app.p1"]),
            check(true),
            partition(&["app.p2"]),
            column,
        ];
        assert_eq!(order(&items), [0, 1, 4, 2, 3]);
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
