//! One struct per modeled object kind. Text fields hold PostgreSQL's own rendering
//! (`format_type`, `pg_get_expr`, `pg_get_constraintdef`, `pg_get_indexdef`, ...).

use super::{Constraints, Name, ObjectId, QName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    /// Schema the extension's objects live in.
    pub schema: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collation {
    pub name: QName,
    /// `CREATE COLLATION` options as PostgreSQL reports them (provider, locale, deterministic).
    pub provider: String,
    pub locale: Option<String>,
    pub lc_collate: Option<String>,
    pub lc_ctype: Option<String>,
    pub deterministic: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeDef {
    pub name: QName,
    pub kind: TypeKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeKind {
    /// Labels in sort order.
    Enum(Vec<String>),
    /// Attributes: name, `format_type` text, collation (when not the type's default).
    Composite(Vec<Attribute>),
    Range {
        subtype: String,
        /// Other `CREATE TYPE ... AS RANGE` options, rendered (`subtype_opclass = ...`).
        options: Vec<String>,
    },
    Domain(Domain),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub type_name: String,
    pub collation: Option<QName>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub base_type: String,
    pub collation: Option<QName>,
    pub default: Option<String>,
    pub not_null: bool,
    /// Named CHECK constraints: name -> (`CHECK (...)` definition, validated).
    pub constraints: std::collections::BTreeMap<String, DomainCheck>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainCheck {
    pub definition: String,
    pub validated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub name: QName,
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub cache: i64,
    pub cycle: bool,
    /// `OWNED BY` column, if any. Sequences of identity columns are not listed as sequences:
    /// they belong to the column.
    pub owned_by: Option<(QName, String)>,
    pub unlogged: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableKind {
    Ordinary,
    Partitioned,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: QName,
    pub kind: TableKind,
    pub unlogged: bool,
    /// Columns in attribute order (inherited columns included, marked).
    pub columns: Vec<Column>,
    /// By name ([`Constraints`]: sorted by name, as a map would be).
    pub constraints: Constraints,
    /// `PARTITION BY ...` clause text (`pg_get_partkeydef`), for partitioned tables.
    pub partition_key: Option<String>,
    /// The columns the partition key names, plainly or inside a key expression, in attribute
    /// order (from the catalog: `pg_partitioned_table.partattrs` and the key expressions'
    /// dependencies on the table's columns); empty for other tables. Derived from the key
    /// and the columns, so not part of the fingerprint (`canonical::table`).
    pub partition_key_columns: Vec<String>,
    /// A partition's copies of its partitioned table's PRIMARY KEY / UNIQUE / EXCLUDE
    /// constraints (`conislocal = false`, `conparentid` set), by their name on the partition:
    /// which key of the partitioned table each one is, and its definition. Not constraints of
    /// the partition's own (the partitioned table's constraint makes and drops them), so not
    /// in [`Table::constraints`]; listed for their names: a partition's own key that the
    /// partitioned table's new key adopts keeps its name (it is attached as it is, not built
    /// again under a generated name). Not part of the fingerprint (`canonical::table`).
    pub key_copies: std::collections::BTreeMap<String, KeyCopy>,
    /// The CHECK constraints this table has only as copies of a parent's (a partition's or an
    /// inheritance child's, `conislocal` false; not in [`Table::constraints`]: the parent's
    /// constraint makes and drops them) that are `NOT VALID` here: a parent's constraint added
    /// `NOT VALID` gives its existing partitions and children `NOT VALID` copies, while a
    /// partition created after it gets a validated one. By name. Not part of the fingerprint
    /// (`canonical::table`: fingerprints of plans written before it was read stay as they
    /// were); the diff compares it (`VALIDATE CONSTRAINT` on the copy).
    #[serde(default)]
    pub unvalidated_copies: std::collections::BTreeSet<String>,
    /// Parent and bound (`FOR VALUES ...` / `DEFAULT`) when this table is a partition.
    pub partition_of: Option<(QName, String)>,
    /// Inheritance parents (not partitioning), in order.
    pub inherits: Vec<QName>,
    /// `WITH (...)` storage parameters, rendered `name=value`.
    pub options: Vec<String>,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub replica_identity: ReplicaIdentity,
    /// Table access method when not the default heap (e.g. columnar stores).
    pub access_method: Option<String>,
    /// A foreign table (`CREATE FOREIGN TABLE ... SERVER s OPTIONS (...)`): its server and
    /// table options. `None` for every other table. A foreign table keeps no rows locally,
    /// so dropping and creating it again loses nothing (its server's data stays).
    pub foreign: Option<ForeignTable>,
}

/// A partition's copy of a key of its partitioned table: [`Table::key_copies`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCopy {
    /// The partitioned table's constraint it is a copy of.
    pub of: String,
    /// `pg_get_constraintdef` text, as [`Constraint::definition`].
    pub definition: String,
}

/// What makes a table foreign: the server it reads through and its `OPTIONS (...)`, sorted by
/// key, secrets by key only (as [`ForeignServer::options`]). A new server cannot be set in
/// place: the table is dropped and created again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignTable {
    pub server: String,
    pub options: Vec<FdwOption>,
}

impl Table {
    /// Whether this is a foreign table.
    pub fn is_foreign(&self) -> bool {
        self.foreign.is_some()
    }

    /// The column named `name`, if the table has one.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaIdentity {
    Default,
    Nothing,
    Full,
    Index(String),
}

/// One column of a table. A schema of 5,000 tables has ~57,000 of them, so the fields most
/// columns leave empty (collation, NOT NULL constraint name, identity, generation expression,
/// compression, storage) are boxed: `None` costs a pointer, not the value's whole size (issue
/// 9; the column went from ~300 to ~180 bytes). Only the value moves into the box: `Debug` and
/// serde see through it, so printed schemas and cached readings are unchanged. `default` is not
/// boxed: ~40% of columns have one, and the box would cost them more than it saves the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: Name,
    /// `format_type(atttypid, atttypmod)`.
    pub type_name: Name,
    /// Collation when it differs from the type's default.
    pub collation: Option<Box<QName>>,
    pub not_null: bool,
    /// PostgreSQL 18+, where NOT NULL is a `pg_constraint` row (contype `n`): the name of the
    /// column's NOT NULL constraint, as it is (`<table>_<column>_not_null` when PostgreSQL
    /// named it, also after the table or column was renamed: the name stays). `None` before
    /// 18 and for nullable columns. An inherited column's is read (a partition's copy carries
    /// the parent's name, or its own when it was attached; `DETACH PARTITION` keeps it, see
    /// `kinds::partition::detach`) but neither compared by `diff` nor fingerprinted
    /// (`model::canonical::table`): the parent's constraint makes it. Plans name it only when
    /// it is not the generated name (`kinds::column::not_null_clause`).
    pub not_null_name: Option<Box<String>>,
    /// PostgreSQL 18+: the NOT NULL constraint is `NOT VALID` (added so and not validated:
    /// new rows are checked, old ones were not). `CREATE TABLE` cannot make one: only
    /// `ALTER TABLE ... ADD CONSTRAINT ... NOT NULL c NOT VALID`.
    pub not_null_not_valid: bool,
    /// PostgreSQL 18+: the NOT NULL constraint is `NO INHERIT` (children do not get it).
    pub not_null_no_inherit: bool,
    /// `pg_get_expr(adbin)` of the default; `None` for identity/generated columns.
    pub default: Option<String>,
    /// Plan-time fact, not schema: the default calls a volatile function (`random()`,
    /// `nextval()`, `gen_random_uuid()`...), so `ADD COLUMN` with it rewrites the table. Derived
    /// from `default` and the functions' volatility; left out of [`Schema::canonical`].
    pub default_volatile: bool,
    pub identity: Option<Box<Identity>>,
    /// Expression of a `GENERATED ALWAYS AS (...) STORED` column.
    pub generated: Option<Box<String>>,
    /// PostgreSQL 18+: the generated column is `VIRTUAL` (computed on read) rather than
    /// `STORED`; `generated` then holds its expression. Always false before 18.
    pub generated_virtual: bool,
    /// `COMPRESSION` method set explicitly on the column (`pglz`, `lz4`); `None` when the column
    /// follows `default_toast_compression` (PostgreSQL 14+; always `None` on 13).
    pub compression: Option<Box<String>>,
    /// `SET STORAGE` (`PLAIN`, `EXTERNAL`, `MAIN`, `EXTENDED`) when it is not the type's
    /// default; `None`: the default. A type change resets it to the new type's default.
    pub storage: Option<Box<String>>,
    /// The type's default storage (what `None` means; 13-15 cannot say `SET STORAGE DEFAULT`).
    pub default_storage: Name,
    /// `SET STATISTICS n`; `None`: the default (`default_statistics_target`).
    pub statistics: Option<i32>,
    /// `SET (n_distinct = ..., n_distinct_inherited = ...)`: `attoptions`, `key=value`.
    pub attoptions: Vec<String>,
    /// Inherited from a parent table or partitioned table (not declared locally).
    pub inherited: bool,
    pub is_local: bool,
    /// A foreign table's per-column `OPTIONS (...)` (`column_name 'remote_name'`), sorted by
    /// key, secrets by key only; always empty on other tables.
    pub fdw_options: Vec<FdwOption>,
}

impl Column {
    /// A column of the table's own, nullable, without default, options or storage settings
    /// (`default_storage` `p`): what tests build their columns from.
    pub fn plain(name: &str, type_name: &str) -> Column {
        Column {
            name: name.into(),
            type_name: type_name.into(),
            collation: None,
            not_null: false,
            not_null_name: None,
            not_null_not_valid: false,
            not_null_no_inherit: false,
            default: None,
            default_volatile: false,
            identity: None,
            generated: None,
            generated_virtual: false,
            compression: None,
            storage: None,
            default_storage: "p".into(),
            statistics: None,
            attoptions: vec![],
            fdw_options: vec![],
            inherited: false,
            is_local: true,
        }
    }

    /// The column without NOT NULL (and so without a NOT NULL constraint, PostgreSQL 18).
    pub fn make_nullable(&mut self) {
        self.not_null = false;
        self.not_null_name = None;
        self.not_null_not_valid = false;
        self.not_null_no_inherit = false;
    }

    /// Whether the table itself declares the column (not only a parent table).
    pub fn declared_locally(&self) -> bool {
        self.is_local || !self.inherited
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `ALWAYS` or `BY DEFAULT`.
    pub always: bool,
    /// Sequence options of the identity (`START WITH 1 INCREMENT BY 1 ...`), rendered.
    pub sequence_options: Vec<String>,
}

/// How `pg_get_constraintdef` ends a `NOT ENFORCED` constraint (PostgreSQL 18).
pub const NOT_ENFORCED: &str = " NOT ENFORCED";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    /// `pg_get_constraintdef` text, e.g. `FOREIGN KEY (a) REFERENCES t(id) ON DELETE CASCADE`.
    pub definition: String,
    pub validated: bool,
    /// Declared on this table (false for ones inherited from a parent).
    pub is_local: bool,
    /// For FKs: the referenced table.
    pub references: Option<QName>,
    /// Columns the constraint covers (in key order).
    pub columns: Vec<String>,
    /// PRIMARY KEY / UNIQUE / EXCLUDE on a partition whose index is attached to an index of
    /// the partitioned parent (`ALTER INDEX parent ATTACH PARTITION`, or adopted when the
    /// parent index was created): that index. PostgreSQL then refuses to drop the constraint
    /// alone; dropping the parent index takes it along.
    pub parent_index: Option<QName>,
    /// EXCLUDE only: the collation of each key (see [`KeyCollations`]); empty otherwise.
    #[serde(default)]
    pub collations: KeyCollations,
}

impl Constraint {
    /// Whether PostgreSQL checks the constraint. PostgreSQL 18 has `NOT ENFORCED` CHECK and
    /// FOREIGN KEY constraints (`conenforced = false`): recorded, never checked, and read with
    /// `convalidated = false`. `pg_get_constraintdef` prints ` NOT ENFORCED` last (in place of
    /// ` NOT VALID`), so the definition says it and the model needs no field of its own.
    pub fn enforced(&self) -> bool {
        !self.definition.ends_with(NOT_ENFORCED)
    }

    /// The definition without a trailing ` NOT ENFORCED`: what stays the same when only the
    /// enforcement changes.
    pub fn enforced_definition(&self) -> &str {
        self.definition
            .strip_suffix(NOT_ENFORCED)
            .unwrap_or(&self.definition)
    }

    /// A foreign key to a table other than `own` (dropped on its own before its table).
    pub fn references_other_table(&self, own: &QName) -> bool {
        self.kind == ConstraintKind::ForeignKey
            && self.is_local
            && self.references.as_ref() != Some(own)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
    Exclude,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: QName,
    pub table: QName,
    /// `pg_get_indexdef` text: `CREATE [UNIQUE] INDEX name ON table USING ...`.
    pub definition: String,
    pub unique: bool,
    /// Partitioned-table index (`ON ONLY` parents are not modeled separately).
    pub on_partitioned_table: bool,
    /// Attached to a parent index (partition's child index): created by the parent.
    pub parent_index: Option<QName>,
    /// Left invalid by a failed concurrent build.
    pub valid: bool,
    /// The collation of each key column or expression, which `definition` prints only when it
    /// differs from the column's (see [`KeyCollations`]).
    #[serde(default)]
    pub collations: KeyCollations,
}

/// The collations of an index's keys (`pg_index.indcollation`), for comparing index
/// definitions (of indexes and of EXCLUDE constraints) independently of the collation of the
/// columns they are on.
///
/// `pg_get_indexdef` and `pg_get_constraintdef` print a key's `COLLATE` only when it differs
/// from the collation the key would get by itself (its column's, or its expression's): the
/// same index reads `(label COLLATE public.bytes)` on a column of the default collation and
/// `(label)` on a column of collation `public.bytes`. Comparing that text would replace an
/// index whose column takes the collation the index already names, and keep one whose column
/// leaves it. Two definitions are the same index when their text without the keys' `COLLATE`
/// (`shape`) is the same and each key has the same collation ([`same_index`]).
///
/// Empty when not read (an index the planner makes up) or when the text did not split into
/// its keys as expected: the printed definitions are compared as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCollations {
    /// The definition without the `COLLATE` of any key.
    pub shape: String,
    pub keys: Vec<KeyCollation>,
}

/// One key of an index: the column it is (none for an expression), its collation (none when
/// its type has none) as `regcollation` prints it, and whether the printed definition left
/// the collation out (it is the column's or the expression's own: the key follows it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCollation {
    pub column: Option<String>,
    pub collation: Option<String>,
    pub follows: bool,
}

/// Whether index (or EXCLUDE) definition `have` (`have_keys`), as it will be once the plan's
/// columns changes are made, is the index `want` describes. `changing(column)`: whether the
/// plan changes the collation of that key column (`None`: an expression key, whether any
/// column the index uses changes collation).
///
/// A key whose column keeps its collation is the same key when its collation is the same.
/// When the column's collation changes, PostgreSQL's `ALTER COLUMN ... TYPE` builds the index
/// again from its printed definition: a key that follows its column (no `COLLATE` printed)
/// takes the column's new collation, and is the same key when the wanted one follows its
/// column too; a key with its own `COLLATE` keeps it, and is the same key when the wanted
/// one has that collation.
pub fn same_index(
    have: &str,
    have_keys: &KeyCollations,
    want: &str,
    want_keys: &KeyCollations,
    changing: impl Fn(Option<&str>) -> bool,
) -> bool {
    if have_keys.keys.is_empty()
        || want_keys.keys.is_empty()
        || have_keys.keys.len() != want_keys.keys.len()
    {
        return have == want;
    }
    have_keys.shape == want_keys.shape
        && have_keys.keys.iter().zip(&want_keys.keys).all(|(h, w)| {
            if h.follows && changing(h.column.as_deref()) {
                w.follows
            } else {
                h.collation == w.collation
            }
        })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub name: QName,
    pub materialized: bool,
    /// `pg_get_viewdef` text.
    pub definition: String,
    /// `WITH (...)` options (`security_barrier=true`, `check_option=local` ...).
    pub options: Vec<String>,
    /// Column names of the view, in order (a replaced view must keep them as a prefix).
    pub columns: Vec<(String, String)>,
    /// Materialized views only: created `WITH NO DATA`.
    pub populated: bool,
}

impl View {
    /// Equal as PostgreSQL sees it: options compared as a set.
    pub fn same_as(&self, other: &View) -> bool {
        let mut a = self.clone();
        a.options.clone_from(&other.options);
        a == *other && super::same_options(&self.options, &other.options)
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    pub name: QName,
    /// Identity argument types, as `pg_get_function_identity_arguments` prints them.
    pub identity_args: String,
    /// The input argument types alone (`oidvectortypes(proargtypes)`): what makes two
    /// functions of one name the same function to PostgreSQL. A parameter renamed keeps it
    /// and changes `identity_args`.
    pub arg_types: String,
    pub kind: FunctionKind,
    /// Full `CREATE OR REPLACE ...` text from `pg_get_functiondef` (aggregates: rendered).
    pub definition: String,
    /// `pg_get_function_result`: a change here needs drop + create.
    pub result: Option<String>,
    /// `pg_get_function_arguments` with defaults and names: parameter renames need drop + create.
    pub arguments: String,
}

/// Written out like `#[derive(Debug)]` would, without `arg_types`: the schema fingerprint is
/// the `Debug` text of the canonical schema (`catalog::fingerprint`), and `arg_types` is
/// derived from `identity_args` (its types without the names), so leaving it out keeps the
/// fingerprints of plans written before it existed.
impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .field("identity_args", &self.identity_args)
            .field("kind", &self.kind)
            .field("definition", &self.definition)
            .field("result", &self.result)
            .field("arguments", &self.arguments)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FunctionKind {
    Function,
    Procedure,
    Aggregate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub table: QName,
    pub name: String,
    /// `pg_get_triggerdef` text.
    pub definition: String,
    /// `O` enabled, `D` disabled, `R` replica, `A` always.
    pub enabled: char,
}

/// A rule (`CREATE RULE name AS ON event TO table ...`) other than the `_RETURN` rule that
/// implements a view (that one belongs to the view). A changed definition on the same event is
/// `CREATE OR REPLACE RULE` in place; a new event drops and creates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub table: QName,
    pub name: String,
    /// `SELECT`, `UPDATE`, `INSERT` or `DELETE` (`pg_rewrite.ev_type` 1-4).
    pub event: String,
    /// `pg_get_ruledef` text (`CREATE RULE ... ;`).
    pub definition: String,
    /// `O` enabled, `D` disabled, `R` replica, `A` always (`pg_rewrite.ev_enabled`).
    pub enabled: char,
}

/// An extended statistics object (`CREATE STATISTICS name [(kinds)] ON columns-or-expressions
/// FROM table`). Its statistics target changes in place (`ALTER STATISTICS ... SET
/// STATISTICS`); any other change drops and creates it (there is no other `ALTER`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    pub name: QName,
    pub table: QName,
    /// `CREATE STATISTICS ...` (no semicolon) composed from the catalog's parts, the plain
    /// columns by name (`catalog/build/statistics.rs`): equal for equal objects whatever the
    /// columns' order in the table (an online type change moves a column to the end).
    pub definition: String,
    /// `stxstattarget`: `None` for the default (`-1` on 13-16, NULL on 17+).
    pub target: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub table: QName,
    pub name: String,
    pub permissive: bool,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE`, `DELETE`.
    pub command: String,
    /// Role names; `public` for PUBLIC.
    pub roles: Vec<String>,
    pub using: Option<String>,
    pub with_check: Option<String>,
}

/// A publication (`CREATE PUBLICATION`): what logical replication sends. Its members (tables
/// and, from PostgreSQL 15, schemas) are separate objects ([`PublicationTable`],
/// `Schema::publication_schemas`), each added and removed on its own (`ALTER PUBLICATION ...
/// ADD / DROP`), so a table created or dropped by a plan joins or leaves it in its own step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub name: String,
    /// `FOR ALL TABLES` (cannot be changed in place: the publication is created again).
    pub all_tables: bool,
    /// The `publish` option: the subset of `insert`, `update`, `delete`, `truncate`, in that
    /// order.
    pub publish: Vec<String>,
    /// `publish_via_partition_root` (PostgreSQL 13+).
    pub via_root: bool,
    /// `publish_generated_columns` (PostgreSQL 18+: `none` or `stored`); `None` before 18.
    pub generated_columns: Option<String>,
}

