//! The incremental warm shadow (issue 9, point 3): bringing a kept desired database up to date
//! with edited schema files by dropping and re-running only the statements that changed and
//! the ones that depend on them, instead of loading every statement again.
//!
//! Owns the *manifest* kept with each kept database (per statement, in load order: a digest
//! of its text and annotations, how it may be updated ([`Mode`]), the names it creates and
//! references, and the OID range its objects got, see `load::load_tracked`), the decision
//! which statements re-run ([`plan_update`], pure, unit-tested), and applying that decision to
//! the kept database taken over by the run or a copy of it ([`update`]): drop the objects of
//! the statements that re-run, check that nothing else went with them, run those statements in
//! source order.
//!
//! Whenever the incremental path cannot be sure that the result is what a fresh load gives,
//! it says why ([`Fallback`]) and the caller loads afresh. Which cases those are, and why the
//! result is the same as a fresh load otherwise, is in `docs/shadow.md` ("Incremental
//! updates"). The database it works on is never a kept database under its name: one taken over
//! by the run (`Shadow::warm_take`, renamed away and updated in one transaction) or a scratch
//! copy, so concurrent runs stay safe.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::load::{self, LoadStatement, OidRange};
use crate::model::Name;
use crate::render::quote;

/// OIDs below this were assigned by `initdb` (`FirstNormalObjectId`): built-in objects, never
/// made by a schema file.
const FIRST_NORMAL_OID: u32 = 16384;

/// Version of the manifest format: a manifest of another format is not used.
pub const MANIFEST_FORMAT: u32 = 3;

/// How the incremental path may treat a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Makes objects of its own (`CREATE ...`): undone by dropping what it made (found by its
    /// OID range), re-run as it is.
    Creates,
    /// Changes objects other statements made (`COMMENT`, `GRANT`, `ALTER TABLE ... ADD ...`,
    /// `ALTER ... OWNER TO`): it cannot be undone by itself, so whenever it is added, changes
    /// or goes away, the objects it names (its *targets*) are made again first.
    Attached,
    /// Makes objects that other statements use with no `pg_depend` record of it: a cast (an
    /// expression using one depends on its function only, yet parsing the expression needs
    /// the cast, and a new cast can change how an unchanged expression parses). Undoing it
    /// would leave its users in place where a fresh load fails or parses them otherwise, so
    /// whenever it is added, changed or goes away the update falls back to a fresh load.
    /// Re-run as it is when something it depends on is made again.
    Untracked,
    /// Cannot be undone nor re-run in isolation (`DROP`, `RENAME`, `ALTER ... DROP COLUMN`,
    /// `DO` blocks, `ALTER DEFAULT PRIVILEGES`, `GRANT ... ON ALL ... IN SCHEMA`, event
    /// triggers): any change to schema files holding one is a fresh load.
    Unsafe,
}

/// What the incremental path knows of one statement to load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmStatement {
    /// Digest of the statement's text and annotations: equal digests are the same statement.
    /// A `Name`, shared by the manifest made of the statements rather than copied.
    pub digest: Name,
    pub mode: Mode,
    /// Names it creates (`source::Statement::creates`). `Name`s, not `String`s: the old and
    /// new statements of an update and the manifest made of them share each text (made in an
    /// [`crate::model::interning`] scope), where `String`s held ~10 MiB per copy at 5,000
    /// tables. Serialized as strings.
    pub creates: Vec<Name>,
    /// Names it references (`source::Statement::references`).
    pub references: Vec<Name>,
    /// Its kind (`CREATE INDEX`, ...), for the reasons of a fallback. A `Name`: a few dozen
    /// kinds among tens of thousands of statements, each text held once.
    pub kind: Name,
}

/// A statement of a kept database: what it was and the OIDs its objects got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub statement: WarmStatement,
    pub oids: OidRange,
}

/// The statements a kept database was loaded from, in load order (kept as the database's
/// comment, see `Shadow::warm_keep`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Key of everything the database depends on besides its statements (server, settings,
    /// roles, schemaplan's version): a manifest of another context is not used.
    pub context: String,
    pub entries: Vec<ManifestEntry>,
    /// When the database was kept, in nanoseconds since the Unix epoch (0: unknown), written
    /// by `Shadow::warm_keep`: which kept databases are the newest. Not their OIDs: an update
    /// in place (`Shadow::warm_take`) keeps its base's.
    #[serde(default)]
    pub kept_at: u64,
}

/// What a kept database's comment starts with when it holds a manifest of this format,
/// followed by the stamp ([`Manifest::kept_at`]) and the payload, separated by spaces.
fn comment_tag() -> String {
    format!("schemaplan-manifest-{MANIFEST_FORMAT}")
}

/// The stamp ([`Manifest::kept_at`]) of a comment written by [`Manifest::encode`], read from
/// its clear header without decoding the rest (which kept databases are the newest, asked at
/// every keep of every kept one); 0 for any other text.
pub fn kept_at_of(comment: &str) -> u64 {
    header(comment).map_or(0, |(kept_at, _)| kept_at)
}

/// The stamp and the payload of a comment written by [`Manifest::encode`].
fn header(comment: &str) -> Option<(u64, &str)> {
    let rest = comment.strip_prefix(&comment_tag())?.strip_prefix(' ')?;
    let (kept_at, payload) = rest.split_once(' ')?;
    Some((kept_at.parse().ok()?, payload))
}

