//! Every ordering fact is an edge. Nodes are steps with the objects they produce, remove,
//! need and release; edges are derived uniformly from those sets and the dependency facts of
//! both schemas, then a deterministic topological sort with priorities orders them.
//!
//! Edge rules (S before T):
//! 1. S produces X and T needs X (directly, or because something T produces depends on X in
//!    the desired schema);
//! 2. S releases Y (S removes something that depended on Y in the current schema, or S stops
//!    depending on Y) and T removes or alters Y;
//! 3. S removes X and T produces X again (drop before re-create);
//! 4. S frees a relation/type name and T claims it (a dropped table's name reused by a view);
//! 5. steps generated from one change keep their order;
//! 6. S creates a cast and T creates a view, index, constraint, policy or trigger: PostgreSQL
//!    records no dependency on a cast in an expression that uses it (only on its function, and
//!    a `WITH INOUT` cast has none), yet it must exist when the expression is parsed.
//!
//! Among ready steps, the one with the smallest priority key runs first: creates and alters
//! before drops, brief steps before those that run alongside traffic (long scans and builds),
//! then by object kind and name, then by generation order. Cycles (which the
//! catalog should not produce) are broken deterministically at the smallest key.

use super::Step;
use crate::model::{ObjectId, QName, Schema};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// A step with the facts the ordering needs.
#[derive(Clone, Debug)]
pub struct Node {
    pub step: Step,
    pub produces: Vec<ObjectId>,
    pub removes: Vec<ObjectId>,
    /// Objects this step needs beyond the dependencies of what it produces.
    pub needs: Vec<ObjectId>,
    /// Objects this step stops depending on (for alters).
    pub releases: Vec<ObjectId>,
    /// Dependencies of produced objects to ignore (ordered by another step, e.g. a sequence's
    /// owner column is attached by a later `OWNED BY` step).
    pub ignore_needs: Vec<ObjectId>,
    pub claims: Vec<QName>,
    pub frees: Vec<QName>,
    /// Priority among steps that are ready at the same time.
    pub rank: Rank,
    /// Objects this step modifies in place (an `ALTER COLUMN`): steps that stop depending on
    /// them (dropping a primary key before `DROP NOT NULL`) run first.
    pub alters: Vec<ObjectId>,
    /// The object the step is about (priority tie-break).
    pub object: ObjectId,
}

impl Node {
    pub fn new(step: Step, object: ObjectId) -> Node {
        Node {
            step,
            produces: Vec::new(),
            removes: Vec::new(),
            needs: Vec::new(),
            releases: Vec::new(),
            ignore_needs: Vec::new(),
            claims: Vec::new(),
            frees: Vec::new(),
            rank: Rank::Create,
            alters: Vec::new(),
            object,
        }
    }
}

/// Ordering priority of ready steps: creates and alters first, then comments and grants on
/// what exists, then drops, then default privileges (which affect only later objects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    Create,
    Decorate,
    Drop,
    Last,
}

/// A group of nodes generated from one change; they keep their order.
pub type Chain = Vec<Node>;

/// Objects implied as dependencies by structure rather than `pg_depend`: the containing table
/// and the schema.
fn structural_deps(id: &ObjectId) -> Vec<ObjectId> {
    let mut v = Vec::new();
    if let Some(p) = id.parent() {
        v.push(p);
    }
    let schema = match id {
        ObjectId::Collation(q)
        | ObjectId::Type(q)
        | ObjectId::Sequence(q)
        | ObjectId::Table(q)
        | ObjectId::Index(q)
        | ObjectId::View(q)
        | ObjectId::Function(q, _)
        | ObjectId::TextSearchDictionary(q)
        | ObjectId::TextSearchConfiguration(q)
        | ObjectId::Operator(q, _)
        | ObjectId::OperatorClass(q, _)
        | ObjectId::OperatorFamily(q, _) => Some(q.schema.to_string()),
        _ => None,
    };
    if let Some(s) = schema {
        v.push(ObjectId::Schema(s.into()));
    }
    v
}

fn deps_in(schema: &Schema, id: &ObjectId) -> Vec<ObjectId> {
    let mut v: Vec<ObjectId> = schema.dependencies_of(id).cloned().collect();
    v.extend(structural_deps(id));
    // A view's column depends on its view; a table column on its table.
    v
}