/// A table's membership of a publication (`ALTER PUBLICATION p ADD TABLE ONLY t (cols) WHERE
/// (filter)`). Dropping the table drops it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicationTable {
    pub publication: String,
    pub table: QName,
    /// The column list (PostgreSQL 15+), in attribute order; `None`: every column.
    pub columns: Option<Vec<String>>,
    /// The row filter (PostgreSQL 15+), as `pg_get_expr` prints it.
    pub row_filter: Option<String>,
}

/// An event trigger (`CREATE EVENT TRIGGER`): database-wide, fires on DDL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTrigger {
    pub name: String,
    /// `ddl_command_start`, `ddl_command_end`, `sql_drop`, `table_rewrite`, `login` (17+).
    pub event: String,
    /// `WHEN TAG IN (...)` filter, as stored; empty: every command.
    pub tags: Vec<String>,
    /// The function it executes (`RETURNS event_trigger`, no arguments).
    pub function: QName,
    /// `O` enabled, `D` disabled, `R` replica, `A` always.
    pub enabled: char,
}

/// One option of a foreign-data wrapper, server, user mapping (`OPTIONS (key 'value')`).
///
/// A secret (see [`is_secret_option`]) is read by key only: the catalog query never selects
/// its value, so no output can print it. Diff compares secrets by presence; a plan that would
/// have to write one into a database is refused (`workflow::secrets`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FdwOption {
    pub key: String,
    /// `None`: a secret, whose value is never read.
    pub value: Option<String>,
}