impl Manifest {
    /// The manifest as a kept database's comment: a clear header (a tag naming the format,
    /// the stamp), then the manifest in postcard, deflated, in base64. At 5,000 tables the
    /// manifest is ~37,000 statements; sent as JSON it was ~10 MiB, and parsing it (~0.08 s)
    /// and writing it (~0.05 s) was on the desired side's path of every warm `plan` (issue 9):
    /// postcard is a fraction of both. A literal of the compressed text is small enough not to
    /// be held three times over (the text, the escaped literal, the client's send buffer) as
    /// the JSON once was, at a cold `plan`'s peak.
    pub fn encode(&self) -> Option<String> {
        use base64::Engine;
        use std::io::Write;
        // To the compressor in 64 KiB blocks, as it is written: postcard writes a few bytes
        // at a time, and each write straight into the encoder is a compressor call.
        let z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut w = std::io::BufWriter::with_capacity(1 << 16, z);
        postcard::to_io(self, &mut w).ok()?;
        w.flush().ok()?;
        let z = w.into_inner().ok()?.finish().ok()?;
        let payload = base64::engine::general_purpose::STANDARD.encode(z);
        Some(format!("{} {} {payload}", comment_tag(), self.kept_at))
    }

    /// The manifest of a comment written by [`Manifest::encode`]; `None` for any other text (an
    /// older schemaplan's JSON, a comment that is not a manifest). Names are interned. The
    /// payload is inflated whole and decoded from memory; the inflated bytes are transient,
    /// beside the manifest built.
    pub fn decode(comment: &str) -> Option<Manifest> {
        use base64::Engine;
        use std::io::Read;
        let (_, payload) = header(comment)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()?;
        let mut plain = Vec::new();
        flate2::read::DeflateDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .ok()?;
        drop(bytes);
        crate::model::interning(|| postcard::from_bytes(&plain).ok())
    }

    /// The manifest of statements just loaded with `load::load_tracked`.
    pub fn new(context: &str, statements: &[WarmStatement], oids: &[OidRange]) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            context: context.to_string(),
            entries: statements
                .iter()
                .zip(oids)
                .map(|(s, o)| ManifestEntry {
                    statement: s.clone(),
                    oids: *o,
                })
                .collect(),
            kept_at: 0,
        }
    }

    /// How many of `statements` this manifest has (by digest, counting repeats): the best base
    /// for an update shares the most.
    pub fn shared(&self, statements: &[WarmStatement]) -> usize {
        let mut have: HashMap<&str, usize> = HashMap::new();
        for e in &self.entries {
            *have.entry(e.statement.digest.as_str()).or_default() += 1;
        }
        statements
            .iter()
            .filter(|s| match have.get_mut(s.digest.as_str()) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            })
            .count()
    }
}

/// Why the incremental path gave up (the caller loads afresh).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Fallback(pub String);

fn fallback<T>(why: impl Into<String>) -> Result<T, Fallback> {
    Err(Fallback(why.into()))
}

/// What a kept database holds, as the update needs it: its objects and `pg_depend`.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// Every object made by the loaded statements: (catalog OID, object OID).
    pub objects: Vec<(u32, u32)>,
    /// `pg_depend` between such objects: (object, referenced object, deptype).
    pub depend: Vec<(u32, u32, u8)>,
    /// Whether the database has partitioned tables (see [`plan_update`]).
    pub partitioned: bool,
}

/// The decision: which statements re-run and what to drop first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// Indexes into the new statements, ascending (source order).
    pub rerun: Vec<usize>,
    /// Objects to drop, (catalog OID, object OID), newest first: those of the old statements
    /// that re-run or are gone, except parts that go with their owner.
    pub drop: Vec<(u32, u32)>,
    /// For each new statement that does not re-run, the OID range its objects kept.
    pub kept: Vec<Option<OidRange>>,
    /// How many old statements' objects are dropped.
    pub undone: usize,
}

/// Values grouped by key in one list sorted by key (a key's values in the order given): what
/// [`plan_update`] looks objects, edges and names up in. A map of `Vec`s allocates one list
/// per key; at 5,000 tables the update's ~100,000 objects, edges and names made its maps hold
/// ~35 MiB at the plan's peak memory (issue 9), one sorted list per map a fraction of that.
struct Grouped<K, V>(Vec<(K, V)>);

impl<K: Ord + Copy, V> Grouped<K, V> {
    fn new(mut pairs: Vec<(K, V)>) -> Self {
        // Stable: a key's values stay in the order given.
        pairs.sort_by_key(|p| p.0);
        Grouped(pairs)
    }

    /// Where `key`'s pairs start, and those pairs (empty when there are none).
    fn find(&self, key: K) -> (usize, &[(K, V)]) {
        let lo = self.0.partition_point(|p| p.0 < key);
        let n = self.0[lo..].partition_point(|p| p.0 <= key);
        (lo, &self.0[lo..lo + n])
    }

    /// The pairs of keys from `lo` (included) to `hi` (excluded), in key order.
    fn range(&self, lo: K, hi: K) -> &[(K, V)] {
        let from = self.0.partition_point(|p| p.0 < lo);
        let to = self.0.partition_point(|p| p.0 < hi);
        &self.0[from..to.max(from)]
    }
}

