//! Objects defined twice where PostgreSQL would not say so. Two `CREATE TABLE t` fail when the
//! shadow loads them ("relation already exists"; `workflow::explain` names both places), but
//! with `IF NOT EXISTS` the second is skipped and with `OR REPLACE` it replaces the first: the
//! load order (file names) would decide which definition wins, and a column could vanish
//! without a word. So when two statements define the same object and one of them is lenient
//! (`CREATE ... IF NOT EXISTS`, `CREATE OR REPLACE ...`, `ADD COLUMN IF NOT EXISTS`), the later
//! one is an error naming both places. Identical statements (same parse tree) are allowed:
//! `CREATE SCHEMA IF NOT EXISTS app;` at the top of several files decides nothing.
//!
//! One exception has a well-defined result: a `CREATE OR REPLACE` written later in the *same
//! file* as the object's first definition is a deliberate redefinition (files written as a
//! script: create a view, then replace it). It is accepted and reported as a replacement
//! ([`Checked::replacements`]): the loader orders it like an imperative statement, in its
//! written position against every statement naming the same objects, so the shadow runs the
//! file as psql would and the last definition is the desired one. Across files the order is
//! only that of the file names, which nobody reads as intent: still an error.
//!
//! Functions, procedures and aggregates are identified by name and argument types, so
//! overloads are not duplicates (types compared as the grammar reads them: `int` and `integer`
//! are both `int4`; a type written once qualified and once not is not recognised as the same).

use pg_query::protobuf::{self, AlterTableType, FunctionParameterMode, ObjectType};
use pg_query::NodeEnum;
use serde_json::Value;

use super::error::{Location, SourceError};
use super::events;
use super::names::{part_of, relation};

/// What the duplicate check needs of a statement. Serialized with the statement in the
/// cached parse of its file (`source::cache`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Defines {
    /// `IF NOT EXISTS` / `OR REPLACE` when the statement says so.
    pub lenient: Option<String>,
    /// The identities of the objects it defines.
    pub objects: Vec<String>,
    /// A digest (SHA-256, `events::shape`) of the parse tree without positions, to recognise identical
    /// statements. Not the tree itself: every statement keeps its `Defines` until all files are
    /// read, and a parse tree as JSON is some 30 KiB (300 MiB of a 1,000-table schema).
    pub shape: [u8; 32],
}

/// What `node` (a statement of kind `kind`) defines; `creates` are its normalized created names
/// (`refs::facts`), the first being its own object.
pub(crate) fn defines(node: &NodeEnum, kind: &str, creates: &[String]) -> Defines {
    use NodeEnum as N;
    let own = |space: &str| -> Vec<String> {
        creates
            .first()
            .map(|c| vec![format!("{space}|{c}")])
            .unwrap_or_default()
    };
    let routine = |args: String| -> Vec<String> {
        creates
            .first()
            .map(|c| vec![format!("routine|{c}({args})")])
            .unwrap_or_default()
    };
    let objects = match node {
        // Tables, views, indexes, sequences and composite types share one namespace.
        N::CreateStmt(s) => table(own("relation"), creates.first(), &s.table_elts),
        N::CreateForeignTableStmt(s) => table(
            own("relation"),
            creates.first(),
            s.base_stmt.as_ref().map_or(&[][..], |b| &b.table_elts),
        ),
        N::CreateTableAsStmt(_)
        | N::ViewStmt(_)
        | N::IndexStmt(_)
        | N::CreateSeqStmt(_)
        | N::CompositeTypeStmt(_) => own("relation"),
        N::AlterTableStmt(s) => added_columns(s),
        N::CreateFunctionStmt(s) => routine(function_args(&s.parameters)),
        N::DefineStmt(s) if s.kind == ObjectType::ObjectAggregate as i32 => {
            routine(serde_json::to_string(&without_locations(json(&s.args))).unwrap_or_default())
        }
        _ => own(kind),
    };
    Defines {
        lenient: lenient(node).map(str::to_string),
        objects,
        shape: events::shape(node),
    }
}

/// A table and its columns.
fn table(mut own: Vec<String>, rel: Option<&String>, elements: &[protobuf::Node]) -> Vec<String> {
    if let Some(rel) = rel {
        own.extend(elements.iter().filter_map(|e| match &e.node {
            Some(NodeEnum::ColumnDef(c)) => Some(format!("column|{}", part_of(rel, &c.colname))),
            _ => None,
        }));
    }
    own
}