/// Whether an option key names a secret: one that contains `pass` (`password`, `passfile`,
/// `sslpassword`, `passphrase`), `secret`, `token`, `credential` or `key` (`api_key`,
/// `sslkey`), in any case. The catalog query applies the same rule (`FDW_SECRET_KEY` in
/// `catalog/sql`): keep the two in step.
pub fn is_secret_option(key: &str) -> bool {
    let k = key.to_lowercase();
    ["pass", "secret", "token", "credential", "key"]
        .iter()
        .any(|w| k.contains(w))
}

/// `text` (a line of SQL shown in an error) with the inside of every quoted literal that
/// follows a secret option key (`password 'x'`, `"api_key" 'y'`) replaced by as many `*`:
/// same length, so a caret under the line still points where it did.
pub fn mask_option_secrets(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let mut word = String::new();
    let mut last_word = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let secret = is_secret_option(&last_word);
            let mut j = i + 1;
            while j < chars.len() {
                if chars[j] == '\'' {
                    if chars.get(j + 1) == Some(&'\'') {
                        if secret {
                            out[j] = '*';
                            out[j + 1] = '*';
                        }
                        j += 2;
                        continue;
                    }
                    break;
                }
                if secret {
                    out[j] = '*';
                }
                j += 1;
            }
            last_word.clear();
            word.clear();
            i = j + 1;
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '"' {
            if c != '"' {
                word.push(c);
            }
        } else if !word.is_empty() {
            last_word = std::mem::take(&mut word);
        }
        i += 1;
    }
    out.into_iter().collect()
}