/// Positions (into `seq`) of a longest strictly increasing subsequence.
fn longest_increasing(seq: &[usize]) -> Vec<usize> {
    // Patience sorting: tails[k] = position of the smallest tail of an increasing run of
    // length k + 1; prev links each position to its predecessor in its run.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; seq.len()];
    for (i, &v) in seq.iter().enumerate() {
        let k = tails.partition_point(|&t| seq[t] < v);
        if k > 0 {
            prev[i] = Some(tails[k - 1]);
        }
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut out = Vec::new();
    let mut at = tails.last().copied();
    while let Some(i) = at {
        out.push(i);
        at = prev[i];
    }
    out.reverse();
    out
}

/// The names an attached statement changes: its references, less those that only qualify a
/// more specific one (`app` when it also names `app.t`, `app.t` when it names `app.t.c`).
fn targets(s: &WarmStatement) -> impl Iterator<Item = &Name> {
    s.references.iter().filter(move |r| {
        !s.references.iter().any(|other| {
            other.len() > r.len()
                && other.starts_with(r.as_str())
                && other.as_bytes()[r.len()] == b'.'
        })
    })
}

/// Decides how to bring the database of `old` to `new` (statements in source order), given
/// what the database holds. Pure.
///
/// 1. Statements are matched by digest; matched statements out of their old relative order
///    (not on a longest increasing run) count as changed, so they re-run in their new place.
/// 2. A worklist closes the set of statements that re-run over four rules: the old statement
///    of a re-run one is undone (its objects dropped) and an undone one re-runs when it is
///    still in the files; every object depending (`pg_depend`) on an object of an undone
///    statement belongs to a statement that is undone too (and an object with an internal or
///    extension dependency on another takes that one's statement with it); a statement that
///    references a name an undone or re-run statement creates re-runs (a `LIKE`, a `%TYPE`,
///    what `pg_depend` does not record); an attached statement that is new, changed or gone
///    has its targets made again.
/// 3. The objects to drop are those of undone statements, less those with an internal or
///    automatic dependency on another object dropped (they go with it).
pub fn plan_update<'a>(
    old: &'a Manifest,
    new: &'a [WarmStatement],
    db: &Objects,
) -> Result<Update, Fallback> {
    let old_st: Vec<&WarmStatement> = old.entries.iter().map(|e| &e.statement).collect();
    if old_st.len() == new.len() && old_st.iter().zip(new).all(|(a, b)| a.digest == b.digest) {
        return Ok(Update {
            rerun: Vec::new(),
            drop: Vec::new(),
            kept: old.entries.iter().map(|e| Some(e.oids)).collect(),
            undone: 0,
        });
    }
    if let Some(s) = old_st
        .iter()
        .copied()
        .chain(new)
        .find(|s| s.mode == Mode::Unsafe)
    {
        return fallback(format!(
            "the schema files have a {} statement, which cannot be undone or re-run alone",
            s.kind
        ));
    }

    // 1. Match by digest, in order; keep the longest run that kept its relative order.
    let by_digest = Grouped::new(
        old_st
            .iter()
            .enumerate()
            .map(|(j, s)| (s.digest.as_str(), j))
            .collect(),
    );
    // How many of the old statements of a digest are matched already, at the digest's first
    // position in `by_digest`.
    let mut taken = vec![0usize; old_st.len()];
    let mut carry: Vec<Option<usize>> = new
        .iter()
        .map(|s| {
            let (at, same) = by_digest.find(s.digest.as_str());
            let j = same.get(*taken.get(at)?).map(|(_, j)| *j)?;
            taken[at] += 1;
            Some(j)
        })
        .collect();
    let matched: Vec<usize> = (0..new.len()).filter(|&i| carry[i].is_some()).collect();
    let seq: Vec<usize> = matched
        .iter()
        .map(|&i| carry[i].expect("matched"))
        .collect();
    let in_order: BTreeSet<usize> = longest_increasing(&seq)
        .into_iter()
        .map(|p| matched[p])
        .collect();
    for &i in &matched {
        if !in_order.contains(&i) {
            carry[i] = None;
        }
    }
    let mut old_to_new: Vec<Option<usize>> = vec![None; old_st.len()];
    for (i, c) in carry.iter().enumerate() {
        if let Some(j) = c {
            old_to_new[*j] = Some(i);
        }
    }
    let added = new
        .iter()
        .zip(&carry)
        .filter(|(_, c)| c.is_none())
        .map(|(s, _)| s);
    let gone = old_st
        .iter()
        .zip(&old_to_new)
        .filter(|(_, n)| n.is_none())
        .map(|(s, _)| *s);
    if let Some(s) = added.chain(gone).find(|s| s.mode == Mode::Untracked) {
        return fallback(format!(
            "a {} statement was added, changed or removed: what uses it is not recorded",
            s.kind
        ));
    }

    // Objects by owning statement (OID ranges are disjoint: the OID counter only grows).
    let mut ranges: Vec<(OidRange, usize)> = old
        .entries
        .iter()
        .enumerate()
        .map(|(j, e)| (e.oids, j))
        .collect();
    ranges.sort_by_key(|(r, _)| r.lo);
    if ranges.windows(2).any(|w| w[0].0.hi > w[1].0.lo) || ranges.iter().any(|(r, _)| r.lo > r.hi) {
        return fallback("the kept database's OID ranges overlap");
    }
    let owner = |oid: u32| -> Option<usize> {
        let k = ranges.partition_point(|(r, _)| r.hi <= oid);
        ranges
            .get(k)
            .filter(|(r, _)| r.contains(oid))
            .map(|(_, j)| *j)
    };
    let mut class_of: HashMap<u32, u32> = HashMap::with_capacity(db.objects.len());
    let mut objects_of = Vec::with_capacity(db.objects.len());
    for &(class, oid) in &db.objects {
        if oid < FIRST_NORMAL_OID {
            continue;
        }
        if class_of.insert(oid, class).is_some_and(|c| c != class) {
            return fallback(format!(
                "OID {oid} is used by two catalogs (wrapped around)"
            ));
        }
        match owner(oid) {
            Some(j) => objects_of.push((j, oid)),
            None => {
                return fallback(format!(
                    "object {oid} of the kept database was made by no known statement"
                ))
            }
        }
    }
    let objects_of = Grouped::new(objects_of);
    let edges = || {
        db.depend.iter().filter(|&&(obj, refobj, _)| {
            obj >= FIRST_NORMAL_OID && refobj >= FIRST_NORMAL_OID && obj != refobj
        })
    };
    let dependents = Grouped::new(edges().map(|&(obj, refobj, _)| (refobj, obj)).collect());
    let owners_of = Grouped::new(
        edges()
            .map(|&(obj, refobj, deptype)| (obj, (refobj, deptype)))
            .collect(),
    );
    let names_of = |statements: &[&'a WarmStatement], of: fn(&WarmStatement) -> &Vec<Name>| {
        Grouped::new(
            statements
                .iter()
                .enumerate()
                .flat_map(|(i, s)| of(s).iter().map(move |n| (n.as_str(), i)))
                .collect(),
        )
    };
    let new_st: Vec<&WarmStatement> = new.iter().collect();
    let creators_new = names_of(&new_st, |s| &s.creates);
    let referencers_new = names_of(&new_st, |s| &s.references);
    let creators_old = names_of(&old_st, |s| &s.creates);

    // 2. The closure.
    enum Ev<'a> {
        New(usize),
        Old(usize),
        Name(&'a str),
    }
    let mut rerun: BTreeSet<usize> = BTreeSet::new();
    let mut undone: BTreeSet<usize> = BTreeSet::new();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    let mut work: VecDeque<Ev> = VecDeque::new();
    for (i, c) in carry.iter().enumerate() {
        if c.is_none() {
            work.push_back(Ev::New(i));
        }
    }
    for (j, n) in old_to_new.iter().enumerate() {
        if n.is_none() {
            work.push_back(Ev::Old(j));
        }
    }
    // The statements creating the targets of an attached statement. A target no statement
    // creates (a built-in function its expression calls, `pg_catalog`, a schema that always
    // exists) is not made again: nothing else could. `undo`: the statement's effect must be
    // taken back (it changed or went away), which only making its targets again does; with
    // no target a schema file creates (`COMMENT ON SCHEMA public`), nothing would.
    let attached_targets =
        |s: &WarmStatement, undo: bool, work: &mut VecDeque<Ev>| -> Result<(), Fallback> {
            let mut found = false;
            for t in targets(s) {
                // A part no statement lists (an implicitly named constraint) is its owner's: the
                // name one level up (`public.t.t_pkey` -> `public.t`).
                let mut name = t.as_str();
                let (new_c, old_c) = loop {
                    let new_c = creators_new.find(name).1;
                    let old_c = creators_old.find(name).1;
                    match name.rsplit_once('.') {
                        Some((parent, _)) if new_c.is_empty() && old_c.is_empty() => name = parent,
                        _ => break (new_c, old_c),
                    }
                };
                found |= !new_c.is_empty() || !old_c.is_empty();
                work.extend(new_c.iter().map(|&(_, i)| Ev::New(i)));
                work.extend(old_c.iter().map(|&(_, j)| Ev::Old(j)));
            }
            if undo && !found {
                return fallback(format!(
                    "a changed or removed {} statement is about objects no schema file creates",
                    s.kind
                ));
            }
            Ok(())
        };
    while let Some(ev) = work.pop_front() {
        match ev {
            Ev::New(i) => {
                if !rerun.insert(i) {
                    continue;
                }
                let s = &new[i];
                work.extend(s.creates.iter().map(|n| Ev::Name(n.as_str())));
                if let Some(j) = carry[i] {
                    work.push_back(Ev::Old(j));
                }
                // A new or changed attached statement: its targets are made again, so that
                // what uses them (a `SELECT *` view after an `ADD COLUMN`) sees it as in a
                // fresh load. One that only re-runs (what it made was dropped with something
                // it references) runs on its targets as they are: re-adding a foreign key to
                // a re-made table, a default calling a re-made function. Should that not be
                // repeatable (`ADD COLUMN ... DEFAULT f()`), the re-run fails and the update
                // falls back.
                if s.mode == Mode::Attached && carry[i].is_none() {
                    attached_targets(s, false, &mut work)?;
                }
            }
            Ev::Old(j) => {
                if !undone.insert(j) {
                    continue;
                }
                let s = old_st[j];
                work.extend(s.creates.iter().map(|n| Ev::Name(n.as_str())));
                if let Some(i) = old_to_new[j] {
                    work.push_back(Ev::New(i));
                }
                if s.mode == Mode::Attached && old_to_new[j].is_none() {
                    attached_targets(s, true, &mut work)?;
                }
                for &(_, oid) in objects_of.find(j).1 {
                    for &(_, dep) in dependents.find(oid).1 {
                        match owner(dep) {
                            Some(k) => work.push_back(Ev::Old(k)),
                            None => {
                                return fallback(format!(
                                    "object {dep} depends on a changed object and was made by \
                                     no known statement"
                                ))
                            }
                        }
                    }
                    for &(_, (refobj, deptype)) in owners_of.find(oid).1 {
                        if matches!(deptype, b'i' | b'e') {
                            if let Some(k) = owner(refobj) {
                                work.push_back(Ev::Old(k));
                            }
                        }
                    }
                }
            }
            Ev::Name(n) => {
                if !names.insert(n) {
                    continue;
                }
                // The name and its parts (`public.t` and `public.t.c`: a statement naming a
                // column of a table made again is re-run too). '/' sorts right after '.'.
                let (lo, hi) = (format!("{n}."), format!("{n}/"));
                let parts = referencers_new.range(lo.as_str(), hi.as_str());
                for &(_, i) in referencers_new.find(n).1.iter().chain(parts) {
                    work.push_back(Ev::New(i));
                }
            }
        }
    }
    if db.partitioned && !(rerun.is_empty() && undone.is_empty()) {
        // Which indexes and constraints a partition gets depends on whether the parent's
        // were made before or after it (adopted, cloned or made twice): re-running part of
        // the statements in another relative order could give another result.
        return fallback("the schema has partitioned tables");
    }

    // 3. What to drop: objects of undone statements, less the parts of other dropped ones.
    let dropped: BTreeSet<u32> = undone
        .iter()
        .flat_map(|&j| objects_of.find(j).1.iter().map(|&(_, oid)| oid))
        .collect();
    let mut drop: Vec<(u32, u32)> = dropped
        .iter()
        .filter(|&&oid| {
            !owners_of.find(oid).1.iter().any(|&(_, (refobj, deptype))| {
                matches!(deptype, b'i' | b'a' | b'e' | b'P' | b'S') && dropped.contains(&refobj)
            })
        })
        .map(|&oid| (class_of[&oid], oid))
        .collect();
    drop.sort_by_key(|o| std::cmp::Reverse(o.1));
    let kept = carry
        .iter()
        .enumerate()
        .map(|(i, c)| match (rerun.contains(&i), c) {
            (false, Some(j)) => Some(old.entries[*j].oids),
            _ => None,
        })
        .collect();
    Ok(Update {
        rerun: rerun.into_iter().collect(),
        drop,
        kept,
        undone: undone.len(),
    })
}