/// Orders the chains' nodes; returns the steps in execution order.
pub fn order(chains: Vec<Chain>, current: &Schema, desired: &Schema) -> Vec<super::Tagged> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut edges: BTreeSet<(usize, usize)> = BTreeSet::new();
    for chain in chains {
        let start = nodes.len();
        for (i, n) in chain.into_iter().enumerate() {
            if i > 0 {
                edges.insert((start + i - 1, start + i));
            }
            nodes.push(n);
        }
    }
    let mut producers: BTreeMap<&ObjectId, Vec<usize>> = BTreeMap::new();
    let mut removers: BTreeMap<&ObjectId, Vec<usize>> = BTreeMap::new();
    let mut claimers: BTreeMap<&QName, Vec<usize>> = BTreeMap::new();
    let mut alterers: BTreeMap<&ObjectId, Vec<usize>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        n.produces
            .iter()
            .for_each(|x| producers.entry(x).or_default().push(i));
        n.removes
            .iter()
            .for_each(|x| removers.entry(x).or_default().push(i));
        n.claims
            .iter()
            .for_each(|x| claimers.entry(x).or_default().push(i));
        n.alters
            .iter()
            .for_each(|x| alterers.entry(x).or_default().push(i));
    }
    for (t, n) in nodes.iter().enumerate() {
        // Rule 1.
        let mut needs: BTreeSet<ObjectId> = n.needs.iter().cloned().collect();
        for x in &n.produces {
            needs.extend(deps_in(desired, x));
        }
        for x in n.produces.iter().chain(&n.ignore_needs) {
            needs.remove(x);
        }
        for x in &needs {
            for &s in producers.get(x).into_iter().flatten() {
                if s != t {
                    edges.insert((s, t));
                }
            }
        }
        // Rule 2 (n is S here).
        let mut releases: BTreeSet<ObjectId> = n.releases.iter().cloned().collect();
        for x in &n.removes {
            releases.extend(deps_in(current, x));
        }
        for x in n.removes.iter().chain(&n.ignore_needs) {
            releases.remove(x);
        }
        for y in &releases {
            let touching = removers.get(y).into_iter().chain(alterers.get(y));
            for &r in touching.flatten() {
                if r != t {
                    edges.insert((t, r));
                }
            }
        }
        // Rule 3.
        for x in &n.removes {
            for &p in producers.get(x).into_iter().flatten() {
                if p != t {
                    edges.insert((t, p));
                }
            }
        }
        // Rule 4.
        for q in &n.frees {
            for &c in claimers.get(q).into_iter().flatten() {
                if c != t {
                    edges.insert((t, c));
                }
            }
        }
    }
    // Rule 6.
    let casts: Vec<usize> = (0..nodes.len())
        .filter(|&i| {
            nodes[i]
                .produces
                .iter()
                .any(|x| matches!(x, ObjectId::Cast(..)))
        })
        .collect();
    if !casts.is_empty() {
        for (t, n) in nodes.iter().enumerate() {
            let uses_expressions = n.produces.iter().any(|x| {
                matches!(
                    x,
                    ObjectId::View(_)
                        | ObjectId::Index(_)
                        | ObjectId::Constraint(..)
                        | ObjectId::Policy(..)
                        | ObjectId::Trigger(..)
                        | ObjectId::Rule(..)
                        | ObjectId::Statistics(_)
                        | ObjectId::DomainConstraint(..)
                )
            });
            if uses_expressions {
                for &c in &casts {
                    if c != t {
                        edges.insert((c, t));
                    }
                }
            }
        }
    }
    topo_sort(nodes, &edges)
}

/// (rank, runs alongside traffic, object, generation order): see [`topo_sort`].
type Key = (Rank, bool, ObjectId, usize);

fn topo_sort(nodes: Vec<Node>, edges: &BTreeSet<(usize, usize)>) -> Vec<super::Tagged> {
    let n = nodes.len();
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        indeg[b] += 1;
        out[a].push(b);
    }
    // Among ready steps of a rank, the brief ones first and those that run alongside traffic
    // (validations, backfills, concurrent builds: long) after them, so a long step never
    // stands between a drop and the re-creation it waits for (a view dropped around a column
    // change comes back in the transaction that dropped it, not after a validation scan).
    let key = |i: usize| -> Key {
        (
            nodes[i].rank,
            nodes[i].step.runs_alongside_traffic(),
            nodes[i].object.clone(),
            i,
        )
    };
    let mut heap: BinaryHeap<Reverse<Key>> = (0..n)
        .filter(|&i| indeg[i] == 0)
        .map(|i| Reverse(key(i)))
        .collect();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let i = match heap.pop() {
            Some(Reverse(k)) => k.3,
            // A cycle: take the smallest remaining node.
            None => (0..n)
                .filter(|&i| !done[i])
                .min_by_key(|&i| key(i))
                .expect("nodes remain"),
        };
        if done[i] {
            continue;
        }
        done[i] = true;
        order.push(i);
        for &j in &out[i] {
            indeg[j] = indeg[j].saturating_sub(1);
            if indeg[j] == 0 && !done[j] {
                heap.push(Reverse(key(j)));
            }
        }
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| {
            let n = slots[i].take().expect("each node once");
            super::Tagged {
                creates: n.produces.contains(&n.object),
                object: n.object,
                step: n.step,
            }
        })
        .collect()
}