/// What a statement that would have to write a secret writes instead of it: the value is never
/// read. Only the proof's scratch databases and `dump`'s files see it: a plan that would write
/// it into a database is refused (`workflow::secrets`).
pub const SECRET_PLACEHOLDER: &str = "schemaplan: secret not read";

/// A foreign-data wrapper (`CREATE FOREIGN DATA WRAPPER`) not created by an extension
/// (`postgres_fdw`, `file_fdw` make theirs: those belong to the extension).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignDataWrapper {
    pub name: String,
    /// `HANDLER f` (no arguments, `RETURNS fdw_handler`).
    pub handler: Option<QName>,
    /// `VALIDATOR f` (arguments `text[], oid`).
    pub validator: Option<QName>,
    pub options: Vec<FdwOption>,
}

/// A foreign server (`CREATE SERVER`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignServer {
    pub name: String,
    /// Its wrapper (cannot change in place: the server is created again).
    pub fdw: String,
    /// `TYPE '...'` (cannot change in place).
    pub server_type: Option<String>,
    /// `VERSION '...'` (`ALTER SERVER ... VERSION`).
    pub version: Option<String>,
    pub options: Vec<FdwOption>,
}

/// A user mapping (`CREATE USER MAPPING FOR role SERVER s`). Its options are where a password
/// usually lives: see [`FdwOption`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMapping {
    pub server: String,
    /// Role name, or `public` (lower case) for PUBLIC, as grantees.
    pub user: String,
    pub options: Vec<FdwOption>,
}

