//! Draws a property-test case from a seed (see `gen.rs` for what a case is): tables, rows,
//! then constraints that hold on those rows, then changes.

use super::gen::{
    quote, retype_targets, Case, Change, Check, Col, Index, IndexKind, Rng, Table, Ty, Unit, Val,
    UNITS_PER_CASE,
};

pub fn case(seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let small_table = if rng.chance(60) { "0" } else { "1MB" };
    let units = (0..UNITS_PER_CASE)
        .map(|k| unit(&mut rng.fork(), &format!("t{k}")))
        .collect();
    Case {
        seed,
        units,
        small_table,
        flavour: "",
    }
}

const COL_TYPES: [Ty; 12] = [
    Ty::SmallInt,
    Ty::Int,
    Ty::BigInt,
    Ty::Numeric(12, 2),
    Ty::Real,
    Ty::Float8,
    Ty::Text,
    Ty::Varchar(20),
    Ty::Bool,
    Ty::Date,
    Ty::Timestamptz,
    Ty::Text,
];

const ROLES: [&str; 3] = ["reader", "writer", "app_user"];
const PRIVS: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

fn unit(rng: &mut Rng, base: &str) -> Unit {
    // 1 in 12 units start empty and are created by the plan.
    if rng.chance(8) {
        let mut t = table(rng, base);
        t.grants.clear();
        return Unit {
            before: None,
            changes: vec![Change::CreateTable(Box::new(t))],
            rows: vec![],
            extra: None,
        };
    }
    let mut t = table(rng, base);
    let nrows = match rng.below(4) {
        0 => 0,
        1 => 1 + rng.below(3),
        _ => 3 + rng.below(12),
    };
    let rows = rows(rng, &t, nrows);
    decorate(rng, &mut t, &rows);
    let changes = changes(rng, &t, &rows);
    Unit {
        before: Some(t),
        changes,
        rows,
        extra: None,
    }
}

fn table(rng: &mut Rng, base: &str) -> Table {
    let mut cols = vec![Col {
        name: "id".into(),
        ty: Ty::Int,
        not_null: true,
        default: None,
        comment: None,
        backfill: None,
        renamed_from: None,
        collation: None,
    }];
    let n = 1 + rng.below(4);
    let has_enum = rng.chance(20);
    for i in 0..n {
        let ty = rng.pick(&COL_TYPES);
        let default = if rng.chance(20) {
            Some(ty.default_literal(rng))
        } else {
            None
        };
        cols.push(Col {
            name: format!("c{i}"),
            ty,
            not_null: false,
            default,
            comment: None,
            backfill: None,
            renamed_from: None,
            collation: None,
        });
    }
    if has_enum {
        cols.push(Col {
            name: "kind".into(),
            ty: Ty::Enum,
            not_null: false,
            default: None,
            comment: None,
            backfill: None,
            renamed_from: None,
            collation: None,
        });
    }
    let has_ref = rng.chance(20);
    if has_ref {
        cols.push(Col {
            name: "ref_id".into(),
            ty: Ty::Int,
            not_null: false,
            default: None,
            comment: None,
            backfill: None,
            renamed_from: None,
            collation: None,
        });
    }
    // The draws in the order they always had (a seed means the same case everywhere).
    let pk = rng.chance(75);
    let fk = has_ref && rng.chance(50);
    Table {
        has_ref,
        fk,
        enum_labels: has_enum.then(|| vec!["a".into(), "b".into(), "it's".into()]),
        seq: rng.chance(15).then(|| 1 + rng.below(5) as i64),
        comment: rng.chance(20).then(|| "a table".into()),
        grants: if rng.chance(20) {
            vec![(rng.pick(&ROLES).into(), rng.pick(&PRIVS).into())]
        } else {
            vec![]
        },
        ..Table::plain(base, pk, cols)
    }
}

