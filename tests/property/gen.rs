//! The generator of the property test: random (before, after) schema pairs with rows.
//!
//! A *case* is a list of independent *units*. A unit is one table (`public.t<k>`, with what
//! hangs on it: columns, a primary key, UNIQUE and CHECK constraints, indexes, a foreign key to
//! its own `t<k>_ref` table, a view, an enum type, a sequence, comments, grants) in its
//! `before` form, the rows loaded into it, and a list of *changes*; the `after` form is the
//! changes applied to `before` in order. Units share no object, so one case (one pair of
//! schemas, one plan) tests several independent changes, and the minimiser can drop units,
//! changes and rows one at a time.
//!
//! Everything derives from a seed through [`Rng`] (splitmix64, written here so a seed means the
//! same case on every machine and every crate version). Rows are generated before the
//! constraints that must hold on them (CHECK bounds, UNIQUE only on columns whose values are
//! distinct, NOT NULL only on columns without NULLs), so the `after` schema is always valid for
//! the data, except for type changes: a narrowing (`text` -> `varchar(5)`, `numeric(12,2)` ->
//! `numeric(12,0)`, `float8` -> `integer`, `timestamptz` -> `date`, ...) meets whatever values
//! the column holds, and the tool must then refuse or declare the loss.

use std::fmt::Write as _;

/// splitmix64: tiny, deterministic, good enough to pick cases.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_5EED_0000_0000)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }
    pub fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())].clone()
    }
    /// A sub-generator, so that one unit's draws do not shift another's.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

/// Column types the generator uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ty {
    SmallInt,
    Int,
    BigInt,
    Numeric(u32, u32),
    Real,
    Float8,
    Text,
    Varchar(u32),
    Bool,
    Date,
    Timestamptz,
    /// The unit's enum type `t<k>_kind`.
    Enum,
}

/// Families: a type change within one keeps CHECKs and expression indexes meaningful.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Num,
    Str,
    Time,
    Bool,
    Enum,
}

impl Ty {
    pub fn sql(&self, base: &str) -> String {
        match self {
            Ty::SmallInt => "smallint".into(),
            Ty::Int => "integer".into(),
            Ty::BigInt => "bigint".into(),
            Ty::Numeric(p, s) => format!("numeric({p},{s})"),
            Ty::Real => "real".into(),
            Ty::Float8 => "double precision".into(),
            Ty::Text => "text".into(),
            Ty::Varchar(n) => format!("character varying({n})"),
            Ty::Bool => "boolean".into(),
            Ty::Date => "date".into(),
            Ty::Timestamptz => "timestamp with time zone".into(),
            Ty::Enum => format!("public.{base}_kind"),
        }
    }
    pub fn family(&self) -> Family {
        match self {
            Ty::SmallInt | Ty::Int | Ty::BigInt | Ty::Numeric(..) | Ty::Real | Ty::Float8 => {
                Family::Num
            }
            Ty::Text | Ty::Varchar(_) => Family::Str,
            Ty::Date | Ty::Timestamptz => Family::Time,
            Ty::Bool => Family::Bool,
            Ty::Enum => Family::Enum,
        }
    }
    /// Whether every value of `self` is a value of `to` (a type change the planner may carry
    /// out without checking the rows). Any other type change may be refused by `plan`.
    pub fn widens_to(&self, to: &Ty) -> bool {
        use Ty::*;
        match (self, to) {
            (_, Text) => true,
            (SmallInt, Int | BigInt | Float8 | Real) | (Int, BigInt | Float8) => true,
            (Real, Float8) => true,
            (SmallInt, Numeric(p, s)) => p - s >= 5,
            (Int, Numeric(p, s)) => p - s >= 10,
            (BigInt, Numeric(p, s)) => p - s >= 19,
            (Numeric(p, s), Numeric(q, t)) => t >= s && q - t >= p - s,
            (Varchar(n), Varchar(m)) => m >= n,
            (Date, Timestamptz) => true,
            _ => false,
        }
    }