/// A user-defined cast (`CREATE CAST (source AS target)`). There is no `ALTER CAST`: any
/// change drops and creates it again. Casts have no owner (their types' owners decide who may
/// create or drop them) and no privileges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cast {
    /// Source and target types as `format_type` prints them (SQL, quoted where needed).
    pub source: String,
    pub target: String,
    /// `f` `WITH FUNCTION`, `b` `WITHOUT FUNCTION` (binary coercible), `i` `WITH INOUT`.
    pub method: char,
    /// The function (name, identity arguments) for method `f`.
    pub function: Option<(QName, String)>,
    /// `e` explicit only, `a` `AS ASSIGNMENT`, `i` `AS IMPLICIT`.
    pub context: char,
}

/// A text search dictionary (`CREATE TEXT SEARCH DICTIONARY`): a template and its options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSearchDictionary {
    pub name: QName,
    /// Cannot change in place: the dictionary is created again (with the configurations
    /// using it).
    pub template: QName,
    /// (key, value) as SQL text, as PostgreSQL serializes them (`language`, `'english'`), in
    /// the order written; compared as a set (`ALTER` keeps a key where it was, so the order
    /// is no difference: [`Schema::canonical`] sorts them, diff compares them sorted); `ALTER TEXT SEARCH DICTIONARY` sets and removes them.
    pub options: Vec<(String, String)>,
}