/// The columns an `ALTER TABLE` adds.
fn added_columns(s: &protobuf::AlterTableStmt) -> Vec<String> {
    let Some(rel) = s
        .relation
        .as_ref()
        .and_then(|r| relation(&r.schemaname, &r.relname))
    else {
        return Vec::new();
    };
    s.cmds
        .iter()
        .filter_map(|c| match &c.node {
            Some(NodeEnum::AlterTableCmd(cmd))
                if cmd.subtype == AlterTableType::AtAddColumn as i32 =>
            {
                match cmd.def.as_ref()?.node.as_ref()? {
                    NodeEnum::ColumnDef(col) => {
                        Some(format!("column|{}", part_of(&rel, &col.colname)))
                    }
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn lenient(node: &NodeEnum) -> Option<&'static str> {
    use NodeEnum as N;
    let if_not_exists = match node {
        N::CreateStmt(s) => s.if_not_exists,
        N::CreateForeignTableStmt(s) => s.base_stmt.as_ref().is_some_and(|b| b.if_not_exists),
        N::CreateTableAsStmt(s) => s.if_not_exists,
        N::IndexStmt(s) => s.if_not_exists,
        N::CreateSeqStmt(s) => s.if_not_exists,
        N::CreateSchemaStmt(s) => s.if_not_exists,
        N::CreateExtensionStmt(s) => s.if_not_exists,
        N::CreateStatsStmt(s) => s.if_not_exists,
        N::CreateForeignServerStmt(s) => s.if_not_exists,
        N::DefineStmt(s) => s.if_not_exists,
        N::AlterTableStmt(s) => s.cmds.iter().any(|c| {
            matches!(&c.node, Some(N::AlterTableCmd(cmd))
                if cmd.missing_ok && cmd.subtype == AlterTableType::AtAddColumn as i32)
        }),
        _ => false,
    };
    let or_replace = match node {
        N::CreateFunctionStmt(s) => s.replace,
        N::ViewStmt(s) => s.replace,
        N::CreateTrigStmt(s) => s.replace,
        N::RuleStmt(s) => s.replace,
        N::CreatePlangStmt(s) => s.replace,
        N::DefineStmt(s) => s.replace,
        N::CreateTransformStmt(s) => s.replace,
        _ => false,
    };
    if if_not_exists {
        Some("IF NOT EXISTS")
    } else if or_replace {
        Some("OR REPLACE")
    } else {
        None
    }
}

/// The types of a routine's input arguments (`int4,text[]`), as its identity.
fn function_args(params: &[protobuf::Node]) -> String {
    let inputs = [
        FunctionParameterMode::FuncParamIn,
        FunctionParameterMode::FuncParamInout,
        FunctionParameterMode::FuncParamVariadic,
        FunctionParameterMode::FuncParamDefault,
    ];
    params
        .iter()
        .filter_map(|p| match &p.node {
            Some(NodeEnum::FunctionParameter(p)) if inputs.iter().any(|m| *m as i32 == p.mode) => {
                p.arg_type.as_ref().map(type_name)
            }
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn type_name(t: &protobuf::TypeName) -> String {
    let mut names: Vec<&str> = t
        .names
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect();
    if names.first() == Some(&"pg_catalog") {
        names.remove(0);
    }
    format!("{}{}", names.join("."), "[]".repeat(t.array_bounds.len()))
}

/// `v` without its positions (`location`, `stmt_location`, `stmt_len`): two parse trees of
/// the same text at different places compare equal (also the shape oracle's, `refs::oracle`).
pub(crate) fn without_locations(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("location");
                map.remove("stmt_location");
                map.remove("stmt_len");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// One statement as the check sees it: where it is, its kind, and what it defines.
pub(crate) struct Entry<'a> {
    pub at: &'a Location,
    pub kind: &'a str,
    pub defines: &'a Defines,
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// An error for every object defined twice with no well-defined result.
    pub errors: Vec<SourceError>,
    /// Indexes (into the entries) of the `CREATE OR REPLACE` statements that redefine an
    /// object defined earlier in the same file: to run in their written position.
    pub replacements: Vec<usize>,
}

/// An error for every statement that defines, leniently or next to a lenient definition, an
/// object an earlier statement (in load order) defines differently, except a `CREATE OR
/// REPLACE` redefining what its own file defined earlier (a replacement).
pub(crate) fn check(entries: &[Entry]) -> Checked {
    let mut by_object: foldhash::HashMap<&str, Vec<usize>> = Default::default();
    let mut out = Checked::default();
    for (j, later) in entries.iter().enumerate() {
        let mut earlier_in_file = false;
        let twice = later.defines.objects.iter().find_map(|name| {
            let earlier = by_object.get(name.as_str())?.iter().find_map(|&i| {
                let earlier = &entries[i];
                let lenient =
                    (later.defines.lenient.as_deref()).or(earlier.defines.lenient.as_deref())?;
                (later.defines.shape != earlier.defines.shape).then_some((earlier, lenient))
            })?;
            earlier_in_file = earlier.0.at.file == later.at.file;
            Some((name, earlier))
        });
        let replaces = later.defines.lenient.as_deref() == Some("OR REPLACE") && earlier_in_file;
        if replaces {
            out.replacements.push(j);
        } else if let Some((name, (earlier, lenient))) = twice {
            let name = name.split_once('|').map_or(name.as_str(), |(_, n)| n);
            out.errors.push(SourceError::DefinedTwice {
                at: later.at.clone(),
                message: format!(
                    "{name} is defined twice: here and at {}:{}:{} ({}); keep one definition \
                     ({lenient} would make PostgreSQL keep one of them silently, chosen by the \
                     order the files are loaded in)",
                    earlier.at.file.display(),
                    earlier.at.line,
                    earlier.at.col,
                    earlier.kind
                ),
            });
        }
        for name in &later.defines.objects {
            by_object.entry(name.as_str()).or_default().push(j);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The errors for `sqls`, one statement each, in this order, all in one file.
    fn errors(sqls: &[&str]) -> Vec<String> {
        let in_one: Vec<(&str, &str)> = sqls.iter().map(|sql| ("s.sql", *sql)).collect();
        let checked = checked(&in_one);
        checked.0
    }

    /// The errors and the replacements (as statement numbers from 0) for `(file, sql)`
    /// statements in this order.
    fn checked(sqls: &[(&str, &str)]) -> (Vec<String>, Vec<usize>) {
        let parsed: Vec<(Location, String, Defines)> = sqls
            .iter()
            .enumerate()
            .map(|(i, (file, sql))| {
                let tree = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).unwrap();
                let node = tree.protobuf.stmts[0]
                    .stmt
                    .as_ref()
                    .unwrap()
                    .node
                    .clone()
                    .unwrap();
                let facts = super::super::refs::facts(&node);
                let at = Location {
                    file: PathBuf::from(file),
                    line: i + 1,
                    col: 1,
                    source_line: sql.to_string(),
                };
                (
                    at,
                    "CREATE".to_string(),
                    defines(&node, "CREATE", &facts.creates),
                )
            })
            .collect();
        let entries: Vec<Entry> = parsed
            .iter()
            .map(|(at, kind, defines)| Entry { at, kind, defines })
            .collect();
        let checked = check(&entries);
        let errors = checked.errors.iter().map(ToString::to_string).collect();
        (errors, checked.replacements)
    }

    #[test]
    fn identical_lenient_statements_and_overloads_are_not_duplicates() {
        assert!(errors(&[
            "CREATE SCHEMA IF NOT EXISTS app",
            "CREATE SCHEMA IF NOT EXISTS app",
            "CREATE OR REPLACE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE OR REPLACE FUNCTION f(text) RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE OR REPLACE FUNCTION f(int[]) RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE TABLE IF NOT EXISTS t (audit int)",
            "CREATE TRIGGER audit AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION g()",
        ])
        .is_empty());
    }

    #[test]
    fn differing_lenient_definitions_are_duplicates() {
        let (e, replaced) = checked(&[
            (
                "a.sql",
                "CREATE OR REPLACE FUNCTION f(integer) RETURNS int LANGUAGE sql AS 'SELECT 1'",
            ),
            (
                "b.sql",
                "CREATE OR REPLACE FUNCTION f(int4) RETURNS int LANGUAGE sql AS 'SELECT 2'",
            ),
        ]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("b.sql:2:1: public.f(int4) is defined twice"),
            "{e:?}"
        );
        assert!(replaced.is_empty(), "across files: {replaced:?}");
        // within one file, a later IF NOT EXISTS would be skipped silently: still an error
        let e = errors(&[
            "CREATE SEQUENCE s START 5",
            "CREATE SEQUENCE IF NOT EXISTS s START 7",
        ]);
        assert_eq!(e.len(), 1, "{e:?}");
        let e = errors(&[
            "CREATE TABLE t (a int)",
            "CREATE VIEW t AS SELECT 1 AS a",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS t AS SELECT 1",
        ]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("s.sql:3:1: public.t is defined twice: here and at s.sql:1:1"),
            "{e:?}"
        );
    }

    #[test]
    fn a_create_or_replace_after_its_own_files_definition_is_a_replacement() {
        let (e, replaced) = checked(&[
            ("s.sql", "CREATE VIEW v AS SELECT 1 AS a"),
            (
                "s.sql",
                "CREATE OR REPLACE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT 1'",
            ),
            ("s.sql", "CREATE OR REPLACE VIEW v AS SELECT 1 AS a, 2 AS b"),
            (
                "s.sql",
                "CREATE OR REPLACE FUNCTION f(integer) RETURNS int LANGUAGE sql AS 'SELECT 2'",
            ),
            ("s.sql", "CREATE OR REPLACE VIEW v AS SELECT 1 AS a, 3 AS b"),
        ]);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(replaced, vec![2, 3, 4]);
    }
}
