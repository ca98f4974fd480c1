//! The kinds beyond tables: a *kinds case* (`property_kinds`) has one unit per [`Kind`], each a
//! table `public.k<i>` with rows and, around it, objects of that kind in the unit's own schemas
//! `k<i>_a` and `k<i>_b`, which depend on each other and on the table: an operator class in
//! `_a` built from operators in `_b` and an index built with the class, a view using a cast
//! whose function is replaced, a GIN index using a text search configuration whose dictionary
//! changes template, a foreign table on a server dropped or created again, a publication of a
//! table whose column is retyped, an aggregate whose state function is replaced under a view,
//! a column and an index using a collation that changes, an event trigger (firing on the
//! plan's own DDL), extended statistics (kinds, target) and a rule on a view (a redirect or
//! `DO INSTEAD NOTHING`), an access
//! method, a conversion and a procedural language with a function written in it.
//!
//! The state of a unit's objects is a list of *knobs* (small numbers, [`KNOBS`] names them);
//! `before` draws every knob, `after` changes some (each a [`Change::Knob`], so the minimiser
//! drops them one at a time), and the table may change too (a type change, a drop). The SQL is
//! rendered from the knobs *tolerantly*: an object whose base is absent (an index whose class
//! or table is gone) is not written, so every combination is a valid schema.
//!
//! One rule is not a knob's: a user mapping holding a password (`PropSecret-...`) exists on
//! both sides or neither, on a server that stays, since a plan that would have to write a
//! secret is refused by design (`docs/kinds.md`, Secrets); `run.rs` checks that the password
//! appears in no output and no plan file.

use std::fmt::Write as _;

use super::gen::{quote, Case, Change, Col, Extra, Kind, Rng, Table, Ty, Unit, Val};

/// Every kind, in unit order.
pub const KINDS: [Kind; 11] = [
    Kind::Operators,
    Kind::Cast,
    Kind::TextSearch,
    Kind::Foreign,
    Kind::Publication,
    Kind::EventTrigger,
    Kind::Aggregate,
    Kind::Collation,
    Kind::StatisticsRules,
    Kind::Relations,
    Kind::Handlers,
];

/// The knobs of a kind: (name, number of values).
pub fn knobs(kind: Kind) -> &'static [(&'static str, u8)] {
    match kind {
        Kind::Operators => &[
            ("present", 2),
            ("param_names", 2),
            ("body", 2),
            ("commutator", 2),
            ("index", 2),
            ("family", 3),
        ],
        Kind::Cast => &[
            ("cast", 2),
            ("context", 3),
            ("inout", 2),
            ("param_name", 2),
            ("body", 2),
            ("view", 2),
        ],
        Kind::TextSearch => &[("dict", 4), ("config", 2), ("mapping", 2), ("index", 2)],
        Kind::Foreign => &[
            ("wrapper_options", 2),
            ("server", 3),
            ("server_options", 2),
            ("mapping", 3),
            ("secret", 2),
            ("foreign_table", 2),
            ("table_options", 2),
            ("column_type", 2),
        ],
        Kind::Publication => &[
            ("publication", 2),
            ("columns", 2),
            ("filter", 3),
            ("publish", 2),
        ],
        Kind::EventTrigger => &[
            ("present", 2),
            ("event", 2),
            ("tags", 2),
            ("enabled", 3),
            ("body", 2),
        ],
        Kind::Aggregate => &[
            ("present", 2),
            ("initcond", 2),
            ("param_names", 2),
            ("view", 2),
            ("body", 2),
        ],
        Kind::Collation => &[("collation", 3), ("index", 2)],
        Kind::StatisticsRules => &[("statistics", 4), ("rule", 3)],
        Kind::Relations => &[
            ("trigger", 3),
            ("trigger_body", 2),
            ("trigger_disabled", 2),
            ("policy", 3),
            ("row_security", 2),
            ("matview", 3),
            ("matview_index", 2),
            ("domain", 3),
        ],
        Kind::Handlers => &[
            ("access_method", 4),
            ("conversion", 4),
            ("language", 3),
            ("function", 2),
            ("grant", 2),
            ("comments", 2),
            ("am_table", 2),
        ],
    }
}

pub fn case(seed: u64) -> Case {
    let mut rng = Rng::new(seed ^ 0x4B49_4E44_5300_0000);
    let small_table = if rng.chance(60) { "0" } else { "1MB" };
    let units = KINDS
        .iter()
        .enumerate()
        .map(|(i, k)| unit(&mut rng.fork(), &format!("k{i}"), *k))
        .collect();
    Case {
        seed,
        units,
        small_table,
        flavour: "kinds",
    }
}