/// Reads what [`plan_update`] needs from the database `client` is connected to.
pub fn read_objects(client: &mut postgres::Client) -> Result<Objects, postgres::Error> {
    let objects = read_object_list(client)?;
    let row = client.query_one(
        "SELECT array_agg(objid) AS o, array_agg(refobjid) AS r, array_agg(deptype) AS t \
         FROM pg_catalog.pg_depend WHERE objid >= 16384 AND refobjid >= 16384",
        &[],
    )?;
    let from: Vec<u32> = row.try_get::<_, Option<_>>("o")?.unwrap_or_default();
    let to: Vec<u32> = row.try_get::<_, Option<_>>("r")?.unwrap_or_default();
    let types: Vec<i8> = row.try_get::<_, Option<_>>("t")?.unwrap_or_default();
    let depend = from
        .into_iter()
        .zip(to)
        .zip(types)
        .map(|((o, r), t)| (o, r, t as u8))
        .collect();
    let partitioned = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_class WHERE relkind = 'p')",
            &[],
        )?
        .get(0);
    Ok(Objects {
        objects,
        depend,
        partitioned,
    })
}

/// [`Objects::objects`] alone: what the update checks after its drops, which needs no edges.
fn read_object_list(client: &mut postgres::Client) -> Result<Vec<(u32, u32)>, postgres::Error> {
    // Objects are everything pg_depend mentions, plus the kinds that may depend on nothing
    // (a schema, a wrapper without functions, a publication, ...).
    let mut sql = String::from(
        "SELECT classid, objid FROM pg_catalog.pg_depend WHERE objid >= 16384 \
         UNION SELECT refclassid, refobjid FROM pg_catalog.pg_depend WHERE refobjid >= 16384",
    );
    for catalog in [
        "pg_namespace",
        "pg_extension",
        "pg_language",
        "pg_foreign_data_wrapper",
        "pg_foreign_server",
        "pg_publication",
        "pg_event_trigger",
    ] {
        sql.push_str(&format!(
            " UNION SELECT 'pg_catalog.{catalog}'::pg_catalog.regclass::pg_catalog.oid, oid \
             FROM pg_catalog.{catalog} WHERE oid >= 16384"
        ));
    }
    // Each list comes as one row of arrays: ~100,000 rows each at 5,000 tables, one at a time,
    // took ~0.2 s of client CPU in the driver's per-row work (issue 9: the warm plan's
    // desired side), and as `postgres::Row`s all at once ~35 MiB.
    let row = client.query_one(
        &format!("SELECT array_agg(c) AS c, array_agg(o) AS o FROM ({sql}) x (c, o)"),
        &[],
    )?;
    let classes: Vec<u32> = row.try_get::<_, Option<_>>("c")?.unwrap_or_default();
    let oids: Vec<u32> = row.try_get::<_, Option<_>>("o")?.unwrap_or_default();
    Ok(classes.into_iter().zip(oids).collect())
}