    /// A constant default of this type.
    fn default_literal(&self, rng: &mut Rng) -> String {
        match self.family() {
            Family::Num => rng.pick(&["0", "1", "42"]).into(),
            Family::Str => rng.pick(&["''", "'n/a'", "'x'"]).into(),
            Family::Time => rng.pick(&["'2000-01-01'", "CURRENT_DATE"]).into(),
            Family::Bool => rng.pick(&["false", "true"]).into(),
            Family::Enum => "'a'".into(),
        }
    }
    /// An `@backfill` expression of this type (reads `id`, the unit's row key).
    fn backfill_expr(&self) -> Option<&'static str> {
        match self.family() {
            Family::Num => Some("id * 2"),
            Family::Str => Some("'row ' || id"),
            Family::Bool => Some("id % 2 = 0"),
            Family::Time => Some("DATE '2020-01-01' + id"),
            Family::Enum => None,
        }
    }
}

/// Type changes with a cast, from `from` (narrowing ones included on purpose).
fn retype_targets(from: &Ty) -> Vec<Ty> {
    match from {
        Ty::SmallInt => vec![Ty::Int, Ty::BigInt, Ty::Numeric(6, 1), Ty::Text],
        Ty::Int => vec![
            Ty::BigInt,
            Ty::SmallInt,
            Ty::Numeric(12, 2),
            Ty::Numeric(5, 0),
            Ty::Float8,
            Ty::Real,
            Ty::Text,
            Ty::Varchar(4),
        ],
        Ty::BigInt => vec![Ty::Int, Ty::Numeric(20, 0), Ty::Float8, Ty::Text],
        Ty::Numeric(p, s) => {
            let mut v = vec![
                Ty::Numeric(p + 2, *s),
                Ty::Numeric(p + 2, s + 2),
                Ty::Numeric(*p, s.saturating_sub(1)),
                Ty::Numeric(p.saturating_sub(2).max(s + 1), *s),
                Ty::Int,
                Ty::Float8,
                Ty::Text,
            ];
            v.retain(|t| t != from);
            v
        }
        Ty::Real => vec![Ty::Float8, Ty::Numeric(10, 2), Ty::Int, Ty::Text],
        Ty::Float8 => vec![Ty::Real, Ty::Int, Ty::BigInt, Ty::Numeric(12, 3), Ty::Text],
        Ty::Text => vec![Ty::Varchar(5), Ty::Varchar(40), Ty::Varchar(400)],
        Ty::Varchar(n) => vec![Ty::Text, Ty::Varchar(n * 2), Ty::Varchar((n / 3).max(1))],
        Ty::Bool => vec![Ty::Text],
        Ty::Date => vec![Ty::Timestamptz, Ty::Text],
        Ty::Timestamptz => vec![Ty::Date, Ty::Text],
        Ty::Enum => vec![Ty::Text],
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Col {
    pub name: String,
    pub ty: Ty,
    pub not_null: bool,
    pub default: Option<String>,
    pub comment: Option<String>,
    /// `after` only: `-- @backfill <expr>`.
    pub backfill: Option<String>,
    /// `after` only: `-- @renamed from=<old>`.
    pub renamed_from: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IndexKind {
    Plain,
    Unique,
    /// `WHERE c IS NOT NULL`
    Partial,
    /// `(md5(c::text))` on numbers, strings and booleans (whose text output is immutable),
    /// `((c IS NULL))` on dates, timestamps and enums (theirs depends on settings, and an index
    /// expression must be immutable); kept by a type change within the family.
    Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    pub name: String,
    pub col: String,
    pub kind: IndexKind,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub name: String,
    pub col: String,
    /// `length(c::text) <= bound`, the bound above every row's value (with a margin for type
    /// changes that lengthen the text, `1.5` -> `1.50`).
    pub bound: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Names derived objects (`<base>_ref`, `<base>_v`, `<base>_kind`, ...); never changes.
    pub base: String,
    /// The table's name (differs from `base` after a rename).
    pub name: String,
    /// `after` only: `-- @renamed from=<old>`.
    pub renamed_from: Option<String>,
    pub cols: Vec<Col>,
    pub pk: bool,
    /// Columns with a UNIQUE constraint `<base>_<col>_key`.
    pub uniques: Vec<String>,
    pub checks: Vec<Check>,
    pub indexes: Vec<Index>,
    /// `ref_id` references `<base>_ref(id)` (the column and the ref table exist when
    /// `has_ref`).
    pub has_ref: bool,
    pub fk: bool,
    /// Columns of the view `<base>_v` (`SELECT ... FROM <table>`).
    pub view: Option<Vec<String>>,
    pub enum_labels: Option<Vec<String>>,
    /// Sequence `<base>_seq`: `INCREMENT BY`.
    pub seq: Option<i64>,
    pub comment: Option<String>,
    /// `(role, privilege)` on the table.
    pub grants: Vec<(String, String)>,
}

impl Table {
    pub fn col(&self, name: &str) -> Option<&Col> {
        self.cols.iter().find(|c| c.name == name)
    }
    fn col_mut(&mut self, name: &str) -> Option<&mut Col> {
        self.cols.iter_mut().find(|c| c.name == name)
    }
    /// Whether anything but the column itself refers to it (column renames refuse those).
    fn col_has_dependents(&self, name: &str) -> bool {
        self.uniques.iter().any(|u| u == name)
            || self.checks.iter().any(|c| c.col == name)
            || self
                .indexes
                .iter()
                .any(|i| i.col == name && i.kind != IndexKind::Plain)
            || self
                .view
                .as_ref()
                .is_some_and(|v| v.iter().any(|c| c == name))
            || name == "id"
            || name == "ref_id"
    }
    /// Removes what refers to column `name` (what the user deletes with it).
    fn forget_col(&mut self, name: &str) {
        self.uniques.retain(|u| u != name);
        self.checks.retain(|c| c.col != name);
        self.indexes.retain(|i| i.col != name);
        if let Some(v) = &mut self.view {
            v.retain(|c| c != name);
            if v.is_empty() {
                self.view = None;
            }
        }
        if name == "ref_id" {
            self.fk = false;
        }
    }
}

/// A value in a row: `None` is NULL; `Some` is the SQL literal text (already quoted).
pub type Val = Option<String>;

#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    CreateTable(Box<Table>),
    DropTable,
    RenameTable(String),
    AddColumn(Col),
    DropColumn(String),
    RenameColumn(String, String),
    Retype(String, Ty),
    SetDefault(String, Option<String>),
    SetNotNull(String, bool),
    AddCheck(Check),
    DropCheck(String),
    AddUnique(String),
    DropUnique(String),
    AddIndex(Index),
    DropIndex(String),
    SetPk(bool),
    SetFk(bool),
    SetView(Option<Vec<String>>),
    AddEnumValue(String),
    SetSeq(Option<i64>),
    TableComment(Option<String>),
    ColumnComment(String, Option<String>),
    Grant(String, String),
    Revoke(String, String),
}

impl Change {
    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            Change::CreateTable(t) => format!("create table {}", t.name),
            Change::Retype(c, t) => format!("retype {c} to {}", t.sql("<base>")),
            other => format!("{other:?}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Unit {
    pub before: Option<Table>,
    pub changes: Vec<Change>,
    /// Rows of `before`: one value per column of `before.cols`, in order.
    pub rows: Vec<Vec<Val>>,
}

impl Unit {
    /// Smaller forms of `before` for the minimiser: each drops one thing (a column with its
    /// values, a constraint, an index, the view, ...); changes that referred to it no longer
    /// apply and are skipped by [`Unit::after`].
    pub fn shrunk(&self) -> Vec<Unit> {
        let Some(t) = &self.before else {
            return vec![];
        };
        let mut out = Vec::new();
        let mut with = |f: &dyn Fn(&mut Table)| {
            let mut u = self.clone();
            f(u.before.as_mut().unwrap());
            if u.before != self.before {
                out.push(u);
            }
        };
        with(&|t| t.view = None);
        with(&|t| t.seq = None);
        with(&|t| t.comment = None);
        with(&|t| t.grants.clear());
        with(&|t| t.checks.clear());
        with(&|t| t.uniques.clear());
        with(&|t| t.indexes.clear());
        with(&|t| t.pk = false);
        with(&|t| t.fk = false);
        with(&|t| {
            for c in &mut t.cols {
                c.comment = None;
                c.default = None;
            }
        });
        for (k, c) in t.cols.iter().enumerate() {
            if c.name == "id" {
                continue;
            }
            let mut u = self.clone();
            let bt = u.before.as_mut().unwrap();
            bt.forget_col(&c.name);
            bt.cols.remove(k);
            if c.ty == Ty::Enum {
                bt.enum_labels = None;
            }
            if c.name == "ref_id" {
                bt.has_ref = false;
            }
            for r in &mut u.rows {
                r.remove(k);
            }
            out.push(u);
        }
        out
    }

    /// `before` with the changes applied; a change that no longer applies (the minimiser
    /// removed what it needed) is skipped.
    pub fn after(&self) -> Option<Table> {
        let mut t = self.before.clone();
        for ch in &self.changes {
            t = apply(t, ch);
        }
        t
    }
}

fn apply(t: Option<Table>, ch: &Change) -> Option<Table> {
    if let Change::CreateTable(new) = ch {
        return Some(t.unwrap_or_else(|| (**new).clone()));
    }
    let mut t = t?;
    match ch {
        Change::CreateTable(_) => unreachable!(),
        Change::DropTable => return None,
        Change::RenameTable(new) => {
            if t.renamed_from.is_none() && t.name != *new {
                t.renamed_from = Some(t.name.clone());
                t.name = new.clone();
            }
        }
        Change::AddColumn(c) => {
            if t.col(&c.name).is_none() {
                t.cols.push(c.clone());
            }
        }
        Change::DropColumn(name) => {
            if t.col(name).is_some() {
                t.forget_col(name);
                t.cols.retain(|c| &c.name != name);
            }
        }
        Change::RenameColumn(old, new) => {
            if t.col(new).is_none() && !t.col_has_dependents(old) {
                for i in &mut t.indexes {
                    if &i.col == old {
                        i.col = new.clone();
                    }
                }
                if let Some(c) = t.col_mut(old) {
                    c.renamed_from = Some(old.clone());
                    c.name = new.clone();
                }
            }
        }
        Change::Retype(name, ty) => {
            let Some(c) = t.col(name) else { return Some(t) };
            let same_family = c.ty.family() == ty.family();
            if !same_family {
                // A default or CHECK of the old family means nothing for the new type.
                t.checks.retain(|k| &k.col != name);
                t.indexes.retain(|i| {
                    &i.col != name || i.kind == IndexKind::Plain || i.kind == IndexKind::Unique
                });
            }
            let c = t.col_mut(name).unwrap();
            if !same_family {
                c.default = None;
            }
            c.ty = ty.clone();
        }
        Change::SetDefault(name, d) => {
            if let Some(c) = t.col_mut(name) {
                c.default = d.clone();
            }
        }
        Change::SetNotNull(name, on) => {
            if let Some(c) = t.col_mut(name) {
                c.not_null = *on;
            }
        }
        Change::AddCheck(k) => {
            if t.col(&k.col).is_some() && !t.checks.iter().any(|x| x.name == k.name) {
                t.checks.push(k.clone());
            }
        }
        Change::DropCheck(name) => t.checks.retain(|k| &k.name != name),
        Change::AddUnique(c) => {
            if t.col(c).is_some() && !t.uniques.contains(c) {
                t.uniques.push(c.clone());
            }
        }
        Change::DropUnique(c) => t.uniques.retain(|u| u != c),
        Change::AddIndex(i) => {
            if t.col(&i.col).is_some() && !t.indexes.iter().any(|x| x.name == i.name) {
                t.indexes.push(i.clone());
            }
        }
        Change::DropIndex(name) => t.indexes.retain(|i| &i.name != name),
        Change::SetPk(on) => t.pk = *on,
        Change::SetFk(on) => t.fk = *on && t.has_ref && t.col("ref_id").is_some(),
        Change::SetView(v) => {
            t.view = v
                .as_ref()
                .map(|cols| {
                    cols.iter()
                        .filter(|c| t.col(c).is_some())
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .filter(|cols| !cols.is_empty());
        }
        Change::AddEnumValue(label) => {
            if let Some(l) = &mut t.enum_labels {
                if !l.contains(label) {
                    l.push(label.clone());
                }
            }
        }
        Change::SetSeq(s) => t.seq = *s,
        Change::TableComment(c) => t.comment = c.clone(),
        Change::ColumnComment(name, text) => {
            if let Some(c) = t.col_mut(name) {
                c.comment = text.clone();
            }
        }
        Change::Grant(role, p) => {
            let g = (role.clone(), p.clone());
            if !t.grants.contains(&g) {
                t.grants.push(g);
            }
        }
        Change::Revoke(role, p) => t.grants.retain(|g| g != &(role.clone(), p.clone())),
    }
    Some(t)
}

#[derive(Clone, Debug)]
pub struct Case {
    pub seed: u64,
    pub units: Vec<Unit>,
    /// `plan --small-table`: `0` (online forms on tables with rows) or the default `1MB`.
    pub small_table: &'static str,
}

/// Units per case: several independent changes share one plan (one set of binary runs).
pub const UNITS_PER_CASE: usize = 5;

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
        });
    }
    Table {
        base: base.into(),
        name: base.into(),
        renamed_from: None,
        cols,
        pk: rng.chance(75),
        uniques: vec![],
        checks: vec![],
        indexes: vec![],
        has_ref,
        fk: has_ref && rng.chance(50),
        view: None,
        enum_labels: has_enum.then(|| vec!["a".into(), "b".into(), "it's".into()]),
        seq: rng.chance(15).then(|| 1 + rng.below(5) as i64),
        comment: rng.chance(20).then(|| "a table".into()),
        grants: if rng.chance(20) {
            vec![(rng.pick(&ROLES).into(), rng.pick(&PRIVS).into())]
        } else {
            vec![]
        },
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
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
    // A declared table rename stands alone (the plan refuses column changes beside it).
    if rng.chance(6) {
        return vec![Change::RenameTable(format!("{}_renamed", t.base))];
    }
    if rng.chance(4) {
        return vec![Change::DropTable];
    }
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
            })
        }
        7 => Change::DropColumn(pick_col(rng)?),
        8 => {
            let c = pick_col(rng)?;
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

/// `CREATE` statements of a table and what hangs on it; `annotate`: the `-- @renamed` /
/// `-- @backfill` annotations of a desired schema.
fn ddl(t: &Table, annotate: bool, out: &mut String) {
    let q = |s: &str| s.to_string();
    if let Some(labels) = &t.enum_labels {
        let l: Vec<String> = labels.iter().map(|l| quote(l)).collect();
        let _ = writeln!(
            out,
            "CREATE TYPE public.{}_kind AS ENUM ({});",
            t.base,
            l.join(", ")
        );
    }
    if let Some(inc) = t.seq {
        let _ = writeln!(
            out,
            "CREATE SEQUENCE public.{}_seq INCREMENT BY {inc} START WITH 10;",
            t.base
        );
    }
    if t.has_ref {
        let _ = writeln!(
            out,
            "CREATE TABLE public.{}_ref (id integer PRIMARY KEY);",
            t.base
        );
    }
    if annotate {
        if let Some(old) = &t.renamed_from {
            let _ = writeln!(out, "-- @renamed from={old}");
        }
    }
    let _ = writeln!(out, "CREATE TABLE public.{} (", q(&t.name));
    let mut parts = Vec::new();
    for c in &t.cols {
        let mut s = String::new();
        if annotate {
            if let Some(old) = &c.renamed_from {
                let _ = writeln!(s, "    -- @renamed from={old}");
            }
            if let Some(b) = &c.backfill {
                let _ = writeln!(s, "    -- @backfill {b}");
            }
        }
        let _ = write!(s, "    {} {}", c.name, c.ty.sql(&t.base));
        if let Some(d) = &c.default {
            let _ = write!(s, " DEFAULT {d}");
        }
        if c.not_null {
            s.push_str(" NOT NULL");
        }
        parts.push(s);
    }
    if t.pk {
        parts.push(format!("    CONSTRAINT {}_pkey PRIMARY KEY (id)", t.base));
    }
    for u in &t.uniques {
        parts.push(format!("    CONSTRAINT {}_{u}_key UNIQUE ({u})", t.base));
    }
    for k in &t.checks {
        parts.push(format!(
            "    CONSTRAINT {} CHECK (length({}::text) <= {})",
            k.name, k.col, k.bound
        ));
    }
    if t.fk {
        parts.push(format!(
            "    CONSTRAINT {b}_ref_id_fkey FOREIGN KEY (ref_id) REFERENCES public.{b}_ref (id)",
            b = t.base
        ));
    }
    let _ = writeln!(out, "{}\n);", parts.join(",\n"));
    for i in &t.indexes {
        let (unique, expr, pred) = match i.kind {
            IndexKind::Plain => ("", i.col.clone(), String::new()),
            IndexKind::Unique => ("UNIQUE ", i.col.clone(), String::new()),
            IndexKind::Partial => ("", i.col.clone(), format!(" WHERE {} IS NOT NULL", i.col)),
            IndexKind::Expr => {
                let ty = &t.col(&i.col).expect("indexed column").ty;
                let e = match ty.family() {
                    Family::Num | Family::Str | Family::Bool => format!("md5({}::text)", i.col),
                    Family::Time | Family::Enum => format!("({} IS NULL)", i.col),
                };
                ("", e, String::new())
            }
        };
        let _ = writeln!(
            out,
            "CREATE {unique}INDEX {} ON public.{} ({expr}){pred};",
            i.name, t.name
        );
    }
    if let Some(v) = &t.view {
        let _ = writeln!(
            out,
            "CREATE VIEW public.{}_v AS SELECT {} FROM public.{};",
            t.base,
            v.join(", "),
            t.name
        );
    }
    if let Some(c) = &t.comment {
        let _ = writeln!(out, "COMMENT ON TABLE public.{} IS {};", t.name, quote(c));
    }
    for c in &t.cols {
        if let Some(text) = &c.comment {
            let _ = writeln!(
                out,
                "COMMENT ON COLUMN public.{}.{} IS {};",
                t.name,
                c.name,
                quote(text)
            );
        }
    }
    for (role, p) in &t.grants {
        let _ = writeln!(out, "GRANT {p} ON public.{} TO {role};", t.name);
    }
}

impl Case {
    /// `before.sql`: the live database, with its rows.
    pub fn before_sql(&self) -> String {
        let mut out = String::new();
        for u in &self.units {
            let Some(t) = &u.before else { continue };
            ddl(t, false, &mut out);
            if t.has_ref {
                let _ = writeln!(
                    out,
                    "INSERT INTO public.{}_ref SELECT generate_series(1, 8);",
                    t.base
                );
            }
            if !u.rows.is_empty() {
                let names: Vec<&str> = t.cols.iter().map(|c| c.name.as_str()).collect();
                let vals: Vec<String> = u
                    .rows
                    .iter()
                    .map(|r| {
                        let v: Vec<&str> =
                            r.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect();
                        format!("({})", v.join(", "))
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "INSERT INTO public.{} ({}) VALUES\n    {};",
                    t.name,
                    names.join(", "),
                    vals.join(",\n    ")
                );
            }
            out.push('\n');
        }
        out
    }

    /// `after.sql`: the desired schema, as a schema file (annotations included).
    pub fn after_sql(&self) -> String {
        let mut out = String::new();
        for u in &self.units {
            if let Some(t) = u.after() {
                ddl(&t, true, &mut out);
                out.push('\n');
            }
        }
        if out.trim().is_empty() {
            // An empty schema folder is refused; a comment-only file is an empty schema.
            out.push_str("-- nothing\n");
        }
        out
    }

    /// One line per unit: what it changes.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (i, u) in self.units.iter().enumerate() {
            let ch: Vec<String> = u.changes.iter().map(Change::describe).collect();
            let _ = writeln!(s, "  unit {i}: {} rows; {}", u.rows.len(), ch.join("; "));
        }
        s
    }
}