fn col(name: &str, ty: Ty, not_null: bool) -> Col {
    Col {
        name: name.into(),
        ty,
        not_null,
        default: None,
        comment: None,
        backfill: None,
        renamed_from: None,
        collation: None,
    }
}

const LABELS: [&str; 8] = [
    "alpha beta",
    "The quick brown foxes jumped",
    "running runs ran",
    "O'Brien's 12 apples",
    "",
    "żółw ünïcode words",
    "Zebra",
    "zebra",
];

fn unit(rng: &mut Rng, base: &str, kind: Kind) -> Unit {
    let t = Table::plain(
        base,
        true,
        vec![
            col("id", Ty::Int, true),
            col("val", Ty::Int, false),
            col("label", Ty::Text, false),
        ],
    );
    let n = match rng.below(4) {
        0 => 0,
        _ => 2 + rng.below(10),
    };
    let rows: Vec<Vec<Val>> = (0..n)
        .map(|i| {
            let val = (!rng.chance(15)).then(|| (rng.below(200) as i64 - 100).to_string());
            let label = (!rng.chance(15)).then(|| quote(rng.pick(&LABELS)));
            vec![Some((i as i64 * 3 + 1).to_string()), val, label]
        })
        .collect();
    let spec = knobs(kind);
    let mut before: Vec<u8> = spec
        .iter()
        .map(|(_, n)| rng.below(*n as usize) as u8)
        .collect();
    let mut after = before.clone();
    for (i, (_, n)) in spec.iter().enumerate() {
        if rng.chance(40) {
            after[i] = rng.below(*n as usize) as u8;
        }
    }
    // A password is never written by a plan: the mapping holding one stays as it is, on a
    // server that stays (`secret` and `server` equal on both sides).
    if kind == Kind::Foreign {
        after[4] = before[4];
        if before[4] == 1 {
            let server = 1 + rng.below(2) as u8;
            before[1] = server;
            after[1] = server;
        }
    }
    let mut before_t = t;
    let mut changes = Vec::new();
    if kind == Kind::Collation {
        // The column uses the collation on a side where it exists, sometimes.
        let uses = |k: u8, rng: &mut Rng| (k != 0 && rng.chance(60)).then(|| coll(base));
        let (ub, ua) = (uses(before[0], &mut *rng), uses(after[0], &mut *rng));
        before_t.col_mut("label").unwrap().collation = ub.clone();
        if ua != ub {
            changes.push(Change::SetCollation("label".into(), ua));
        }
    }
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if a != b {
            changes.push(Change::Knob(i, *a));
        }
    }
    // The table itself: a type change under what depends on the column, or a drop.
    match kind {
        Kind::StatisticsRules if rng.chance(60) => {
            changes.push(Change::Retype("val".into(), Ty::BigInt))
        }
        Kind::Relations if rng.chance(40) => changes.push(Change::Retype("val".into(), Ty::BigInt)),
        Kind::Publication if rng.chance(60) => {
            let to = rng.pick(&[Ty::BigInt, Ty::Numeric(12, 2)]);
            changes.push(Change::Retype("val".into(), to));
        }
        Kind::Foreign | Kind::EventTrigger => {}
        _ if rng.chance(10) => changes.push(Change::DropTable),
        _ => {}
    }
    if changes.is_empty() {
        // Every unit changes something (a foreign unit neither its password nor its server).
        let free: Vec<usize> = (0..spec.len())
            .filter(|&i| !(kind == Kind::Foreign && (i == 1 || i == 4)))
            // (nor a collation its column keeps using)
            .filter(|&i| !(kind == Kind::Collation && i == 0))
            .collect();
        let i = rng.pick(&free);
        let v = (before[i] + 1) % spec[i].1;
        changes.push(Change::Knob(i, v));
    }
    Unit {
        before: Some(before_t),
        changes,
        rows,
        extra: Some(Extra {
            kind,
            knobs: before,
        }),
    }
}

fn coll(base: &str) -> String {
    format!("{base}_a.coll")
}