/// A text search configuration (`CREATE TEXT SEARCH CONFIGURATION`): a parser and, per token
/// type, the dictionaries consulted in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSearchConfiguration {
    pub name: QName,
    /// Cannot change in place: the configuration is created again.
    pub parser: QName,
    /// Token type alias (`asciiword`) -> dictionaries in order.
    pub mappings: BTreeMap<String, Vec<QName>>,
}

/// An operator (`CREATE OPERATOR`): a symbol in a schema over one or two argument types,
/// implemented by a function. There is no `ALTER OPERATOR` for most of it (and what there is
/// differs between 13 and 17): any change drops and creates it again, with what depends on
/// it (views, operator classes and families, and through those, indexes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Schema and symbol (`public`, `===`).
    pub name: QName,
    /// `LEFTARG` as `format_type` prints it; `None` for a prefix operator.
    pub left: Option<String>,
    /// `RIGHTARG`; `None` only for a postfix operator (PostgreSQL 13).
    pub right: Option<String>,
    /// `FUNCTION`: name and identity arguments.
    pub function: (QName, String),
    /// `COMMUTATOR`, `NEGATOR`: schema and symbol (the argument types follow from this one's).
    pub commutator: Option<QName>,
    pub negator: Option<QName>,
    /// `RESTRICT`, `JOIN` estimators (functions by name).
    pub restrict: Option<QName>,
    pub join: Option<QName>,
    pub hashes: bool,
    pub merges: bool,
}