/// The statement dropping one object (with `IF EXISTS`: an earlier `CASCADE` may have taken
/// it already), or why it cannot be said.
///
/// Whole objects are named by `pg_identify_object`'s identity, which PostgreSQL itself
/// quotes (a function's identity carries its argument types, an operator class its access
/// method); parts of a relation or domain are named from their catalog rows, quoted here.
fn drop_sql(row: &postgres::Row) -> Result<String, Fallback> {
    let kind: String = row.get("type");
    let identity: String = row.get("identity");
    let part: Option<String> = row.get("part");
    let rel = || -> Result<String, Fallback> {
        let schema: Option<String> = row.get("relschema");
        let name: Option<String> = row.get("relname");
        match (schema, name) {
            (Some(s), Some(n)) => Ok(format!("{}.{}", quote::ident(&s), quote::ident(&n))),
            _ => fallback(format!("no relation for {kind} {identity}")),
        }
    };
    let part = || {
        part.clone()
            .map(|p| quote::ident(&p))
            .ok_or_else(|| Fallback(format!("no name for {kind} {identity}")))
    };
    let sql = match kind.as_str() {
        "table constraint" => format!(
            "ALTER TABLE IF EXISTS {} DROP CONSTRAINT IF EXISTS {} CASCADE",
            rel()?,
            part()?
        ),
        "domain constraint" => {
            let schema: Option<String> = row.get("typschema");
            let name: Option<String> = row.get("typname");
            let (Some(s), Some(n)) = (schema, name) else {
                return fallback(format!("no domain for {identity}"));
            };
            format!(
                "ALTER DOMAIN {}.{} DROP CONSTRAINT IF EXISTS {} CASCADE",
                quote::ident(&s),
                quote::ident(&n),
                part()?
            )
        }
        "trigger" => format!("DROP TRIGGER IF EXISTS {} ON {} CASCADE", part()?, rel()?),
        "policy" => format!("DROP POLICY IF EXISTS {} ON {}", part()?, rel()?),
        "rule" => format!("DROP RULE IF EXISTS {} ON {} CASCADE", part()?, rel()?),
        "default value" => format!(
            "ALTER TABLE IF EXISTS {} ALTER COLUMN {} DROP DEFAULT",
            rel()?,
            part()?
        ),
        "type" | "domain" | "composite type" => {
            let typtype: Option<i8> = row.get("typtype");
            let word = if typtype == Some(b'd' as i8) || kind == "domain" {
                "DOMAIN"
            } else {
                "TYPE"
            };
            format!("DROP {word} IF EXISTS {identity} CASCADE")
        }
        "table"
        | "view"
        | "materialized view"
        | "sequence"
        | "index"
        | "foreign table"
        | "schema"
        | "extension"
        | "collation"
        | "conversion"
        | "function"
        | "procedure"
        | "aggregate"
        | "operator"
        | "operator class"
        | "operator family"
        | "cast"
        | "language"
        | "event trigger"
        | "publication"
        | "server"
        | "access method"
        | "text search parser"
        | "text search dictionary"
        | "text search template"
        | "text search configuration" => format!(
            "DROP {} IF EXISTS {identity} CASCADE",
            kind.to_ascii_uppercase()
        ),
        "foreign-data wrapper" => format!("DROP FOREIGN DATA WRAPPER IF EXISTS {identity} CASCADE"),
        "statistics object" => format!("DROP STATISTICS IF EXISTS {identity}"),
        other => return fallback(format!("cannot drop a {other} ({identity}) on its own")),
    };
    Ok(sql)
}