/// What must exist before the unit's table: its schemas and a collation its column uses.
pub fn pre(e: &Extra, t: Option<&Table>, out: &mut String) {
    let base = base_of(e, t);
    let _ = writeln!(out, "CREATE SCHEMA {base}_a;\nCREATE SCHEMA {base}_b;");
    if e.kind == Kind::Collation {
        match e.knobs[0] {
            1 => {
                let _ = writeln!(
                    out,
                    "CREATE COLLATION {base}_a.coll (provider = libc, locale = 'C');"
                );
            }
            2 => {
                let _ = writeln!(
                    out,
                    "CREATE COLLATION {base}_a.coll (provider = icu, locale = 'und-u-ks-level2', \
                     deterministic = false);"
                );
            }
            _ => {}
        }
    }
}

/// The unit's base name: its table's, or (the table dropped) the one the schemas carry.
fn base_of(e: &Extra, t: Option<&Table>) -> String {
    match t {
        Some(t) => t.base.clone(),
        None => format!("k{}", KINDS.iter().position(|k| *k == e.kind).unwrap()),
    }
}

/// Whether `t` has column `name` of a type in `tys`.
fn has(t: Option<&Table>, name: &str, tys: &[Ty]) -> bool {
    t.and_then(|t| t.col(name))
        .is_some_and(|c| tys.is_empty() || tys.contains(&c.ty))
}

