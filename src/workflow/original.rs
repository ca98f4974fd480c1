//! The user's own text of CHECK constraints, taken from the schema files.
//!
//! PostgreSQL's deparser is not always a fixed point: `status IN ('a','b')` on a varchar
//! column is stored and printed as `(status)::text = ANY ((ARRAY['a'::varchar, ...])::text[])`,
//! and executing that text stores a different tree, printed differently again. A plan that adds
//! such a constraint from `pg_get_constraintdef` therefore never converges. When the proof finds
//! exactly these objects differing, the plan is made again with the constraint's text as the
//! user wrote it (which is what the shadow database executed), and proven again.

use crate::model::QName;
use crate::source::SourceSet;
use pg_query::protobuf::{node::Node as N, ConstrType, Constraint};
use std::collections::{BTreeMap, BTreeSet};

/// `(table, constraint name) -> "CHECK (...)"` as written in the schema files.
pub type CheckTexts = BTreeMap<(QName, String), String>;

/// The texts of the statements that can define a CHECK constraint (the keyword in any case:
/// a keyword is one token, never split or escaped), kept for [`check_texts`] when the rest
/// of the statements is gone: the proof runs without them (issue 9, the statements' model is
/// ~26 MiB at 5,000 tables), and only a proof that fails on CHECK constraints asks for these.
pub struct CheckSources(Vec<String>);

impl CheckSources {
    pub fn of(source: &SourceSet) -> CheckSources {
        let may_check = |sql: &str| {
            sql.as_bytes()
                .windows(5)
                .any(|w| w.eq_ignore_ascii_case(b"check"))
        };
        CheckSources(
            source
                .statements
                .iter()
                .filter(|s| may_check(&s.sql))
                .map(|s| s.sql.clone())
                .collect(),
        )
    }
}

/// Collects the CHECK constraints of `CREATE TABLE` and `ALTER TABLE ... ADD` statements.
pub fn check_texts(source: &CheckSources) -> CheckTexts {
    let mut out = CheckTexts::new();
    for sql in &source.0 {
        let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
            continue;
        };
        for raw in &parsed.protobuf.stmts {
            let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
                continue;
            };
            let stmt_start = raw.stmt_location.max(0) as usize;
            let text = &sql[stmt_start.min(sql.len())..];
            collect(node, text, &mut out);
        }
    }
    out
}

fn collect(node: &N, sql: &str, out: &mut CheckTexts) {
    let mut used: BTreeSet<String> = BTreeSet::new();
    match node {
        N::CreateStmt(cs) => {
            let Some(table) = cs.relation.as_ref().map(qname) else {
                return;
            };
            for elt in &cs.table_elts {
                match &elt.node {
                    Some(N::ColumnDef(cd)) => {
                        for c in &cd.constraints {
                            if let Some(N::Constraint(con)) = &c.node {
                                add(&table, Some(&cd.colname), con, sql, &mut used, out);
                            }
                        }
                    }
                    Some(N::Constraint(con)) => add(&table, None, con, sql, &mut used, out),
                    _ => {}
                }
            }
        }
        N::AlterTableStmt(at) => {
            let Some(table) = at.relation.as_ref().map(qname) else {
                return;
            };
            for cmd in &at.cmds {
                if let Some(N::AlterTableCmd(c)) = &cmd.node {
                    if let Some(N::Constraint(con)) = c.def.as_ref().and_then(|d| d.node.as_ref()) {
                        add(&table, None, con, sql, &mut used, out);
                    }
                }
            }
        }
        _ => {}
    }
}

pub(super) fn qname(r: &pg_query::protobuf::RangeVar) -> QName {
    let schema = if r.schemaname.is_empty() {
        "public"
    } else {
        &r.schemaname
    };
    QName::new(schema, r.relname.clone())
}

fn add(
    table: &QName,
    column: Option<&str>,
    con: &Constraint,
    sql: &str,
    used: &mut BTreeSet<String>,
    out: &mut CheckTexts,
) {
    if con.contype != ConstrType::ConstrCheck as i32 {
        return;
    }
    let Some((start, end)) = check_span(sql, con.location.max(0) as usize) else {
        return;
    };
    let name = if con.conname.is_empty() {
        let col = column
            .map(str::to_string)
            .or_else(|| first_column(&sql[start..end]));
        generated_name(&table.name, col.as_deref(), used)
    } else {
        con.conname.clone()
    };
    used.insert(name.clone());
    out.insert((table.clone(), name), sql[start..end].to_string());
}

