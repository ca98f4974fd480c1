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
//!
//! This module is the model (what a case is, how changes apply); `draw.rs` draws cases from a
//! seed, `sql.rs` renders them as `before.sql` / `after.sql`.

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
        if self == to {
            return true;
        }
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
    pub fn default_literal(&self, rng: &mut Rng) -> String {
        match self.family() {
            Family::Num => rng.pick(&["0", "1", "42"]).into(),
            Family::Str => rng.pick(&["''", "'n/a'", "'x'"]).into(),
            Family::Time => rng.pick(&["'2000-01-01'", "CURRENT_DATE"]).into(),
            Family::Bool => rng.pick(&["false", "true"]).into(),
            Family::Enum => "'a'".into(),
        }
    }
    /// An `@backfill` expression of this type (reads `id`, the unit's row key).
    pub fn backfill_expr(&self) -> Option<&'static str> {
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
pub fn retype_targets(from: &Ty) -> Vec<Ty> {
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
    /// `COLLATE <collation>` (the collation unit of `kinds.rs`).
    pub collation: Option<String>,
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
    /// A table named `base` with these columns and nothing else (no keys but the primary key
    /// when `pk`, no view, sequence, comment or grants): what the draws and hand-built cases
    /// start from.
    pub fn plain(base: &str, pk: bool, cols: Vec<Col>) -> Table {
        Table {
            base: base.into(),
            name: base.into(),
            renamed_from: None,
            cols,
            pk,
            uniques: vec![],
            checks: vec![],
            indexes: vec![],
            has_ref: false,
            fk: false,
            view: None,
            enum_labels: None,
            seq: None,
            comment: None,
            grants: vec![],
        }
    }
    pub fn col(&self, name: &str) -> Option<&Col> {
        self.cols.iter().find(|c| c.name == name)
    }
    pub fn col_mut(&mut self, name: &str) -> Option<&mut Col> {
        self.cols.iter_mut().find(|c| c.name == name)
    }
    /// Whether anything but the column itself refers to it (column renames refuse those).
    pub fn col_has_dependents(&self, name: &str) -> bool {
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
            // (`plan` refuses renaming a column with a comment: not planned yet)
            || self.col(name).is_some_and(|c| c.comment.is_some())
    }
    /// Removes what refers to column `name` (what the user deletes with it).
    pub fn forget_col(&mut self, name: &str) {
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
    /// `COLLATE` of a column (`None`: the type's default).
    SetCollation(String, Option<String>),
    /// Knob `.0` of the unit's [`Extra`] takes value `.1` (see `kinds.rs`).
    Knob(usize, u8),
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
    /// Objects of another kind around the table (`kinds.rs`): operators, casts, ...
    pub extra: Option<Extra>,
}

/// The kinds beyond tables that `kinds.rs` generates, one per unit of a kinds case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Operators in schema `<base>_b`, an operator class (and a loose family) in `<base>_a`
    /// using them, an index built with the class.
    Operators,
    /// A cast from an enum to `integer` through a function, a view using the cast.
    Cast,
    /// A text search dictionary, a configuration mapping to it, a GIN index using it.
    TextSearch,
    /// A foreign-data wrapper, a server, user mappings (one holding a password), a foreign
    /// table.
    Foreign,
    /// A publication of the unit's table (column list, row filter, `publish`).
    Publication,
    /// An event trigger and its function.
    EventTrigger,
    /// An aggregate over a SQL function, a view using it.
    Aggregate,
    /// A collation, the table's column and an index using it.
    Collation,
    /// Extended statistics on the table and a rule on a view of it.
    StatisticsRules,
    /// A trigger, a policy with row-level security, a materialized view with an index, a
    /// domain used by a function the materialized view calls.
    Relations,
    /// An access method (table or index; a table using the table one), a conversion, a
    /// procedural language on plpgsql's handlers with a function written in it and a grant.
    Handlers,
}

/// The state of a unit's other-kind objects: a small number per knob, whose meaning the kind
/// gives (`kinds::KNOBS`); `after` is `knobs` with the unit's [`Change::Knob`]s applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Extra {
    pub kind: Kind,
    pub knobs: Vec<u8>,
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

    /// The knobs of the unit's [`Extra`] after its changes.
    pub fn after_knobs(&self) -> Option<Extra> {
        let mut e = self.extra.clone()?;
        for ch in &self.changes {
            if let Change::Knob(i, v) = ch {
                if let Some(k) = e.knobs.get_mut(*i) {
                    *k = *v;
                }
            }
        }
        Some(e)
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
        Change::SetCollation(name, coll) => {
            if let Some(c) = t.col_mut(name) {
                c.collation = coll.clone();
            }
        }
        Change::Knob(..) => {}
    }
    Some(t)
}

#[derive(Clone, Debug)]
pub struct Case {
    pub seed: u64,
    pub units: Vec<Unit>,
    /// `plan --small-table`: `0` (online forms on tables with rows) or the default `1MB`.
    pub small_table: &'static str,
    /// `""` (tables: `draw.rs`) or `"kinds"` (other kinds around tables: `kinds.rs`).
    pub flavour: &'static str,
}

/// Units per case: several independent changes share one plan (one set of binary runs).
pub const UNITS_PER_CASE: usize = 5;
/// A SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