/// Everything else, after the table and its rows.
pub fn post(e: &Extra, t: Option<&Table>, out: &mut String) {
    let base = base_of(e, t);
    let (a, b) = (format!("{base}_a"), format!("{base}_b"));
    let k = &e.knobs;
    let table = t.map(|t| format!("public.{}", t.name)).unwrap_or_default();
    let mut w = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    match e.kind {
        Kind::Operators => {
            if k[0] == 0 {
                return;
            }
            let p = ["a", "x"][k[1] as usize];
            for (f, op, neg) in [("lt", "<", ">="), ("eq", "=", "<>"), ("gt", ">", "<=")] {
                let body = if k[2] == 0 {
                    format!("{p}1 {op} {p}2")
                } else {
                    format!("NOT ({p}1 {neg} {p}2)")
                };
                w(format!(
                    "CREATE FUNCTION {b}.{f}({p}1 integer, {p}2 integer) RETURNS boolean \
                     LANGUAGE sql IMMUTABLE STRICT AS $$SELECT {body}$$;"
                ));
            }
            for (name, f, comm) in [
                ("<<<", "lt", ">>>"),
                ("===", "eq", "==="),
                (">>>", "gt", "<<<"),
            ] {
                let c = if k[3] == 1 {
                    format!(", COMMUTATOR = OPERATOR({b}.{comm})")
                } else {
                    String::new()
                };
                w(format!(
                    "CREATE OPERATOR {b}.{name} (FUNCTION = {b}.{f}, LEFTARG = integer, \
                     RIGHTARG = integer{c});"
                ));
            }
            w(format!(
                "CREATE OPERATOR CLASS {a}.int_ops FOR TYPE integer USING btree AS \
                 OPERATOR 1 {b}.<<<, OPERATOR 3 {b}.===, OPERATOR 5 {b}.>>>, \
                 FUNCTION 1 btint4cmp(integer, integer);"
            ));
            if k[5] >= 1 {
                w(format!("CREATE OPERATOR FAMILY {a}.loose USING hash;"));
            }
            if k[5] == 2 {
                w(format!(
                    "ALTER OPERATOR FAMILY {a}.loose USING hash ADD OPERATOR 1 {b}.=== \
                     (integer, integer), FUNCTION 1 hashint4(integer);"
                ));
            }
            if k[4] == 1 && has(t, "val", &[Ty::Int]) {
                w(format!(
                    "CREATE INDEX {base}_val_ops ON {table} (val {a}.int_ops);"
                ));
            }
        }
        Kind::Cast => {
            let p = ["m", "feeling"][k[3] as usize];
            w(format!(
                "CREATE TYPE {a}.mood AS ENUM ('sad', 'ok', 'happy');"
            ));
            let last = ["ELSE 1", "WHEN 'happy' THEN 1"][k[4] as usize];
            w(format!(
                "CREATE FUNCTION {a}.mood_int({p} {a}.mood) RETURNS integer LANGUAGE sql \
                 IMMUTABLE STRICT AS $$SELECT CASE {p} WHEN 'sad' THEN -1 WHEN 'ok' THEN 0 \
                 {last} END$$;"
            ));
            if k[0] == 0 {
                return;
            }
            let ctx = ["", " AS ASSIGNMENT", " AS IMPLICIT"][k[1] as usize];
            let how = if k[2] == 1 {
                "WITH INOUT".to_string()
            } else {
                format!("WITH FUNCTION {a}.mood_int({a}.mood)")
            };
            w(format!("CREATE CAST ({a}.mood AS integer) {how}{ctx};"));
            if k[5] == 1 && has(t, "val", &[]) {
                w(format!(
                    "CREATE VIEW {a}.scores AS SELECT id, (CASE WHEN val > 0 THEN \
                     'happy'::{a}.mood ELSE 'sad'::{a}.mood END)::integer AS score FROM {table};"
                ));
            }
        }
        Kind::TextSearch => {
            let dict = match k[0] {
                1 => "TEMPLATE = pg_catalog.simple, ACCEPT = true",
                2 => "TEMPLATE = pg_catalog.simple, STOPWORDS = english, ACCEPT = false",
                3 => "TEMPLATE = pg_catalog.snowball, LANGUAGE = english",
                _ => "",
            };
            if !dict.is_empty() {
                w(format!("CREATE TEXT SEARCH DICTIONARY {a}.dict ({dict});"));
            }
            if k[1] == 0 {
                return;
            }
            w(format!(
                "CREATE TEXT SEARCH CONFIGURATION {a}.cfg (PARSER = pg_catalog.\"default\");"
            ));
            let tokens = ["asciiword", "asciiword, word, numword"][k[2] as usize];
            let dicts = if dict.is_empty() {
                "pg_catalog.simple".to_string()
            } else {
                format!("{a}.dict, pg_catalog.simple")
            };
            w(format!(
                "ALTER TEXT SEARCH CONFIGURATION {a}.cfg ADD MAPPING FOR {tokens} WITH {dicts};"
            ));
            if k[3] == 1 && has(t, "label", &[Ty::Text]) {
                w(format!(
                    "CREATE INDEX {base}_label_fts ON {table} USING gin \
                     (to_tsvector('{a}.cfg'::regconfig, label));"
                ));
            }
        }
        Kind::Foreign => {
            let wopts = ["", " OPTIONS (debug 'on')"][k[0] as usize];
            w(format!("CREATE FOREIGN DATA WRAPPER {base}_fdw{wopts};"));
            if k[1] == 0 {
                return;
            }
            let ty = ["a", "b"][k[1] as usize - 1];
            w(format!(
                "CREATE SERVER {base}_srv TYPE '{ty}' FOREIGN DATA WRAPPER {base}_fdw \
                 OPTIONS (host 'h{}');",
                k[2]
            ));
            if k[3] > 0 {
                w(format!(
                    "CREATE USER MAPPING FOR PUBLIC SERVER {base}_srv OPTIONS (user 'u{}');",
                    k[3]
                ));
            }
            if k[4] == 1 {
                w(format!(
                    "CREATE USER MAPPING FOR reader SERVER {base}_srv OPTIONS (user 'r', \
                     password '{SECRET}-{base}');"
                ));
            }
            if k[5] == 1 {
                let ty = ["integer", "bigint"][k[7] as usize];
                w(format!(
                    "CREATE FOREIGN TABLE {a}.remote (id integer NOT NULL, val {ty} \
                     OPTIONS (column_name 'v')) SERVER {base}_srv OPTIONS (table_name 'r{}');",
                    k[6]
                ));
            }
        }
        Kind::Publication => {
            if k[0] == 0 {
                return;
            }
            let mut member = String::new();
            let mut publish = ["", " WITH (publish = 'insert, update')"][k[3] as usize];
            if t.is_some() {
                member = format!(" FOR TABLE {table}");
                if k[1] == 1 {
                    let cols: Vec<&str> = ["id", "val"]
                        .into_iter()
                        .filter(|c| has(t, c, &[]))
                        .collect();
                    let _ = write!(member, " ({})", cols.join(", "));
                }
                match k[2] {
                    1 => member.push_str(" WHERE (id > 2)"),
                    2 if has(t, "val", &[]) => {
                        // A row filter on a column outside the replica identity makes the
                        // table refuse UPDATEs while updates are published: inserts only.
                        member.push_str(" WHERE (val > 0)");
                        publish = " WITH (publish = 'insert')";
                    }
                    _ => {}
                }
            }
            w(format!("CREATE PUBLICATION {base}_pub{member}{publish};"));
        }
        Kind::EventTrigger => {
            let body = ["NULL;", "PERFORM 1;"][k[4] as usize];
            w(format!(
                "CREATE FUNCTION {a}.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS \
                 $$BEGIN {body} END$$;"
            ));
            if k[0] == 0 {
                return;
            }
            let event = ["ddl_command_end", "ddl_command_start"][k[1] as usize];
            let tags = ["'CREATE TABLE'", "'CREATE TABLE', 'ALTER TABLE'"][k[2] as usize];
            w(format!(
                "CREATE EVENT TRIGGER {base}_et ON {event} WHEN TAG IN ({tags}) \
                 EXECUTE FUNCTION {a}.on_ddl();"
            ));
            match k[3] {
                1 => w(format!("ALTER EVENT TRIGGER {base}_et DISABLE;")),
                2 => w(format!("ALTER EVENT TRIGGER {base}_et ENABLE ALWAYS;")),
                _ => {}
            }
        }
        Kind::Aggregate => {
            if k[0] == 0 {
                return;
            }
            let p = ["s", "state"][k[2] as usize];
            let body = [format!("{p}1 + {p}2"), format!("{p}2 + {p}1")][k[4] as usize].clone();
            w(format!(
                "CREATE FUNCTION {a}.add({p}1 integer, {p}2 integer) RETURNS integer \
                 LANGUAGE sql IMMUTABLE STRICT AS $$SELECT {body}$$;"
            ));
            w(format!(
                "CREATE AGGREGATE {a}.total(integer) (SFUNC = {a}.add, STYPE = integer, \
                 INITCOND = '{}');",
                ["0", "10"][k[1] as usize]
            ));
            if k[3] == 1 && has(t, "val", &[Ty::Int]) {
                w(format!(
                    "CREATE VIEW {a}.totals AS SELECT {a}.total(val) AS total FROM {table};"
                ));
            }
        }
        Kind::Collation => {
            if k[0] != 0 && k[1] == 1 && has(t, "label", &[]) {
                w(format!(
                    "CREATE INDEX {base}_label_coll ON {table} (label COLLATE {a}.coll);"
                ));
            }
        }
        Kind::Relations => relations(k, &base, &a, t, &mut w),
        Kind::Handlers => handlers(k, &base, &a, t, &mut w),
        Kind::StatisticsRules => {
            if t.is_none() {
                return;
            }
            match k[0] {
                1 | 3 => w(format!(
                    "CREATE STATISTICS {a}.st (dependencies) ON val, label FROM {table};"
                )),
                2 => w(format!(
                    "CREATE STATISTICS {a}.st (ndistinct, mcv) ON val, label FROM {table};"
                )),
                _ => {}
            }
            if k[0] == 3 {
                w(format!("ALTER STATISTICS {a}.st SET STATISTICS 200;"));
            }
            if k[1] != 0 && has(t, "val", &[]) {
                w(format!(
                    "CREATE VIEW {a}.rv AS SELECT id, val FROM {table};"
                ));
                let action = match k[1] {
                    1 => format!("INSERT INTO {table} (id, val) VALUES (NEW.id, NEW.val)"),
                    _ => "NOTHING".to_string(),
                };
                w(format!(
                    "CREATE RULE rv_ins AS ON INSERT TO {a}.rv DO INSTEAD {action};"
                ));
            }
        }
    }
}

