//! The census of a delta read: per owner oid, how many catalog rows it owns and whether any
//! was written by a transaction the last read did not see, the catalogs this role cannot read,
//! and the closure of the changed set over `pg_depend` (see the module doc of `delta`).

use super::*;

/// A census key: an oid, and whether the rows counted are the object's own (a relation's
/// `pg_class` and `pg_attribute` rows) or rows of parts of it (a table's constraints,
/// triggers, defaults, comments, dependencies) that others never render.
pub(super) type Owner = (u32, bool);

/// The census's counts: how many catalog rows each owner owns, as a list sorted by owner
/// (oid, then part) of one pair of `u32`s each: the oid, and the count shifted left by one
/// with the part flag in the low bit. At 5,000 tables a census has ~316,000 owners: 2.4 MiB
/// here, where a hash map of them took ~9 MiB, and a delta read holds two (the last read's,
/// in the state, and its own) at the warm `plan`'s peak (issue 9, peak RSS). Two censuses
/// compare in one merge of their lists ([`Counts::changed_since`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(super) struct Counts(Vec<(u32, u32)>);

/// Read back as written, without the room a list decoded element by element grows into (serde
/// makes room for at most 1 MiB at first, then doubles: ~4 MiB for 2.4).
impl<'de> serde::Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut list = Vec::<(u32, u32)>::deserialize(d)?;
        list.shrink_to_fit();
        Ok(Counts(list))
    }
}

impl Counts {
    /// Counts the owners of `rows`, each `(oid, part)` once per catalog row it owns.
    pub(super) fn of(mut rows: Vec<u64>) -> Counts {
        rows.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::new();
        let mut rows = rows.into_iter().peekable();
        while let Some(key) = rows.next() {
            let mut n: u32 = 1;
            while rows.next_if_eq(&key).is_some() {
                n += 1;
            }
            // A count past 2^31 rows for one object cannot happen (a catalog of that many
            // rows for one oid); saturated rather than wrapped if it ever did.
            let n = n.min(u32::MAX >> 1);
            out.push(((key >> 1) as u32, n << 1 | (key & 1) as u32));
        }
        // Kept until the next read (in the state, stored with it): no room to spare.
        out.shrink_to_fit();
        Counts(out)
    }

    /// The key [`Counts::of`] counts: an owner packed into one word, ordered as owners are.
    pub(super) fn key((oid, part): Owner) -> u64 {
        u64::from(oid) << 1 | u64::from(part)
    }

    fn owner(&(oid, tally): &(u32, u32)) -> Owner {
        (oid, tally & 1 == 1)
    }

    /// How many catalog rows were counted.
    pub(super) fn rows(&self) -> usize {
        self.0.iter().map(|e| (e.1 >> 1) as usize).sum()
    }

    /// The owners that are not oids assigned by initdb and own rows of their own (not
    /// parts): the user's objects.
    pub(super) fn user_objects(&self) -> usize {
        self.0
            .iter()
            .filter(|e| e.0 >= FIRST_USER_OID && e.1 & 1 == 0)
            .count()
    }

