//! What a statement creates and what it refers to, by name (see `names`), for ordering.
//!
//! Creates are read per statement kind (the object a `CREATE` names, plus what comes with it:
//! columns, serial sequences, constraint indexes). References come from a generic walk over the
//! whole parse tree: every relation (`RangeVar`), type name, function call, function/operator
//! signature, collation, index operator class, `nextval('seq')` argument and `'x'::regclass`
//! literal, wherever it appears (columns, defaults, checks, view bodies, policies, ...), plus the
//! objects named by `COMMENT`, `GRANT`, `OWNED BY`, trigger functions and the bodies of
//! `LANGUAGE sql` functions, which PostgreSQL checks when the function is created.
//!
//! Where each part lives: `creates` reads what each statement kind creates, `walk` what a
//! statement refers to; this file holds the facts and how they are finished (deduplicated,
//! the schemas of qualified names added, a statement's own names left out of its references).

use pg_query::protobuf;
use pg_query::NodeEnum;

use super::names::{qualify, relation, required_schema, schema_of};

mod creates;
#[cfg(test)]
mod oracle;
mod walk;

use creates::creates;
use walk::{named_references, walk};

/// Names a statement creates and refers to, and the ordering-only facts beside them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub creates: Vec<String>,
    pub references: Vec<String>,
    pub order: OrderFacts,
}

/// Facts only the ordering uses; not part of the public `Statement`.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct OrderFacts {
    /// Ordering-only names the statement makes available: `schema.t#key` when it gives table
    /// `t` a unique key; `schema.t` when it adds columns or partitions to `t` (statements using
    /// `t` wait for it, other statements adding to `t` do not); `schema.i` when a constraint
    /// adopts index `i`.
    pub provides: Vec<String>,
    /// Ordering-only names it needs: `schema.t#key` for a foreign key to `t`, `schema.t#like`
    /// for `LIKE t`.
    pub needs: Vec<String>,
    /// `(partition, parent)` pairs it establishes (`PARTITION OF`, `ATTACH PARTITION`).
    pub partitions: Vec<(String, String)>,
    /// Tables it builds an index on (`CREATE INDEX`, key constraints added by `ALTER TABLE`).
    pub index_on: Vec<String>,
    /// Tables it adds a `CHECK ... NOT VALID` to (`ALTER TABLE t ADD CONSTRAINT`): the
    /// partitions of `t` created before it get `NOT VALID` copies, those created after it
    /// validated ones, so it keeps its written order against `PARTITION OF t`.
    #[serde(default)]
    pub unvalidated_check_on: Vec<String>,
}

/// The ordering-only name of "everything `LIKE t INCLUDING ALL` copies from `t`": indexes,
/// constraints and comments added by statements other than `CREATE TABLE t`.
fn like_of(table: &str) -> String {
    format!("{table}#like")
}

/// The ordering-only name of "a unique key of table `t`", which foreign keys to `t` need.
fn key_of(table: &str) -> String {
    format!("{table}#key")
}

impl Facts {
    fn create(&mut self, name: Option<String>) {
        self.creates.extend(name);
    }

    fn refer(&mut self, name: Option<String>) {
        self.references.extend(name);
    }

    /// Dedups, drops self-references and adds the schema of every qualified name.
    fn finish(mut self) -> Facts {
        dedup_keep_order(&mut self.creates);
        let schemas: Vec<String> = self
            .creates
            .iter()
            .chain(&self.references)
            .filter_map(|n| required_schema(n).map(str::to_string))
            .collect();
        self.references.extend(schemas);
        self.references.retain(|r| !self.creates.contains(r));
        self.references.sort();
        self.references.dedup();
        dedup_keep_order(&mut self.order.provides);
        self.order.needs.sort();
        self.order.needs.dedup();
        self
    }
}

fn dedup_keep_order(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
}

/// What the statement creates and references.
pub(crate) fn facts(node: &NodeEnum) -> Facts {
    let mut facts = Facts::default();
    creates(node, &mut facts);
    walk(node, &mut facts);
    named_references(node, &mut facts);
    facts.finish()
}