/// The statements dropping `objects` (newest first), read from the database.
fn drop_statements(
    client: &mut postgres::Client,
    objects: &[(u32, u32)],
) -> Result<Vec<String>, Fallback> {
    let classes: Vec<u32> = objects.iter().map(|o| o.0).collect();
    let oids: Vec<u32> = objects.iter().map(|o| o.1).collect();
    let rows = client
        .query(
            "SELECT x.ord, i.type, i.identity, \
                    coalesce(con.conname, tg.tgname, pol.polname, rw.rulename, att.attname)::text \
                      AS part, \
                    rn.nspname::text AS relschema, r.relname::text AS relname, \
                    tn.nspname::text AS typschema, t.typname::text AS typname, ty.typtype \
             FROM unnest($1::pg_catalog.oid[], $2::pg_catalog.oid[]) WITH ORDINALITY \
                  AS x(classid, oid, ord) \
             CROSS JOIN LATERAL pg_catalog.pg_identify_object(x.classid, x.oid, 0) i \
             LEFT JOIN pg_catalog.pg_constraint con \
                    ON x.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND con.oid = x.oid \
             LEFT JOIN pg_catalog.pg_trigger tg \
                    ON x.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass AND tg.oid = x.oid \
             LEFT JOIN pg_catalog.pg_policy pol \
                    ON x.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND pol.oid = x.oid \
             LEFT JOIN pg_catalog.pg_rewrite rw \
                    ON x.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND rw.oid = x.oid \
             LEFT JOIN pg_catalog.pg_attrdef ad \
                    ON x.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND ad.oid = x.oid \
             LEFT JOIN pg_catalog.pg_attribute att \
                    ON att.attrelid = ad.adrelid AND att.attnum = ad.adnum \
             LEFT JOIN pg_catalog.pg_type ty \
                    ON x.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ty.oid = x.oid \
             LEFT JOIN pg_catalog.pg_class r ON r.oid = coalesce(nullif(con.conrelid, 0), \
                    tg.tgrelid, pol.polrelid, rw.ev_class, ad.adrelid) \
             LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace \
             LEFT JOIN pg_catalog.pg_type t ON t.oid = nullif(con.contypid, 0) \
             LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace \
             ORDER BY x.ord",
            &[&classes, &oids],
        )
        .map_err(|e| Fallback(format!("naming the objects to drop: {}", crate::db::error_text(&e))))?;
    rows.iter().map(drop_sql).collect()
}

/// What [`update`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated {
    /// The manifest of the updated database.
    pub manifest: Manifest,
    /// How many statements re-ran.
    pub rerun: usize,
    /// How many objects were dropped explicitly (their dependents went with them).
    pub dropped: usize,
}