/// Access methods and languages are database-wide: named after the unit. The table access
/// method's handler never changes (a table using it would keep PostgreSQL from dropping it:
/// `docs/kinds.md`'s known gap), the index one's does; the language stays trusted (GRANT and
/// REVOKE are refused on an untrusted one).
fn handlers(k: &[u8], base: &str, a: &str, t: Option<&Table>, w: &mut dyn FnMut(String)) {
    let (tam, iam, pl) = (
        format!("{base}_tam"),
        format!("{base}_iam"),
        format!("{base}_pl"),
    );
    match k[0] {
        1 => w(format!(
            "CREATE ACCESS METHOD {tam} TYPE TABLE HANDLER heap_tableam_handler;"
        )),
        2 => w(format!(
            "CREATE ACCESS METHOD {iam} TYPE INDEX HANDLER bthandler;"
        )),
        3 => w(format!(
            "CREATE ACCESS METHOD {iam} TYPE INDEX HANDLER hashhandler;"
        )),
        _ => {}
    }
    if k[0] == 1 && k[6] == 1 {
        w(format!(
            "CREATE TABLE {a}.am_t (id integer PRIMARY KEY, note text) USING {tam};"
        ));
    }
    match k[1] {
        1 => w(format!(
            "CREATE CONVERSION {a}.conv FOR 'UTF8' TO 'LATIN1' FROM utf8_to_iso8859_1;"
        )),
        2 => w(format!(
            "CREATE DEFAULT CONVERSION {a}.conv FOR 'UTF8' TO 'LATIN1' FROM utf8_to_iso8859_1;"
        )),
        3 => w(format!(
            "CREATE CONVERSION {a}.conv FOR 'UTF8' TO 'KOI8R' FROM utf8_to_koi8r;"
        )),
        _ => {}
    }
    match k[2] {
        1 => w(format!(
            "CREATE TRUSTED LANGUAGE {pl} HANDLER plpgsql_call_handler \
             INLINE plpgsql_inline_handler VALIDATOR plpgsql_validator;"
        )),
        2 => w(format!(
            "CREATE TRUSTED LANGUAGE {pl} HANDLER plpgsql_call_handler \
             VALIDATOR plpgsql_validator;"
        )),
        _ => {}
    }
    if k[2] != 0 && k[3] == 1 {
        let body = match t {
            Some(t) => format!("RETURN (SELECT count(*) FROM public.{});", t.name),
            None => "RETURN 0;".to_string(),
        };
        w(format!(
            "CREATE FUNCTION {a}.counted() RETURNS bigint LANGUAGE {pl} AS $$BEGIN {body} END$$;"
        ));
    }
    if k[2] != 0 && k[4] == 1 {
        w(format!("GRANT USAGE ON LANGUAGE {pl} TO reader;"));
    }
    if k[5] == 1 {
        match k[0] {
            1 => w(format!("COMMENT ON ACCESS METHOD {tam} IS 'table method';")),
            2 | 3 => w(format!("COMMENT ON ACCESS METHOD {iam} IS 'index method';")),
            _ => {}
        }
        if k[1] != 0 {
            w(format!("COMMENT ON CONVERSION {a}.conv IS 'conversion';"));
        }
        if k[2] != 0 {
            w(format!("COMMENT ON LANGUAGE {pl} IS 'language';"));
        }
    }
}