    /// The owners whose count differs between `self` (the earlier census) and `now`: counted
    /// in one and not the other, or with another count. One merge of the two sorted lists.
    pub(super) fn changed_since(&self, now: &Counts) -> Vec<Owner> {
        let (mut a, mut b) = (self.0.iter().peekable(), now.0.iter().peekable());
        let mut out = Vec::new();
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => return out,
                (Some(x), None) => {
                    out.push(Counts::owner(x));
                    a.next();
                }
                (None, Some(y)) => {
                    out.push(Counts::owner(y));
                    b.next();
                }
                (Some(x), Some(y)) => match Counts::owner(x).cmp(&Counts::owner(y)) {
                    std::cmp::Ordering::Less => {
                        out.push(Counts::owner(x));
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        out.push(Counts::owner(y));
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if x.1 != y.1 {
                            out.push(Counts::owner(x));
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
    }
}

/// Catalogs the census leaves out when the role cannot read them, without making the read
/// full: no kept query's rows are made of theirs, so a change to them needs no kept row read
/// again. `pg_user_mapping`: the user mappings are read in full on every read (through the
/// `pg_user_mappings` view, `user_mappings.sql`), and what hangs on a mapping is counted under
/// the mapping's other catalogs (pg_depend by its oid).
pub(super) const NOT_IN_KEPT_ROWS: &[&str] = &["pg_user_mapping"];

/// What the census found.
pub(super) struct Census {
    /// How many rows each owner owns over the catalogs the queries read (those this role can
    /// read).
    pub(super) rows: Counts,
    /// Owners with rows written by a transaction the snapshot `since` did not see.
    pub(super) unseen: Vec<Owner>,
    /// Catalogs this role cannot read and whose changes a kept row could render: while there
    /// is any, what changed cannot be known and every read is full.
    pub(super) blind: Vec<String>,
}

/// The census of the catalogs the queries read (see the module doc and [`Census`]).
/// A catalog a query reads but that is not counted here would let a change go unseen: every
/// catalog of `src/catalog/sql` is here, keyed by the oid of the object its rows belong to
/// (and by their own oid where they have one). `expected`: about how many catalog rows there
/// are (the last census's), room made for them at once.
pub(super) fn census(
    tx: &mut postgres::Transaction<'_>,
    version: i32,
    since: &str,
    expected: usize,
) -> Result<Census, CatalogError> {
    // (catalog, key column, part?)
    let mut arms: Vec<(&str, &str, bool)> = [
        "pg_class",
        "pg_type",
        "pg_proc",
        "pg_namespace",
        "pg_constraint",
        "pg_trigger",
        "pg_policy",
        "pg_rewrite",
        "pg_attrdef",
        "pg_collation",
        "pg_opclass",
        "pg_opfamily",
        "pg_operator",
        "pg_amop",
        "pg_amproc",
        "pg_am",
        "pg_cast",
        "pg_ts_dict",
        "pg_ts_config",
        "pg_ts_parser",
        "pg_ts_template",
        "pg_foreign_data_wrapper",
        "pg_foreign_server",
        "pg_user_mapping",
        "pg_event_trigger",
        "pg_publication",
        "pg_publication_rel",
        "pg_extension",
        "pg_language",
        "pg_conversion",
        "pg_transform",
        "pg_statistic_ext",
        "pg_default_acl",
        "pg_enum",
    ]
    .iter()
    .map(|c| (*c, "oid", false))
    .collect();
    arms.extend([
        // an object's own rows: what others may render (names, types, labels)
        ("pg_attribute", "attrelid", false),
        ("pg_index", "indexrelid", false),
        ("pg_inherits", "inhrelid", false),
        ("pg_enum", "enumtypid", false),
        ("pg_range", "rngtypid", false),
        ("pg_sequence", "seqrelid", false),
        ("pg_partitioned_table", "partrelid", false),
        ("pg_foreign_table", "ftrelid", false),
        ("pg_aggregate", "aggfnoid", false),
        ("pg_ts_config_map", "mapcfg", false),
        // what an object depends on is its own: membership of an extension hides it and what
        // is read with it (its indexes ...), a new schema or parent changes its rendering
        ("pg_depend", "objid", false),
        // rows of parts, by the object they belong to: it is read again, what depends on
        // it is not (a dropped constraint has no pg_depend row left to lead to its table)
        ("pg_attrdef", "adrelid", true),
        ("pg_constraint", "conrelid", true),
        ("pg_constraint", "contypid", true),
        ("pg_index", "indrelid", true),
        ("pg_trigger", "tgrelid", true),
        ("pg_policy", "polrelid", true),
        ("pg_rewrite", "ev_class", true),
        ("pg_description", "objoid", true),
        ("pg_publication_rel", "prrelid", true),
        ("pg_init_privs", "objoid", true),
    ]);
    if version >= 150000 {
        arms.push(("pg_publication_namespace", "oid", false));
        arms.push(("pg_publication_namespace", "pnnspid", true));
    }
    // Whether this role may read each catalog: a role that is no superuser cannot read
    // pg_user_mapping (its rows hold the mappings' options, passwords among them), and a
    // database owner may revoke SELECT on any catalog of its database. Asked once per read,
    // in one query, rather than known case by case; a catalog this role cannot read is left
    // out of the census, and unless nothing kept is made of its rows
    // ([`NOT_IN_KEPT_ROWS`]) the read cannot be sure what changed and is full.
    let mut catalogs: Vec<&str> = arms.iter().map(|(cat, _, _)| *cat).collect();
    catalogs.sort_unstable();
    catalogs.dedup();
    let unreadable: Vec<String> = tx
        .query(
            "SELECT c FROM unnest($1::text[]) c \
             WHERE NOT has_table_privilege(format('pg_catalog.%I', c), 'SELECT') ORDER BY c",
            &[&catalogs],
        )
        .and_then(|rows| rows.iter().map(|r| r.try_get(0)).collect())
        .map_err(|source| CatalogError::Query {
            query: "delta read census",
            source,
        })?;
    arms.retain(|(cat, _, _)| !unreadable.iter().any(|u| u == cat));
    let blind: Vec<String> = unreadable
        .into_iter()
        .filter(|c| !NOT_IN_KEPT_ROWS.contains(&c.as_str()))
        .collect();
    // Every row's owner sent as it is, one pair of arrays per arm (every owner, and the
    // owners of the rows written since the snapshot `since` did not see), and counted here:
    // the server's aggregates (per catalog, then summed per owner; at 5,000 tables ~590,000
    // rows into ~316,000 groups, pg_depend's 148,000 rows alone into 105,000) were most of
    // its time, and a census runs four times in a warm `plan` (the update's read and the
    // proof's three; issue 9). An owner's rows counted here are the same rows the server
    // grouped: the same counts and unseen owners.
    let body = arms
        .iter()
        .map(|(cat, col, part)| {
            let filter = match *col {
                "oid" => String::new(),
                col => format!(" WHERE {col}::oid <> 0"),
            };
            format!(
                "SELECT {part} AS p, array_agg(o) AS os, \
                 coalesce(array_agg(o) FILTER (WHERE u), '{{}}') AS us \
                 FROM (SELECT {col}::oid AS o, \
                 {UNSEEN} AS u \
                 FROM pg_catalog.{cat}{filter}) r"
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL ");
    // About as many rows as the last census counted: room for them at once, and a little
    // more, not regrown (a few rows more than last time doubled the list: ~4.5 MiB of the
    // proof's peak at 5,000 tables, issue 9).
    let mut owners: Vec<u64> = Vec::with_capacity(expected + expected / 32 + 64);
    let mut unseen = Vec::new();
    // Streamed (`query_raw`): each arm's arrays are counted and dropped as they come, so the
    // connection's buffer holds about one arm's row, not the whole answer (~7 MiB at 5,000
    // tables when every row was collected first).
    serial(tx, |tx| {
        use postgres::fallible_iterator::FallibleIterator;
        let mut rows = tx.query_raw(body.as_str(), [&since as &dyn postgres::types::ToSql])?;
        while let Some(row) = rows.next()? {
            let part: bool = row.try_get("p")?;
            // NULL when the catalog has no row (array_agg of nothing)
            let of: Option<Vec<u32>> = row.try_get("os")?;
            let new: Vec<u32> = row.try_get("us")?;
            drop(row);
            owners.extend(
                of.unwrap_or_default()
                    .into_iter()
                    .map(|o| Counts::key((o, part))),
            );
            unseen.extend(new.into_iter().map(|o| (o, part)));
        }
        Ok(())
    })
    .map_err(|source| CatalogError::Query {
        query: "delta read census",
        source,
    })?;
    // An owner with unseen rows in several catalogs is listed once.
    unseen.sort_unstable();
    unseen.dedup();
    Ok(Census {
        rows: Counts::of(owners),
        unseen,
        blind,
    })
}

/// Whether a catalog row was written by a transaction the snapshot `$1` (text) did not see.
///
/// `pg_visible_in_snapshot` takes a 64-bit id, which a row's 32-bit `xmin` becomes through
/// its text (epoch 0: see the module doc), a conversion that was about half of a census's
/// server time (~600,000 rows at 5,000 tables, four censuses in a warm `plan`, issue 9).
/// Only rows at least as new as the snapshot's `xmin` can be unseen (an id below it is
/// visible in it, whatever its fate), and `age` tells them apart without a conversion: the
/// distance from this transaction's id (one value for the whole statement), which is no
/// greater for a row than for the snapshot's `xmin` exactly when the row is at least as new
/// (ids are compared modulo 2^32, and a live row is never 2^31 transactions old); a frozen
/// row's `age` is the largest there is. So the text and the snapshot are looked at only for
/// the few rows written since that `xmin`, and the answer is the same for every row. The
/// snapshot's `xmin`'s age is a subquery, computed once per arm.
const UNSEEN: &str = "(age(xmin) <= (SELECT age(xid(pg_snapshot_xmin($1::text::pg_snapshot)))) \
     AND NOT pg_visible_in_snapshot(xmin::text::xid8, $1::text::pg_snapshot))";

/// Runs `query` without parallel workers (`max_parallel_workers_per_gather` 0 for it alone,
/// the transaction's own value restored after it). The census scans every row of the
/// catalogs (~600,000 at 5,000 tables): when it grouped them on the server, the planner ran
/// it in parallel, each worker aggregating its share into about as many groups as there
/// were and handing them over to be merged: three processes for the wall time of one (issue
/// 9: a tenth of all the CPU of a warm `plan` at 5,000 tables went to parallel workers, on a
/// machine where the client and the shadow already share the cores). Its arrays of owners
/// (since 16 `array_agg` runs in parallel too) would be copied the same way. The same rows
/// either way.
pub(super) fn serial<T>(
    tx: &mut postgres::Transaction<'_>,
    query: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
) -> Result<T, postgres::Error> {
    let before: String = tx
        .query_one(
            "SELECT current_setting('max_parallel_workers_per_gather')",
            &[],
        )?
        .try_get(0)?;
    tx.batch_execute("SET LOCAL max_parallel_workers_per_gather = 0")?;
    let out = query(tx)?;
    tx.execute(
        "SELECT set_config('max_parallel_workers_per_gather', $1, true)",
        &[&before],
    )?;
    Ok(out)
}

/// The objects to read again: `own` (whose own rows changed) with everything that depends on
/// them, transitively (a renamed schema's tables render its name, and so do the views on
/// those tables); `parts` (whose parts changed); and what any of these belongs to (auto and
/// internal dependencies, transitively: an index's table, a rule's view, a constraint's
/// table), without what depends on that owner in turn (its own rows did not change, so
/// nothing others render of it did). One query per step; hash joins against the sets
/// (`unnest`), as no index of pg_depend starts with the oid alone.
pub(super) fn closure(
    tx: &mut postgres::Transaction<'_>,
    own: HashSet<u32>,
    parts: HashSet<u32>,
) -> Result<HashSet<u32>, CatalogError> {
    let mut down: HashSet<u32> = own.clone();
    let mut all: HashSet<u32> = own.union(&parts).copied().collect();
    let mut down_frontier: Vec<u32> = own.into_iter().collect();
    let mut up_frontier: Vec<u32> = all.iter().copied().collect();
    while !down_frontier.is_empty() || !up_frontier.is_empty() {
        let rows = tx
            .query(
                "SELECT d.objid AS o, true AS down FROM pg_catalog.pg_depend d \
                 JOIN unnest($1::oid[]) f(o) ON d.refobjid = f.o WHERE d.objid <> 0 \
                 UNION \
                 SELECT d.refobjid, false FROM pg_catalog.pg_depend d \
                 JOIN unnest($2::oid[]) f(o) ON d.objid = f.o \
                 WHERE d.deptype IN ('a', 'i')",
                &[&down_frontier, &up_frontier],
            )
            .map_err(|source| CatalogError::Query {
                query: "delta read closure",
                source,
            })?;
        down_frontier = Vec::new();
        up_frontier = Vec::new();
        for row in rows {
            let o: u32 = get(&row, "delta read closure", "o")?;
            let is_down: bool = get(&row, "delta read closure", "down")?;
            if is_down && down.insert(o) {
                down_frontier.push(o);
            }
            // every object goes up once, when it joins the set
            if all.insert(o) {
                up_frontier.push(o);
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(owners: &[Owner]) -> Counts {
        Counts::of(owners.iter().map(|o| Counts::key(*o)).collect())
    }

    #[test]
    fn counts_are_per_owner_and_part_in_order() {
        let c = counts(&[
            (20, true),
            (20000, false),
            (20, false),
            (20000, false),
            (20, true),
        ]);
        assert_eq!(c.0.len(), 3);
        assert_eq!(
            c.0.iter().map(Counts::owner).collect::<Vec<_>>(),
            vec![(20, false), (20, true), (20000, false)]
        );
        assert_eq!(c.rows(), 5);
        assert_eq!(c.user_objects(), 1);
    }

    #[test]
    fn changed_since_finds_new_gone_and_recounted_owners_only() {
        let before = counts(&[(1, false), (2, false), (2, true), (3, false), (5, true)]);
        let after = counts(&[
            (1, false),
            (2, false),
            (2, true),
            (2, true),
            (4, false),
            (5, true),
        ]);
        // 2's parts recounted, 3 gone, 4 new; 1, 2's own rows and 5's parts as they were
        assert_eq!(
            before.changed_since(&after),
            vec![(2, true), (3, false), (4, false)]
        );
        assert_eq!(after.changed_since(&after), vec![]);
        assert_eq!(
            Counts::default().changed_since(&before).len(),
            before.0.len()
        );
    }
}