/// Brings the database `client` is connected to (the kept database of `old` taken over, or a
/// scratch copy of it) to `statements` (`warm[i]` describes `statements[i]`; source order). On
/// `Err` the database is in an unknown state (unless the caller ran this in a transaction and
/// rolls it back): the caller drops it and loads afresh.
pub fn update(
    client: &mut postgres::Client,
    old: &Manifest,
    statements: &[LoadStatement],
    warm: &[WarmStatement],
) -> Result<Updated, Fallback> {
    let sql_error =
        |what: &str, e: postgres::Error| Fallback(format!("{what}: {}", crate::db::error_text(&e)));
    let before = read_objects(client).map_err(|e| sql_error("reading the kept database", e))?;
    let plan = plan_update(old, warm, &before)?;
    let drops = drop_statements(client, &plan.drop)?;
    if !drops.is_empty() {
        // One implicit transaction: all of it or nothing.
        client
            .batch_execute(&drops.join(";\n"))
            .map_err(|e| sql_error("dropping the objects of changed statements", e))?;
    }
    // Nothing but the objects of the statements that re-run may have gone: CASCADE follows
    // pg_depend, which the closure followed too, so this only fails if the two disagree.
    // Without drops nothing ran since the first reading, in this transaction, on a database
    // no other session uses: the checks below run on the objects read then (~0.1-0.2 s of the
    // shadow's time at 5,000 tables, on the desired side's path of a warm plan that only
    // adds, issue 9). After drops, the objects are read again, without the edges the checks
    // do not need.
    let read_again;
    let after = match drops.is_empty() {
        true => &before.objects,
        false => {
            read_again =
                read_object_list(client).map_err(|e| sql_error("reading the kept database", e))?;
            &read_again
        }
    };
    let still: BTreeSet<u32> = after.iter().map(|o| o.1).collect();
    let mut kept_ranges: Vec<OidRange> = plan.kept.iter().flatten().copied().collect();
    kept_ranges.sort_by_key(|r| r.lo);
    let kept = |oid: u32| {
        let k = kept_ranges.partition_point(|r| r.hi <= oid);
        kept_ranges.get(k).is_some_and(|r| r.contains(oid))
    };
    if let Some(lost) = before
        .objects
        .iter()
        .map(|o| o.1)
        .find(|&oid| kept(oid) && !still.contains(&oid))
    {
        return fallback(format!(
            "dropping took object {lost} of an unchanged statement with it"
        ));
    }
    if let Some(left) = after
        .iter()
        .map(|o| o.1)
        .find(|&oid| oid >= FIRST_NORMAL_OID && !kept(oid))
    {
        return fallback(format!(
            "object {left} of a changed statement is still there"
        ));
    }
    let subset: Vec<LoadStatement> = plan.rerun.iter().map(|&i| statements[i].clone()).collect();
    let ranges = load::load_tracked(client, &subset)
        .map_err(|e| Fallback(format!("re-running the changed statements: {e}")))?;
    let mut oids: Vec<Option<OidRange>> = plan.kept.clone();
    for (k, &i) in plan.rerun.iter().enumerate() {
        oids[i] = Some(ranges[k]);
    }
    let oids: Vec<OidRange> = oids
        .into_iter()
        .map(|o| o.ok_or_else(|| Fallback("a statement without OIDs".into())))
        .collect::<Result<_, _>>()?;
    Ok(Updated {
        manifest: Manifest::new(&old.context, warm, &oids),
        rerun: plan.rerun.len(),
        dropped: drops.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(digest: &str, mode: Mode, creates: &[&str], references: &[&str]) -> WarmStatement {
        WarmStatement {
            digest: digest.into(),
            mode,
            creates: creates.iter().map(|s| Name::from(*s)).collect(),
            references: references.iter().map(|s| Name::from(*s)).collect(),
            kind: "CREATE TABLE".into(),
        }
    }

    fn manifest(statements: &[WarmStatement]) -> Manifest {
        let oids: Vec<OidRange> = (0..statements.len() as u32)
            .map(|k| OidRange {
                lo: 20000 + 100 * k,
                hi: 20000 + 100 * k + 99,
            })
            .collect();
        Manifest::new("ctx", statements, &oids)
    }

    /// A manifest comes back from its comment as it was, stamp included; an older
    /// schemaplan's plain JSON comment, or any other text, is no manifest (stamp 0).
    #[test]
    fn manifests_read_back_from_their_comment_and_other_texts_are_none() {
        let mut m = manifest(&[
            st("d1", Mode::Creates, &["public.t"], &["public"]),
            st(
                "d2",
                Mode::Creates,
                &["public.v"],
                &["public.t", "o'brien\\x"],
            ),
        ]);
        m.kept_at = 42;
        let text = m.encode().unwrap();
        assert_eq!(Manifest::decode(&text), Some(m.clone()));
        assert_eq!(kept_at_of(&text), 42);
        // An older schemaplan's comment (JSON, deflated, in base64, no header), plain JSON,
        // any other text, a damaged payload: none is a manifest, and each is the oldest.
        let json = serde_json::to_string(&m).unwrap();
        let older = {
            use base64::Engine;
            use std::io::Write;
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
            z.write_all(json.as_bytes()).unwrap();
            base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap())
        };
        let damaged = format!("{}x", &text[..text.len() - 8]);
        for other in [older.as_str(), &json, "a comment", &damaged] {
            assert_eq!(Manifest::decode(other), None, "{other}");
        }
        for other in [older.as_str(), &json, "a comment"] {
            assert_eq!(kept_at_of(other), 0, "{other}");
        }
    }

    #[test]
    fn grouped_values_keep_their_order_and_ranges_take_whole_keys() {
        let g = Grouped::new(vec![
            ("b", 1),
            ("a.x", 2),
            ("a", 3),
            ("b", 4),
            ("a/", 5),
            ("a.y", 6),
        ]);
        assert_eq!(g.find("b"), (4, &[("b", 1), ("b", 4)][..]));
        assert_eq!(g.find("c").1, &[][..]);
        assert_eq!(g.range("a.", "a/"), &[("a.x", 2), ("a.y", 6)][..]);
        assert_eq!(g.range("c", "d"), &[][..]);
    }

    #[test]
    fn repeated_statements_match_their_old_copies_in_order() {
        let a = || st("a", Mode::Creates, &[], &[]);
        let old = manifest(&[a(), st("x", Mode::Creates, &["public.x"], &[]), a()]);
        let up = plan_update(&old, &[a(), a()], &Objects::default()).unwrap();
        assert!(up.rerun.is_empty());
        assert_eq!(
            up.kept,
            vec![Some(old.entries[0].oids), Some(old.entries[2].oids)]
        );
        assert_eq!(up.undone, 1);
    }

    #[test]
    fn longest_increasing_runs() {
        assert_eq!(longest_increasing(&[0, 1, 2]), vec![0, 1, 2]);
        assert_eq!(longest_increasing(&[2, 0, 1]), vec![1, 2]);
        assert_eq!(longest_increasing(&[]), Vec::<usize>::new());
    }

    #[test]
    fn a_view_over_an_edited_table_reruns_through_pg_depend() {
        let t = st("t1", Mode::Creates, &["public.t", "public.t.a"], &[]);
        let v = st("v", Mode::Creates, &["public.v"], &["public.t"]);
        let u = st("u", Mode::Creates, &["public.u"], &[]);
        let old = manifest(&[t, v.clone(), u.clone()]);
        // t is object 20001, its rowtype 20002; v 20101 (its rule 20102 depends on t); u 20201.
        let db = Objects {
            objects: vec![
                (1259, 20001),
                (1247, 20002),
                (1259, 20101),
                (2618, 20102),
                (1259, 20201),
            ],
            depend: vec![
                (20002, 20001, b'i'),
                (20102, 20101, b'i'),
                (20102, 20001, b'n'),
            ],
            partitioned: false,
        };
        let t2 = st("t2", Mode::Creates, &["public.t", "public.t.a"], &[]);
        let up = plan_update(&old, &[t2, v, u], &db).unwrap();
        assert_eq!(up.rerun, vec![0, 1]);
        assert_eq!(up.drop, vec![(1259, 20101), (1259, 20001)]);
        assert_eq!(up.kept[2], Some(old.entries[2].oids));
    }

    #[test]
    fn a_changed_comment_makes_its_object_again() {
        let t = st("t", Mode::Creates, &["public.t"], &[]);
        let c = st("c1", Mode::Attached, &[], &["public.t"]);
        let old = manifest(&[t.clone(), c]);
        let db = Objects {
            objects: vec![(1259, 20001)],
            ..Default::default()
        };
        let c2 = st("c2", Mode::Attached, &[], &["public.t"]);
        let up = plan_update(&old, &[t.clone(), c2], &db).unwrap();
        assert_eq!(up.rerun, vec![0, 1]);
        // A removed comment too: the table is made again, without it.
        let up = plan_update(&old, &[t], &db).unwrap();
        assert_eq!(up.rerun, vec![0]);
        assert_eq!(up.drop, vec![(1259, 20001)]);
    }

    #[test]
    fn reorders_rerun_the_moved_statements_only() {
        let a = st("a", Mode::Creates, &["public.a"], &[]);
        let b = st("b", Mode::Creates, &["public.b"], &[]);
        let c = st("c", Mode::Creates, &["public.c"], &[]);
        let old = manifest(&[a.clone(), b.clone(), c.clone()]);
        let up = plan_update(&old, &[c, a, b], &Objects::default()).unwrap();
        assert_eq!(up.rerun, vec![0]);
        assert_eq!(up.undone, 1);
    }

    #[test]
    fn an_added_changed_or_removed_cast_falls_back_and_a_moved_one_does_not() {
        let ty = st("ty", Mode::Creates, &["public.mood"], &[]);
        let cast = st("cast", Mode::Untracked, &[], &["public.mood"]);
        let t = st("t", Mode::Creates, &["public.t"], &["public.mood"]);
        let db = Objects::default();
        let m = manifest(&[ty.clone(), cast.clone(), t.clone()]);
        let gone = plan_update(&m, &[ty.clone(), t.clone()], &db);
        assert!(gone.is_err(), "a removed cast was undone in place");
        let cast2 = st("cast2", Mode::Untracked, &[], &["public.mood"]);
        let changed = plan_update(&m, &[ty.clone(), cast2, t.clone()], &db);
        assert!(changed.is_err(), "a changed cast was undone in place");
        let without = manifest(&[ty.clone(), t.clone()]);
        assert!(plan_update(&without, &[ty.clone(), cast.clone(), t.clone()], &db).is_err());
        let same = plan_update(&m, &[ty, cast, t], &db).unwrap();
        assert!(same.rerun.is_empty());
    }

    #[test]
    fn unsafe_statements_and_unknown_objects_fall_back() {
        let a = st("a", Mode::Creates, &["public.a"], &[]);
        let d = st("d", Mode::Unsafe, &[], &[]);
        let old = manifest(&[a.clone(), d.clone()]);
        let b = st("b", Mode::Creates, &["public.b"], &[]);
        assert!(plan_update(&old, &[a.clone(), d, b.clone()], &Objects::default()).is_err());
        let old = manifest(std::slice::from_ref(&a));
        let stray = Objects {
            objects: vec![(1259, 99999)],
            ..Default::default()
        };
        assert!(plan_update(&old, &[a, b], &stray).is_err());
    }
}