/// A random value of `ty` (a SQL literal), boundary values and awkward text included.
fn value(rng: &mut Rng, ty: &Ty, labels: Option<&Vec<String>>) -> String {
    let n = |rng: &mut Rng, v: &[&str]| rng.pick(v).to_string();
    match ty {
        Ty::SmallInt => n(rng, &["0", "1", "-1", "32767", "-32768", "300", "7"]),
        Ty::Int => match rng.below(3) {
            0 => n(
                rng,
                &["0", "-1", "2147483647", "-2147483648", "99999", "12345"],
            ),
            _ => (rng.below(2000) as i64 - 1000).to_string(),
        },
        Ty::BigInt => n(
            rng,
            &[
                "0",
                "-7",
                "9223372036854775807",
                "-9223372036854775808",
                "9007199254740993",
                "2147483648",
                "123",
            ],
        ),
        Ty::Numeric(p, s) => {
            let int_digits = p - s;
            let ip: u64 = rng.next() % 10u64.pow(int_digits.min(9));
            let fp: u64 = if *s > 0 {
                rng.next() % 10u64.pow((*s).min(9))
            } else {
                0
            };
            let neg = if rng.chance(20) { "-" } else { "" };
            match rng.below(4) {
                0 => format!("{neg}{ip}"),
                _ if *s > 0 => format!("{neg}{ip}.{fp:0width$}", width = *s as usize),
                _ => format!("{neg}{ip}"),
            }
        }
        Ty::Real => n(
            rng,
            &["1.5", "0.1", "-3.25", "3.4e38", "1e-30", "16777217", "0"],
        ),
        Ty::Float8 => n(
            rng,
            &[
                "1.5",
                "0.1",
                "-2.75",
                "1e300",
                "3.141592653589793",
                "9007199254740993",
                "'NaN'",
                "'Infinity'",
                "12",
                "-0.5",
            ],
        ),
        Ty::Text | Ty::Varchar(_) => {
            let max = match ty {
                Ty::Varchar(m) => *m as usize,
                _ => 300,
            };
            let s = match rng.below(9) {
                0 => String::new(),
                1 => "a".into(),
                2 => "O'Brien".into(),
                3 => "żółw 🐢 ünïcode".into(),
                4 => "line\nbreak\\back".into(),
                5 => "x".repeat(1 + rng.below(max.max(1))),
                6 => "  padded  ".into(),
                7 => "abc".into(),
                _ => format!("v{}", rng.below(100000)),
            };
            let s: String = s.chars().take(max).collect();
            quote(&s)
        }
        Ty::Bool => n(rng, &["true", "false"]),
        Ty::Date => n(
            rng,
            &[
                "'2024-02-29'",
                "'0001-01-01'",
                "'1999-12-31'",
                "'infinity'",
                "'2038-01-19'",
            ],
        ),
        Ty::Timestamptz => n(
            rng,
            &[
                "'2024-02-29 13:45:12.123456+00'",
                "'2000-01-01 00:00:00+00'",
                "'1970-01-01 00:00:00.5+00'",
                "'infinity'",
                "'2021-06-01 23:59:59+05'",
            ],
        ),
        Ty::Enum => quote(&rng.pick(labels.expect("enum labels"))),
    }
}

fn rows(rng: &mut Rng, t: &Table, n: usize) -> Vec<Vec<Val>> {
    // Per column: how often NULL (none at all for half the nullable columns).
    let null_pct: Vec<u32> = t
        .cols
        .iter()
        .map(|c| {
            if c.not_null || c.name == "id" || rng.chance(50) {
                0
            } else {
                25
            }
        })
        .collect();
    (0..n)
        .map(|i| {
            t.cols
                .iter()
                .zip(&null_pct)
                .map(|(c, pct)| {
                    if c.name == "id" {
                        return Some((i as i64 * 3 + 1).to_string());
                    }
                    if *pct > 0 && rng.chance(*pct) {
                        return None;
                    }
                    if c.name == "ref_id" {
                        return Some((1 + rng.below(8)).to_string());
                    }
                    Some(value(rng, &c.ty, t.enum_labels.as_ref()))
                })
                .collect()
        })
        .collect()
}

fn col_values<'a>(t: &Table, rows: &'a [Vec<Val>], name: &str) -> Vec<&'a Val> {
    let Some(i) = t.cols.iter().position(|c| c.name == name) else {
        return vec![];
    };
    rows.iter().map(|r| &r[i]).collect()
}

fn has_null(t: &Table, rows: &[Vec<Val>], name: &str) -> bool {
    col_values(t, rows, name).iter().any(|v| v.is_none())
}