/// Byte span of `CHECK (...)` starting at or after `from`, using the SQL scanner (strings,
/// quoted identifiers and comments cannot fool the parenthesis count).
fn check_span(sql: &str, from: usize) -> Option<(usize, usize)> {
    let tokens = pg_query::scan(sql).ok()?.tokens;
    let text = |t: &pg_query::protobuf::ScanToken| &sql[t.start as usize..t.end as usize];
    let mut it = tokens.iter().skip_while(|t| (t.start as usize) < from);
    let check = it.find(|t| text(t).eq_ignore_ascii_case("check"))?;
    let mut depth = 0i32;
    for t in it {
        match text(t) {
            "(" => depth += 1,
            ")" => {
                depth -= 1;
                if depth == 0 {
                    return Some((check.start as usize, t.end as usize));
                }
            }
            _ if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// The first column a CHECK expression names (PostgreSQL names an unnamed table CHECK after it).
fn first_column(check: &str) -> Option<String> {
    let parsed = pg_query::parse(
        &format!(
            "SELECT 1 WHERE {}",
            check.trim_start_matches(|c: char| c.is_alphabetic())
        ),
        pg_query::ParserOptions::DEFAULT,
    )
    .ok()?;
    let mut refs: Vec<(i32, String)> = parsed
        .protobuf
        .nodes()
        .into_iter()
        .filter_map(|(n, _, _, _)| match n {
            pg_query::NodeRef::ColumnRef(c) => {
                let last = c.fields.last()?.node.as_ref()?;
                match last {
                    N::String(s) => Some((c.location, s.sval.clone())),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    refs.sort();
    refs.into_iter().next().map(|(_, n)| n)
}

/// PostgreSQL's `ChooseConstraintName(table, column, "check")`: `table_column_check`, the longer
/// part shortened to fit 63 bytes, a number appended to the label on conflict.
fn generated_name(table: &str, column: Option<&str>, used: &BTreeSet<String>) -> String {
    for n in 0.. {
        let label = if n == 0 {
            "check".to_string()
        } else {
            format!("check{n}")
        };
        let name = crate::model::pg_object_name(table, column, &label);
        if !used.contains(&name) {
            return name;
        }
    }
    unreachable!("some numbered name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_span_stops_at_the_matching_paren() {
        let sql =
            "CREATE TABLE t (a int CHECK (a > (1)), b text CONSTRAINT x CHECK (b IN ('(', ')')))";
        let (s, e) = check_span(sql, 0).unwrap();
        assert_eq!(&sql[s..e], "CHECK (a > (1))");
        let from = sql.find("CONSTRAINT").unwrap();
        let (s, e) = check_span(sql, from).unwrap();
        assert_eq!(&sql[s..e], "CHECK (b IN ('(', ')'))");
    }

    /// The statements kept for a failed proof are those that can define a CHECK (the keyword
    /// in any case), and the texts found in them are those found in all the statements.
    #[test]
    fn check_sources_keep_what_defines_checks_in_any_case() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.sql"),
            "CREATE TABLE t (a int, status varchar CONSTRAINT s cHeCk (status IN ('a', 'b')));\n\
             CREATE INDEX t_a ON t (a);\n\
             ALTER TABLE t ADD CONSTRAINT p Check (a > 0);\n",
        )
        .unwrap();
        let source = crate::source::load_dir(dir.path()).unwrap();
        let kept = CheckSources::of(&source);
        assert_eq!(kept.0.len(), 2, "{:?}", kept.0);
        assert!(kept.0.iter().all(|sql| !sql.contains("CREATE INDEX")));
        let t = QName::new("public", "t");
        let texts = check_texts(&kept);
        assert_eq!(
            texts.get(&(t.clone(), "s".into())).map(String::as_str),
            Some("cHeCk (status IN ('a', 'b'))")
        );
        assert_eq!(
            texts.get(&(t, "p".into())).map(String::as_str),
            Some("Check (a > 0)")
        );
    }

    #[test]
    fn unnamed_checks_get_postgres_names() {
        let used = BTreeSet::new();
        assert_eq!(
            generated_name("orders", Some("amount"), &used),
            "orders_amount_check"
        );
        assert_eq!(generated_name("orders", None, &used), "orders_check");
        let used: BTreeSet<String> = ["orders_amount_check".to_string()].into();
        assert_eq!(
            generated_name("orders", Some("amount"), &used),
            "orders_amount_check1"
        );
        assert_eq!(
            first_column("CHECK (price > 0 AND amount > 0)").as_deref(),
            Some("price")
        );
    }
}