/// The `String` parts of a list of parse nodes (`["app", "users"]`).
fn strings(nodes: &[protobuf::Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn range_var(rv: &Option<protobuf::RangeVar>) -> Option<String> {
    rv.as_ref()
        .and_then(|r| relation(&r.schemaname, &r.relname))
}

/// `schema.name` for an object living in the same schema as relation `rel` (`schema.t`).
fn sibling(rel: &str, name: &str) -> Option<String> {
    let schema = schema_of(rel)?;
    qualify(&[schema.to_string(), name.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(sql: &str) -> Facts {
        let tree = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).unwrap();
        let node = tree.protobuf.stmts[0]
            .stmt
            .as_ref()
            .unwrap()
            .node
            .clone()
            .unwrap();
        facts(&node)
    }

    fn refs(sql: &str) -> Vec<String> {
        of(sql).references
    }

    #[test]
    fn alter_table_subcommands_refer_to_the_parts_they_change() {
        assert_eq!(
            refs(
                "ALTER TABLE app.t DISABLE RULE r, ENABLE ALWAYS TRIGGER tr, VALIDATE CONSTRAINT c"
            ),
            ["app", "app.t", "app.t.c", "app.t.r", "app.t.tr"]
        );
        assert_eq!(
            refs(
                "ALTER TABLE app.t ALTER COLUMN a SET DEFAULT 1, ALTER COLUMN b SET STATISTICS 10"
            ),
            ["app", "app.t", "app.t.a", "app.t.b"]
        );
        assert_eq!(
            refs("ALTER TABLE app.t SET TABLESPACE pg_default"),
            ["app", "app.t"]
        );
    }

    #[test]
    fn alter_statements_refer_to_what_they_alter() {
        assert_eq!(
            refs("ALTER TEXT SEARCH CONFIGURATION app.cfg ADD MAPPING FOR asciiword WITH app.stem, simple"),
            ["app", "app.cfg", "app.stem", "public.simple"]
        );
        assert_eq!(
            refs("ALTER TEXT SEARCH DICTIONARY app.stem (StopWords = 'english')"),
            ["app", "app.stem"]
        );
        assert_eq!(
            refs("ALTER STATISTICS app.s SET STATISTICS 10"),
            ["app", "app.s"]
        );
        assert_eq!(
            refs("ALTER COLLATION app.c REFRESH VERSION"),
            ["app", "app.c"]
        );
        assert_eq!(
            refs("ALTER OPERATOR FAMILY app.f USING btree ADD FUNCTION 1 (int, int) app.cmp(int, int)"),
            ["access_method:btree", "app", "app.cmp", "app.f"]
        );
        assert_eq!(refs("ALTER EVENT TRIGGER e DISABLE"), ["event_trigger:e"]);
        assert_eq!(
            refs("ALTER FOREIGN DATA WRAPPER w OPTIONS (a '1')"),
            ["fdw:w"]
        );
        assert_eq!(refs("ALTER SERVER s OPTIONS (a '1')"), ["server:s"]);
        assert_eq!(
            refs("ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (a '1')"),
            ["server:s"]
        );
        assert_eq!(
            refs("ALTER PUBLICATION p ADD TABLE app.t"),
            ["app", "app.t", "publication:p"]
        );
        assert_eq!(
            refs("ALTER INDEX app.i DEPENDS ON EXTENSION e"),
            ["app", "app.i"]
        );
    }

    #[test]
    fn table_creates_itself_columns_and_serial_sequences() {
        let f =
            of("CREATE TABLE app.t (id serial PRIMARY KEY, n int CONSTRAINT n_ok CHECK (n > 0))");
        assert_eq!(
            f.creates,
            [
                "app.t",
                "app.t.id",
                "app.t_id_seq",
                "app.t_pkey",
                "app.t.n",
                "app.t.n_ok"
            ]
        );
        assert_eq!(f.references, ["app"]);
    }

    #[test]
    fn table_references_types_foreign_tables_functions_and_sequences() {
        let r = refs(
            "CREATE TABLE t (a mood[], b int REFERENCES u (id), c int DEFAULT nextval('s'::regclass), \
             d text DEFAULT nextval('\"S2\"') CHECK (valid(d)), e text COLLATE app.c) INHERITS (base)",
        );
        for name in [
            "public.mood",
            "public.u",
            "public.s",
            "public.S2",
            "public.valid",
            "public.base",
            "app.c",
            "app",
        ] {
            assert!(r.contains(&name.to_string()), "{name} missing from {r:?}");
        }
        assert!(!r.contains(&"public.t".to_string()));
        assert_eq!(
            of("CREATE TABLE t (b int REFERENCES u)").order.needs,
            ["public.u#key"]
        );
    }

    #[test]
    fn views_reference_their_tables() {
        let r = refs("CREATE VIEW v AS SELECT * FROM a JOIN app.b USING (id) WHERE f(x)");
        assert_eq!(r, ["app", "app.b", "public.a", "public.f"]);
    }

    #[test]
    fn triggers_indexes_and_policies_reference_their_table() {
        let r = refs("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION trg()");
        assert!(r.contains(&"public.t".into()) && r.contains(&"public.trg".into()));
        let f = of("CREATE UNIQUE INDEX i ON app.t USING gin (x gin_trgm_ops)");
        assert_eq!(f.creates, ["app.i"]);
        assert!(f.references.contains(&"public.gin_trgm_ops".into()));
        assert_eq!(f.order.provides, ["app.t#like", "app.t#key"]);
        let p = of("CREATE POLICY p ON t USING (owner = current_user)");
        assert_eq!(p.creates, ["public.t.p"]);
    }

    #[test]
    fn comments_and_grants_reference_their_objects() {
        assert_eq!(
            refs("COMMENT ON COLUMN app.t.c IS 'x'"),
            ["app", "app.t", "app.t.c"]
        );
        assert_eq!(refs("COMMENT ON SCHEMA app IS 'x'"), ["app"]);
        assert!(refs("COMMENT ON FUNCTION f(int) IS 'x'").contains(&"public.f".into()));
        assert!(refs("GRANT SELECT ON t TO bob").contains(&"public.t".into()));
        assert_eq!(refs("GRANT USAGE ON SCHEMA app TO bob"), ["app"]);
        assert_eq!(
            refs("GRANT SELECT ON ALL TABLES IN SCHEMA app TO bob"),
            ["app"]
        );
    }

    #[test]
    fn sequences_owned_by_reference_the_table() {
        assert!(refs("ALTER SEQUENCE s OWNED BY app.t.id").contains(&"app.t".into()));
    }

    #[test]
    fn sql_function_bodies_are_walked() {
        let r =
            refs("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT count(*) FROM t $$");
        assert!(r.contains(&"public.t".into()), "{r:?}");
        let p = refs("CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT 1 FROM t); END $$");
        assert!(!p.contains(&"public.t".into()));
    }

    #[test]
    fn constraints_using_an_index_and_cluster_on_reference_the_index() {
        let f = of("ALTER TABLE ONLY app.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey");
        assert!(!f.creates.contains(&"app.t_pkey".into()));
        let f = of("ALTER TABLE app.t ADD CONSTRAINT pk PRIMARY KEY USING INDEX t_idx");
        assert!(f.creates.contains(&"app.pk".into()));
        assert!(f.references.contains(&"app.t_idx".into()));
        // The index is renamed to pk: statements naming t_idx (ALTER INDEX p ATTACH PARTITION
        // t_idx) keep their place before it instead of waiting for it.
        assert!(!f.order.provides.contains(&"app.t_idx".into()));
        let f = of("ALTER TABLE ONLY app.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey");
        assert!(f.order.provides.contains(&"app.t_pkey".into()));
        assert!(refs("ALTER TABLE t CLUSTER ON t_idx").contains(&"public.t_idx".into()));
        assert!(
            refs("ALTER TABLE t REPLICA IDENTITY USING INDEX t_uk").contains(&"public.t_uk".into())
        );
    }

    #[test]
    fn partitions_provide_their_parent() {
        let f = of("CREATE TABLE app.p1 PARTITION OF app.p FOR VALUES IN (1)");
        assert_eq!(f.creates[0], "app.p1");
        assert!(f.references.contains(&"app.p".into()));
        assert!(f.order.provides.contains(&"app.p".into()));
        let f = of("ALTER INDEX app.p_idx ATTACH PARTITION app.p1_idx");
        assert!(f.order.provides.contains(&"app.p_idx".into()));
    }

    #[test]
    fn like_waits_for_what_it_copies() {
        assert_eq!(
            of("CREATE TABLE t (LIKE app.src INCLUDING ALL)")
                .order
                .needs,
            ["app.src#like"]
        );
        for sql in [
            "CREATE INDEX i ON app.src (x)",
            "COMMENT ON COLUMN app.src.x IS 'x'",
            "ALTER TABLE app.src ADD CONSTRAINT c CHECK (x > 0)",
            "CREATE STATISTICS s ON x, y FROM app.src",
        ] {
            assert!(
                of(sql).order.provides.contains(&"app.src#like".into()),
                "{sql}"
            );
        }
    }

    #[test]
    fn partitions_and_index_builds_are_recorded() {
        let f = of("CREATE TABLE app.p1 PARTITION OF app.p FOR VALUES IN (1)");
        assert_eq!(f.order.partitions, [("app.p1".into(), "app.p".into())]);
        let f = of("ALTER TABLE app.p ATTACH PARTITION app.p2 FOR VALUES IN (2)");
        assert_eq!(f.order.partitions, [("app.p2".into(), "app.p".into())]);
        assert_eq!(of("CREATE INDEX ON app.p1 (x)").order.index_on, ["app.p1"]);
        assert_eq!(
            of("ALTER TABLE app.p1 ADD PRIMARY KEY (x)").order.index_on,
            ["app.p1"]
        );
        assert!(
            of("ALTER TABLE app.p1 ADD CONSTRAINT k PRIMARY KEY USING INDEX i")
                .order
                .index_on
                .is_empty()
        );
    }

    #[test]
    fn alter_table_add_column_provides_the_table() {
        let f = of("ALTER TABLE t ADD COLUMN c int, ADD CONSTRAINT k UNIQUE (c)");
        assert_eq!(f.creates, ["public.t.c", "public.t.k", "public.k"]);
        assert!(f.order.provides.contains(&"public.t".into()));
        assert!(f.order.provides.contains(&"public.t#key".into()));
    }
}