fn distinct(t: &Table, rows: &[Vec<Val>], name: &str) -> bool {
    let v: Vec<&String> = col_values(t, rows, name).into_iter().flatten().collect();
    let set: std::collections::BTreeSet<&String> = v.iter().copied().collect();
    // Literals that differ can still be equal values (`0` and `-0`, `'NaN'`); be strict.
    set.len() == v.len() && !v.iter().any(|s| s.contains("NaN") || s.starts_with('-'))
}

/// A CHECK on `col` that every row satisfies.
fn check_for(t: &Table, rows: &[Vec<Val>], col: &str, name: String) -> Check {
    let max = col_values(t, rows, col)
        .into_iter()
        .flatten()
        .map(|v| v.trim_matches('\'').chars().count())
        .max()
        .unwrap_or(0);
    Check {
        name,
        col: col.into(),
        bound: max + 30,
    }
}

fn plain_cols(t: &Table) -> Vec<String> {
    t.cols
        .iter()
        .filter(|c| c.name != "id" && c.name != "ref_id")
        .map(|c| c.name.clone())
        .collect()
}

/// Constraints, indexes and the view of `before`, chosen so that the rows satisfy them.
fn decorate(rng: &mut Rng, t: &mut Table, rows: &[Vec<Val>]) {
    let cols = plain_cols(t);
    for c in &cols {
        if !has_null(t, rows, c) && rng.chance(20) {
            t.col_mut(c).unwrap().not_null = true;
        }
        if rng.chance(15) {
            let k = check_for(t, rows, c, format!("{}_{c}_check", t.base));
            t.checks.push(k);
        }
        if distinct(t, rows, c) && rng.chance(10) {
            t.uniques.push(c.clone());
        }
        if rng.chance(20) {
            let kind = rng.pick(&[IndexKind::Plain, IndexKind::Partial, IndexKind::Expr]);
            t.indexes.push(Index {
                name: format!("{}_{c}_idx", t.base),
                col: c.clone(),
                kind,
            });
        }
        if rng.chance(10) {
            t.col_mut(c).unwrap().comment = Some(format!("column {c}"));
        }
    }
    if rng.chance(25) {
        let mut v = vec!["id".to_string()];
        v.extend(cols.into_iter().filter(|_| rng.chance(60)));
        t.view = Some(v);
    }
}

fn changes(rng: &mut Rng, t: &Table, rows: &[Vec<Val>]) -> Vec<Change> {
    // A declared table rename, alone or with column changes in the same plan (column renames
    // included: they run on the renamed table, docs/design.md "Declared renames").
    if rng.chance(6) {
        let mut out = vec![Change::RenameTable(format!("{}_renamed", t.base))];
        if rng.chance(50) {
            let free: Vec<String> = plain_cols(t)
                .into_iter()
                .filter(|c| !t.col_has_dependents(c))
                .collect();
            if !free.is_empty() && rng.chance(60) {
                let c = rng.pick(&free);
                out.push(Change::RenameColumn(c.clone(), format!("{c}_new")));
            }
            // (a later change of the renamed column by its old name is a no-op in `gen::apply`)
            out.extend(column_changes(rng, t, rows));
        }
        return out;
    }
    if rng.chance(4) {
        return vec![Change::DropTable];
    }
    column_changes(rng, t, rows)
}

/// 1-3 changes of a table's columns, constraints, indexes, view, comments or grants.
fn column_changes(rng: &mut Rng, t: &Table, rows: &[Vec<Val>]) -> Vec<Change> {
    let n = 1 + rng.below(3);
    let mut out = Vec::new();
    let mut touched: Vec<String> = Vec::new();
    for k in 0..n {
        let cols: Vec<String> = plain_cols(t)
            .into_iter()
            .filter(|c| !touched.contains(c))
            .collect();
        let Some(ch) = change(rng, t, rows, &cols, k) else {
            continue;
        };
        match &ch {
            Change::DropColumn(c)
            | Change::RenameColumn(c, _)
            | Change::Retype(c, _)
            | Change::SetDefault(c, _)
            | Change::SetNotNull(c, _)
            | Change::ColumnComment(c, _) => touched.push(c.clone()),
            _ => {}
        }
        out.push(ch);
    }
    out
}