impl Operator {
    /// The argument types as `DROP OPERATOR` and `COMMENT ON OPERATOR` name them, and as the
    /// key of [`ObjectId::Operator`]: `integer, integer`, `NONE, integer`.
    pub fn args(&self) -> String {
        format!(
            "{}, {}",
            self.left.as_deref().unwrap_or("NONE"),
            self.right.as_deref().unwrap_or("NONE")
        )
    }
}

/// One operator or support function of an operator family (`OPERATOR 1 public.<<< (integer,
/// integer)`, `FUNCTION 1 (integer, integer) public.cmp(integer, integer)`), either part of an
/// operator class or a loose member of the family (`ALTER OPERATOR FAMILY ... ADD`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpFamilyMember {
    /// A support function (`FUNCTION`) rather than an operator.
    pub function: bool,
    /// Strategy or support number.
    pub number: i16,
    /// The member's left and right types (`format_type`).
    pub left: String,
    pub right: String,
    /// The operator (`schema.symbol`) or function (`schema.name(args)`), as SQL.
    pub target: String,
    /// `FOR ORDER BY` sort family (`schema.name`, as SQL) of an ordering operator.
    pub order_by: Option<String>,
}

/// An operator family (`CREATE OPERATOR FAMILY f USING btree`) and its loose members: those
/// that belong to no operator class of it. Members are added and dropped in place (`ALTER
/// OPERATOR FAMILY ... ADD / DROP`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorFamily {
    pub name: QName,
    /// Index access method (`btree`, `hash`, ...).
    pub method: String,
    /// Sorted.
    pub members: Vec<OpFamilyMember>,
}

/// An operator class (`CREATE OPERATOR CLASS c [DEFAULT] FOR TYPE t USING m FAMILY f AS ...`).
/// There is no way to change one in place: any change drops and creates it again, with the
/// indexes (and keys) that use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorClass {
    pub name: QName,
    pub method: String,
    /// The indexed type (`format_type`).
    pub type_name: String,
    pub default: bool,
    /// Its family (always written: a class created without `FAMILY` gets a family of its own
    /// name, which is then a separate object).
    pub family: QName,
    /// `STORAGE` type, when not the indexed type.
    pub storage: Option<String>,
    /// Sorted.
    pub members: Vec<OpFamilyMember>,
}