fn relations(k: &[u8], base: &str, a: &str, t: Option<&Table>, w: &mut dyn FnMut(String)) {
    let table = t.map(|t| format!("public.{}", t.name)).unwrap_or_default();
    if k[7] != 0 {
        w(format!(
            "CREATE DOMAIN {a}.score AS integer CHECK (VALUE > {});",
            ["", "-1000", "-2000"][k[7] as usize]
        ));
        w(format!(
            "CREATE FUNCTION {a}.bump(v {a}.score) RETURNS integer LANGUAGE sql IMMUTABLE \
             AS $$SELECT v + 1$$;"
        ));
    }
    let body = [
        "RETURN NEW;",
        "IF NEW.id IS NULL THEN RAISE EXCEPTION 'no id'; END IF; RETURN NEW;",
    ][k[1] as usize];
    w(format!(
        "CREATE FUNCTION {a}.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN {body} END$$;"
    ));
    if t.is_none() {
        return;
    }
    let val = has(t, "val", &[]);
    match k[0] {
        1 => w(format!(
            "CREATE TRIGGER {base}_touch BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW \
             EXECUTE FUNCTION {a}.touch();"
        )),
        2 if val => w(format!(
            "CREATE TRIGGER {base}_touch AFTER UPDATE OF val ON {table} FOR EACH ROW \
             WHEN (OLD.val IS DISTINCT FROM NEW.val) EXECUTE FUNCTION {a}.touch();"
        )),
        _ => {}
    }
    if k[0] != 0 && k[2] == 1 && (k[0] == 1 || val) {
        w(format!("ALTER TABLE {table} DISABLE TRIGGER {base}_touch;"));
    }
    match k[3] {
        1 => w(format!("CREATE POLICY {base}_p ON {table} USING (id > 0);")),
        2 if val => w(format!(
            "CREATE POLICY {base}_p ON {table} FOR SELECT TO reader USING (val > 0);"
        )),
        _ => {}
    }
    if k[4] == 1 {
        w(format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"));
    }
    let select = match k[5] {
        1 => "id, label".to_string(),
        2 if val && k[7] != 0 => format!("id, {a}.bump(val::{a}.score) AS b"),
        2 if val => "id, val + 1 AS b".to_string(),
        _ => return,
    };
    w(format!(
        "CREATE MATERIALIZED VIEW {a}.mv AS SELECT {select} FROM {table};"
    ));
    if k[6] == 1 {
        w(format!("CREATE UNIQUE INDEX {base}_mv_id ON {a}.mv (id);"));
    }
}

/// The password of the secret user mappings: no output and no file may show it.
pub const SECRET: &str = "PropSecret";