fn change(
    rng: &mut Rng,
    t: &Table,
    rows: &[Vec<Val>],
    cols: &[String],
    k: usize,
) -> Option<Change> {
    let pick_col = |rng: &mut Rng| -> Option<String> {
        if cols.is_empty() {
            None
        } else {
            Some(rng.pick(cols))
        }
    };
    // Type changes are the class most likely to lose data: weigh them up.
    Some(match rng.below(22) {
        0..=4 => {
            let c = pick_col(rng)?;
            let from = &t.col(&c)?.ty;
            Change::Retype(c, rng.pick(&retype_targets(from)))
        }
        5 | 6 => {
            let ty = rng.pick(&COL_TYPES[..11]);
            let name = format!("n{k}");
            let (not_null, default, backfill) = match rng.below(4) {
                0 | 1 => (false, None, None),
                2 => (true, Some(ty.default_literal(rng)), None),
                _ => match ty.backfill_expr() {
                    Some(e) => (true, None, Some(e.to_string())),
                    None => (true, Some(ty.default_literal(rng)), None),
                },
            };
            Change::AddColumn(Col {
                name,
                ty,
                not_null,
                default,
                comment: None,
                backfill,
                renamed_from: None,
                collation: None,
            })
        }
        7 => Change::DropColumn(pick_col(rng)?),
        8 => {
            let c = pick_col(rng)?;
            // `plan` refuses (not planned yet) renaming a column that a live view, constraint
            // or commented column depends on, even when the desired schema drops the view.
            if t.col_has_dependents(&c) {
                return None;
            }
            Change::RenameColumn(c.clone(), format!("{c}_new"))
        }
        9 => {
            let c = pick_col(rng)?;
            let col = t.col(&c)?;
            let d = if col.default.is_some() && rng.chance(50) {
                None
            } else {
                Some(col.ty.default_literal(rng))
            };
            Change::SetDefault(c, d)
        }
        10 => {
            let c = pick_col(rng)?;
            let on = !t.col(&c)?.not_null;
            if on && has_null(t, rows, &c) {
                return None;
            }
            Change::SetNotNull(c, on)
        }
        11 => match t.checks.first() {
            Some(k) if rng.chance(50) => Change::DropCheck(k.name.clone()),
            _ => {
                let c = pick_col(rng)?;
                Change::AddCheck(check_for(t, rows, &c, format!("{}_{c}_check2", t.base)))
            }
        },
        12 => match t.uniques.first() {
            Some(u) if rng.chance(50) => Change::DropUnique(u.clone()),
            _ => {
                let c = pick_col(rng)?;
                if !distinct(t, rows, &c) {
                    return None;
                }
                Change::AddUnique(c)
            }
        },
        13 | 14 => match t.indexes.first() {
            Some(i) if rng.chance(40) => Change::DropIndex(i.name.clone()),
            _ => {
                let c = pick_col(rng)?;
                let mut kinds = vec![IndexKind::Plain, IndexKind::Partial, IndexKind::Expr];
                if distinct(t, rows, &c) {
                    kinds.push(IndexKind::Unique);
                }
                Change::AddIndex(Index {
                    name: format!("{}_{c}_idx{k}", t.base),
                    col: c,
                    kind: rng.pick(&kinds),
                })
            }
        },
        15 => Change::SetPk(!t.pk),
        16 => {
            if !t.has_ref {
                return None;
            }
            Change::SetFk(!t.fk)
        }
        17 => {
            let mut v = vec!["id".to_string()];
            v.extend(plain_cols(t).into_iter().filter(|_| rng.chance(60)));
            match &t.view {
                Some(_) if rng.chance(40) => Change::SetView(None),
                _ => Change::SetView(Some(v)),
            }
        }
        18 => {
            t.enum_labels.as_ref()?;
            Change::AddEnumValue(rng.pick(&["c", "zz", "Ünï"]).into())
        }
        19 => Change::SetSeq(match t.seq {
            Some(_) if rng.chance(50) => None,
            _ => Some(1 + rng.below(9) as i64),
        }),
        20 => {
            if rng.chance(50) {
                Change::TableComment(match t.comment {
                    Some(_) if rng.chance(50) => None,
                    _ => Some("it's the table".into()),
                })
            } else {
                let c = pick_col(rng)?;
                Change::ColumnComment(c, Some("changed comment".into()))
            }
        }
        _ => match t.grants.first() {
            Some((r, p)) if rng.chance(50) => Change::Revoke(r.clone(), p.clone()),
            _ => Change::Grant(rng.pick(&ROLES).into(), rng.pick(&PRIVS).into()),
        },
    })
}