/// One privilege on one object (or column) for one grantee, relative to the object kind's
/// built-in default ACL (`acldefault(kind, owner)`).
///
/// - `granted: true`: the privilege is in the object's ACL but not in the built-in default
///   (an explicit `GRANT`).
/// - `granted: false`: the built-in default has it but the ACL does not (an explicit `REVOKE`
///   of a default, e.g. `REVOKE EXECUTE ON FUNCTION f FROM PUBLIC`, or the owner revoking
///   privileges from itself).
///
/// An object whose ACL is NULL (never granted/revoked) or equal to the default has no entries.
/// Grantors are not recorded (not expressible in a desired-state file).
/// Column privileges use `ObjectId::Column(relation, column)`, where the relation may also be a
/// view (`GRANT SELECT (c) ON v`); comments on view columns are keyed the same way.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Grant {
    pub on: ObjectId,
    /// `SELECT`, `INSERT`, `USAGE`, `EXECUTE`, ...
    pub privilege: String,
    /// Role name, or `public` (lower case, a name no role can have) for PUBLIC.
    pub grantee: String,
    pub with_grant_option: bool,
    /// true: granted beyond the default; false: a default privilege that was revoked.
    pub granted: bool,
}

/// An `ALTER DEFAULT PRIVILEGES` entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DefaultPrivilege {
    /// Role whose future objects get the privilege.
    pub for_role: String,
    /// `None` for all schemas.
    pub schema: Option<String>,
    /// `TABLES`, `SEQUENCES`, `FUNCTIONS`, `TYPES`, `SCHEMAS`.
    pub object_type: String,
    pub privilege: String,
    pub grantee: String,
    pub with_grant_option: bool,
    /// true for a grant beyond the built-in default, false for a revoke of a built-in default.
    pub granted: bool,
}

/// An object present in the database that schemaplan does not model.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unmodeled {
    /// `pg_identify_object` type, e.g. `foreign table`, `event trigger`.
    pub kind: String,
    pub identity: String,
}

/// How an unmodeled object hangs on modeled ones: dropping any of `depends_on` (or its table)
/// drops it too, with no word from PostgreSQL (its `pg_depend` row is `a`, or the drop
/// cascades), so a plan that drops one must create the object again or refuse.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmodeledDeps {
    pub depends_on: std::collections::BTreeSet<ObjectId>,
    /// The statement that creates it again, as PostgreSQL prints it; `None` when there is no
    /// such printer (every unmodeled kind today: `catalog/sql/unmodeled.sql`).
    pub definition: Option<String>,
}

/// An access method no extension created (`CREATE ACCESS METHOD name TYPE TABLE|INDEX
/// HANDLER f`). PostgreSQL has no `ALTER ACCESS METHOD`: a new type or handler drops and
/// creates it again. Access methods have no owner (only a superuser creates them) and no
/// privileges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessMethod {
    pub name: String,
    /// `TABLE` or `INDEX`.
    pub kind: String,
    /// The handler function (`RETURNS table_am_handler` / `index_am_handler`, one `internal`
    /// argument).
    pub handler: QName,
}

/// A conversion between two encodings (`CREATE [DEFAULT] CONVERSION name FOR 'source' TO
/// 'target' FROM f`). `ALTER CONVERSION` only renames it or changes its owner or schema: any
/// other change drops and creates it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    pub name: QName,
    /// Encoding names, as `pg_encoding_to_char` prints them.
    pub source: String,
    pub target: String,
    /// The conversion function (`(integer, integer, cstring, internal, integer[, boolean])`).
    pub function: QName,
    pub default: bool,
}

/// A procedural language no extension created (`CREATE [TRUSTED] LANGUAGE name HANDLER f
/// [INLINE f] [VALIDATOR f]`), with handlers that exist already (C functions: a portable
/// schema names the built-in ones). `CREATE OR REPLACE LANGUAGE` changes it in place (the
/// functions written in it stay).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Language {
    pub name: String,
    pub trusted: bool,
    /// `RETURNS language_handler`, no arguments.
    pub handler: QName,
    /// `(internal)`: runs `DO` blocks.
    pub inline: Option<QName>,
    /// `(oid)`: checks a function's body when it is created.
    pub validator: Option<QName>,
}
