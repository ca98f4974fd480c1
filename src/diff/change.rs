//! The typed changes `diff` produces. No SQL here: `plan` turns each into steps.

use crate::model::*;

/// One semantic difference between the current and the desired schema.
// A table's change (two `Table`s) was always the largest variant; the lint speaks since the
// `Column` variants shrank (boxed rare fields). A plan holds one `Change` per difference, far
// fewer than a schema's objects, so their size does not matter the way a `Column`'s does.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    CreateSchema(String),
    DropSchema(String),
    CreateExtension(Extension),
    DropExtension(Extension),
    CreateCollation(Collation),
    DropCollation(Collation),
    /// A collation that must be replaced (it cannot be altered) while table columns use it: the
    /// old one is renamed aside, the new one created, the columns moved to it (`ALTER COLUMN
    /// ... TYPE ... COLLATE`), the old one dropped. Without columns it is dropped and created.
    SwapCollation {
        from: Collation,
        to: Collation,
        /// Columns moved: table and the desired column.
        columns: Vec<(QName, Column)>,
    },
    CreateType(TypeDef),
    DropType(TypeDef),
    /// A type that must be replaced while table columns use it (an enum losing or reordering
    /// labels, a domain over another base type): the old type is renamed aside, the new one
    /// created, the columns converted through text, the old type dropped.
    SwapType {
        from: TypeDef,
        to: TypeDef,
        /// Columns converted: table and the desired column.
        columns: Vec<(QName, Column)>,
    },
    /// `ALTER TYPE ... ADD VALUE`, placed before/after an existing label.
    AddEnumValue {
        ty: QName,
        value: String,
        position: EnumPosition,
    },
    /// A composite type changed in place (`ALTER TYPE ... DROP ATTRIBUTE / ADD ATTRIBUTE`):
    /// attributes dropped and added at the end, the kept ones unchanged (`diff::types`).
    AlterComposite {
        name: QName,
        from: Vec<Attribute>,
        to: Vec<Attribute>,
    },
    AlterDomain {
        name: QName,
        from: Domain,
        to: Domain,
        /// CHECKs whose text stays but that are dropped and added again because something
        /// they call is re-created (`diff::closure`: a function dropped and created again).
        recreate: Vec<String>,
    },
    CreateSequence(Sequence),
    DropSequence(Sequence),
    AlterSequence {
        from: Sequence,
        to: Sequence,
    },
    /// `ALTER SEQUENCE ... OWNED BY` (a separate change: ownership needs the column to exist).
    SetSequenceOwner {
        sequence: QName,
        owner: Option<(QName, String)>,
    },
    CreateTable(Table),
    DropTable(Table),
    AlterTable {
        from: Table,
        to: Table,
        kinds: Vec<TableChange>,
    },
    AddColumn {
        table: QName,
        column: Column,
    },
    DropColumn {
        table: QName,
        column: Column,
    },
    AlterColumn {
        table: QName,
        from: Column,
        to: Column,
        kinds: Vec<ColumnChange>,
    },
    /// Plain or online form: the generator decides by the table's size (`plan::Ctx::small`).
    AddConstraint {
        table: QName,
        constraint: Constraint,
    },
    DropConstraint {
        table: QName,
        constraint: Constraint,
    },
    ValidateConstraint {
        table: QName,
        constraint: Constraint,
    },
    /// A foreign key whose enforcement alone changes (PostgreSQL 18 `NOT ENFORCED`): altered in
    /// place, or (becoming enforced on a large table) dropped and added in two phases; the
    /// generator decides by the table's size.
    SetConstraintEnforced {
        table: QName,
        from: Constraint,
        to: Constraint,
    },
    /// A CHECK whose expression changes, on a table that keeps its rows: the generator adds
    /// the new one beside the old one (under a temporary name, `NOT VALID`), validates it, and
    /// only then drops the old one and renames the new one, so a validation that fails leaves
    /// the old CHECK in force.
    ReplaceCheck {
        table: QName,
        from: Constraint,
        to: Constraint,
    },
    /// Plain or `CONCURRENTLY`: the generator decides by the table's size.
    CreateIndex(Index),
    DropIndex(Index),
    /// A changed index on a table that keeps its rows: on a large table, build the new
    /// definition concurrently under a temporary name, drop the old one concurrently, rename.
    ReplaceIndex {
        from: Index,
        to: Index,
    },
    CreateView(View),
    /// `CREATE OR REPLACE VIEW`: same leading columns, so dependents stay.
    ReplaceView {
        from: View,
        to: View,
    },
    DropView(View),
    CreateFunction(Function),
    /// `CREATE OR REPLACE FUNCTION`: same signature and result.
    ReplaceFunction {
        from: Function,
        to: Function,
    },
    DropFunction(Function),
    CreateTrigger(Trigger),
    DropTrigger(Trigger),
    SetTriggerEnabled {
        trigger: Trigger,
    },
    CreatePolicy(Policy),
    DropPolicy(Policy),
    AlterPolicy {
        from: Policy,
        to: Policy,
    },
    CreatePublication(Publication),
    /// Stops the subscriptions that read it (hazard `replication`).
    DropPublication(Publication),
    /// `ALTER PUBLICATION ... SET (publish = ..., ...)`: options only (`FOR ALL TABLES` cannot
    /// change in place: the publication is dropped and created again).
    AlterPublication {
        from: Publication,
        to: Publication,
    },
    /// `ALTER PUBLICATION ... ADD TABLE ONLY t (cols) WHERE (...)`.
    AddPublicationTable(PublicationTable),
    /// `ALTER PUBLICATION ... DROP TABLE ONLY t`.
    DropPublicationTable(PublicationTable),
    /// A changed column list or row filter: dropped and added again in one transaction.
    AlterPublicationTable {
        from: PublicationTable,
        to: PublicationTable,
    },
    /// `ALTER PUBLICATION ... ADD TABLES IN SCHEMA s` (PostgreSQL 15+).
    AddPublicationSchema {
        publication: String,
        schema: String,
    },
    DropPublicationSchema {
        publication: String,
        schema: String,
    },
    CreateEventTrigger(EventTrigger),
    DropEventTrigger(EventTrigger),
    /// `ALTER EVENT TRIGGER ... ENABLE / DISABLE / ENABLE REPLICA / ENABLE ALWAYS`.
    SetEventTriggerEnabled(EventTrigger),
    CreateForeignDataWrapper(ForeignDataWrapper),
    DropForeignDataWrapper(ForeignDataWrapper),
    /// `ALTER FOREIGN DATA WRAPPER ... HANDLER / VALIDATOR / OPTIONS`.
    AlterForeignDataWrapper {
        from: ForeignDataWrapper,
        to: ForeignDataWrapper,
    },
    CreateServer(ForeignServer),
    DropServer(ForeignServer),
    /// `ALTER SERVER ... VERSION / OPTIONS` (a new wrapper or type re-creates the server).
    AlterServer {
        from: ForeignServer,
        to: ForeignServer,
    },
    CreateUserMapping(UserMapping),
    DropUserMapping(UserMapping),
    /// `ALTER USER MAPPING ... OPTIONS`.
    AlterUserMapping {
        from: UserMapping,
        to: UserMapping,
    },
    CreateCast(Cast),
    DropCast(Cast),
    CreateAccessMethod(AccessMethod),
    DropAccessMethod(AccessMethod),
    CreateConversion(Conversion),
    DropConversion(Conversion),
    CreateStatistics(Statistics),
    DropStatistics(Statistics),
    /// `ALTER STATISTICS ... SET STATISTICS n` (`-1`: the default).
    SetStatisticsTarget(Statistics),
    CreateRule(Rule),
    DropRule(Rule),
    /// `CREATE OR REPLACE RULE`: same table and event, new condition or actions.
    ReplaceRule(Rule),
    /// `ALTER TABLE ... ENABLE / DISABLE [REPLICA | ALWAYS] RULE`.
    SetRuleEnabled(Rule),
    CreateLanguage(Language),
    DropLanguage(Language),
    /// `CREATE OR REPLACE LANGUAGE`: a new handler, inline handler, validator or trust.
    ReplaceLanguage {
        from: Language,
        to: Language,
    },
    CreateTsDictionary(TextSearchDictionary),
    DropTsDictionary(TextSearchDictionary),
    /// `ALTER TEXT SEARCH DICTIONARY ... (key = value, removed_key)`.
    AlterTsDictionary {
        from: TextSearchDictionary,
        to: TextSearchDictionary,
    },
    CreateTsConfiguration(TextSearchConfiguration),
    DropTsConfiguration(TextSearchConfiguration),
    /// `ALTER TEXT SEARCH CONFIGURATION ... ADD / ALTER / DROP MAPPING FOR ...`.
    AlterTsConfiguration {
        from: TextSearchConfiguration,
        to: TextSearchConfiguration,
    },
    CreateOperator(Operator),
    DropOperator(Operator),
    CreateOperatorFamily(OperatorFamily),
    DropOperatorFamily(OperatorFamily),
    /// `ALTER OPERATOR FAMILY ... ADD / DROP` of its loose members.
    AlterOperatorFamily {
        from: OperatorFamily,
        to: OperatorFamily,
    },
    CreateOperatorClass(OperatorClass),
    DropOperatorClass(OperatorClass),
    SetComment {
        on: ObjectId,
        comment: Option<String>,
    },
    /// `ALTER ... OWNER TO`: an owner the schema files declare, on an object the plan keeps.
    SetOwner {
        on: ObjectId,
        owner: String,
    },
    Grant(Grant),
    Revoke(Grant),
    /// `REVOKE ALL` on a freshly created object from the grantees of default privileges that
    /// PostgreSQL applied at creation; the desired grants are then added explicitly.
    ResetPrivileges {
        on: ObjectId,
        grantees: Vec<String>,
    },
    AlterDefaultPrivilege {
        entry: DefaultPrivilege,
        /// true: make the entry exist; false: remove it.
        add: bool,
    },
    /// A declared rename (`-- @renamed from=old`), done in phases: `expand` makes the new name
    /// while the old one keeps working, `contract` removes the old name (`plan/kinds/rename.rs`).
    Rename(Rename),
    /// The inverse plan's undo of a [`Change::Rename`]: `expand` brings the old name back next
    /// to the new one (undoing the forward `contract`), `contract` removes the new name
    /// (undoing the forward `expand`).
    UndoRename(Rename),
}

/// What a declared rename renames. The plan diffs the rest of the schema against the current
/// schema with these renames done (`workflow::renames`), so every other change uses new names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rename {
    /// `ALTER TABLE from RENAME TO to` plus an updatable compatibility view `from` over
    /// `columns` (the table's columns before the plan: what the old application knows).
    Table {
        from: QName,
        to: QName,
        columns: Vec<String>,
    },
    /// A column: a new column `to` kept in sync with `from` by a trigger both ways, a batched
    /// backfill, NOT NULL and the indexes built on it online; `from` dropped in `contract`.
    /// When the same plan renames the table, the column's steps run on the renamed table
    /// (`table`), after the table rename in `expand` and after the compatibility view's drop
    /// in `contract` (the view reads `from` under the old table name until then).
    Column {
        /// The table's name after the plan's table renames: where the steps run.
        table: QName,
        /// The table's name in the current schema (`table` unless the plan renames it).
        table_before: QName,
        /// The column as it is (current schema).
        from: Box<Column>,
        /// The same column under the new name (the current schema with the renames done).
        to: Box<Column>,
        /// Indexes on `from` (current schema, their names there; defined on `table`, the
        /// table's name after the plan's table renames).
        from_indexes: Vec<Index>,
        /// The same indexes on `to` (the current schema with the renames done: the names they
        /// end with).
        to_indexes: Vec<Index>,
        /// PRIMARY KEY, UNIQUE and CHECK constraints covering `from` (current schema).
        from_constraints: Vec<Constraint>,
        /// The same constraints covering `to` (the current schema with the renames done):
        /// built on `to` in `expand` under temporary names, given their names in `contract`
        /// once `from` (and the old constraints with it) is dropped.
        to_constraints: Vec<Constraint>,
    },
    /// `ALTER INDEX ... RENAME TO` (an index not backing a constraint).
    Index { from: QName, to: QName },
    /// `ALTER TABLE ... RENAME CONSTRAINT` (renames a backing index with it); `table` is the
    /// table's name after the plan's table renames.
    Constraint {
        table: QName,
        from: String,
        to: String,
    },
    /// `ALTER TYPE ... RENAME VALUE` of an enum label.
    EnumValue { ty: QName, from: String, to: String },
    /// `ALTER TYPE|DOMAIN ... RENAME TO` (enum, composite, range type or domain): columns,
    /// functions and views refer to the type by OID and follow it.
    Type {
        from: QName,
        to: QName,
        domain: bool,
    },
}

impl Rename {
    /// The renamed object under its new name.
    pub fn object(&self) -> ObjectId {
        match self {
            Rename::Table { to, .. } => ObjectId::Table(to.clone()),
            Rename::Column { table, to, .. } => ObjectId::Column(table.clone(), to.name.clone()),
            Rename::Index { to, .. } => ObjectId::Index(to.clone()),
            Rename::Constraint { table, to, .. } => {
                ObjectId::Constraint(table.clone(), to.as_str().into())
            }
            Rename::EnumValue { ty, .. } => ObjectId::Type(ty.clone()),
            Rename::Type { to, .. } => ObjectId::Type(to.clone()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnumPosition {
    Last,
    Before(String),
    After(String),
}

/// What changed on a column, in the order the plan applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnChange {
    DropDefault,
    DropIdentity,
    DropExpression,
    /// A VIRTUAL generated column's new expression (PostgreSQL 18: `ALTER COLUMN ... SET
    /// EXPRESSION AS (...)`, a catalog change for a column that stores nothing).
    SetExpression,
    Type,
    DropNotNull,
    SetDefault,
    SetNotNull,
    AddIdentity,
    SetIdentityKind,
    IdentityOptions,
    Compression,
    Storage,
    Statistics,
    AttOptions,
    /// A foreign table column's `OPTIONS (...)` (`ALTER COLUMN c OPTIONS (ADD / SET / DROP)`).
    FdwOptions,
    /// PostgreSQL 18: the NOT NULL constraint of a column that stays NOT NULL has another name
    /// (`RENAME CONSTRAINT`; after a declared table rename the old table's name stays).
    NotNullName,
    /// PostgreSQL 18: the NOT NULL constraint becomes `NO INHERIT` or inheritable
    /// (`ALTER CONSTRAINT ... [NO] INHERIT`).
    NotNullInherit,
    /// PostgreSQL 18: a `NOT VALID` NOT NULL constraint is to be valid (`VALIDATE CONSTRAINT`).
    ValidateNotNull,
    /// An inheritance child's copy of a column it inherits (and goes on inheriting) is to be
    /// declared by the child itself, or no longer (`attislocal`): whether the column stays in
    /// the child when the parent drops it. No `ALTER COLUMN` says it: `NO INHERIT` and
    /// `INHERIT` again make it the child's own (`kinds::column`); the other way has no
    /// statement at all (an own column that the parent gains is handled by the parent's `ADD
    /// COLUMN`, [`super::inherits_again`]), so the proof reports it.
    Locality,
}

/// Table-level changes other than columns and constraints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TableChange {
    Logged,
    Options,
    RowLevelSecurity,
    ForceRowLevelSecurity,
    ReplicaIdentity,
    Inherits,
    AccessMethod,
    /// The table leaves its partitioned table, joins one, or changes its bounds
    /// (`DETACH PARTITION` / `ATTACH PARTITION`; its rows stay).
    Partition,
    /// A foreign table's own `OPTIONS (...)` (`ALTER FOREIGN TABLE ... OPTIONS (ADD / SET /
    /// DROP)`); its server cannot change in place.
    ForeignOptions,
}

impl Change {
    /// The object the change is about, for ordering ties and messages.
    pub fn object(&self) -> ObjectId {
        use Change::*;
        match self {
            CreateSchema(n) | DropSchema(n) => ObjectId::Schema(n.as_str().into()),
            CreateExtension(e) | DropExtension(e) => ObjectId::Extension(e.name.as_str().into()),
            CreateCollation(c) | DropCollation(c) => ObjectId::Collation(c.name.clone()),
            CreateType(t) | DropType(t) => ObjectId::Type(t.name.clone()),
            AddEnumValue { ty, .. } => ObjectId::Type(ty.clone()),
            SwapType { to, .. } => ObjectId::Type(to.name.clone()),
            SwapCollation { to, .. } => ObjectId::Collation(to.name.clone()),
            AlterDomain { name, .. } | AlterComposite { name, .. } => ObjectId::Type(name.clone()),
            CreateSequence(s) | DropSequence(s) => ObjectId::Sequence(s.name.clone()),
            AlterSequence { to, .. } => ObjectId::Sequence(to.name.clone()),
            SetSequenceOwner { sequence, .. } => ObjectId::Sequence(sequence.clone()),
            CreateTable(t) | DropTable(t) => ObjectId::Table(t.name.clone()),
            AlterTable { to, .. } => ObjectId::Table(to.name.clone()),
            AddColumn { table, column } | DropColumn { table, column } => {
                ObjectId::Column(table.clone(), column.name.clone())
            }
            AlterColumn { table, to, .. } => ObjectId::Column(table.clone(), to.name.clone()),
            AddConstraint { table, constraint }
            | DropConstraint { table, constraint }
            | ValidateConstraint { table, constraint } => {
                ObjectId::Constraint(table.clone(), constraint.name.as_str().into())
            }
            ReplaceCheck { table, to, .. } | SetConstraintEnforced { table, to, .. } => {
                ObjectId::Constraint(table.clone(), to.name.as_str().into())
            }
            CreateIndex(index) | DropIndex(index) => ObjectId::Index(index.name.clone()),
            ReplaceIndex { to, .. } => ObjectId::Index(to.name.clone()),
            CreateView(v) | DropView(v) => ObjectId::View(v.name.clone()),
            ReplaceView { to, .. } => ObjectId::View(to.name.clone()),
            CreateFunction(f) | DropFunction(f) => {
                ObjectId::Function(f.name.clone(), f.identity_args.as_str().into())
            }
            ReplaceFunction { to, .. } => {
                ObjectId::Function(to.name.clone(), to.identity_args.as_str().into())
            }
            CreateTrigger(t) | DropTrigger(t) | SetTriggerEnabled { trigger: t } => {
                ObjectId::Trigger(t.table.clone(), t.name.as_str().into())
            }
            CreatePolicy(p) | DropPolicy(p) => {
                ObjectId::Policy(p.table.clone(), p.name.as_str().into())
            }
            AlterPolicy { to, .. } => ObjectId::Policy(to.table.clone(), to.name.as_str().into()),
            CreatePublication(p) | DropPublication(p) => {
                ObjectId::Publication(p.name.as_str().into())
            }
            AlterPublication { to, .. } => ObjectId::Publication(to.name.as_str().into()),
            AddPublicationTable(m) | DropPublicationTable(m) => {
                ObjectId::PublicationTable(m.publication.as_str().into(), m.table.clone())
            }
            AlterPublicationTable { to, .. } => {
                ObjectId::PublicationTable(to.publication.as_str().into(), to.table.clone())
            }
            AddPublicationSchema {
                publication,
                schema,
            }
            | DropPublicationSchema {
                publication,
                schema,
            } => ObjectId::PublicationSchema(publication.as_str().into(), schema.as_str().into()),
            CreateEventTrigger(e) | DropEventTrigger(e) | SetEventTriggerEnabled(e) => {
                ObjectId::EventTrigger(e.name.as_str().into())
            }
            CreateForeignDataWrapper(w) | DropForeignDataWrapper(w) => {
                ObjectId::ForeignDataWrapper(w.name.as_str().into())
            }
            AlterForeignDataWrapper { to, .. } => {
                ObjectId::ForeignDataWrapper(to.name.as_str().into())
            }
            CreateServer(s) | DropServer(s) => ObjectId::ForeignServer(s.name.as_str().into()),
            AlterServer { to, .. } => ObjectId::ForeignServer(to.name.as_str().into()),
            CreateUserMapping(m) | DropUserMapping(m) => {
                ObjectId::UserMapping(m.server.as_str().into(), m.user.as_str().into())
            }
            AlterUserMapping { to, .. } => {
                ObjectId::UserMapping(to.server.as_str().into(), to.user.as_str().into())
            }
            CreateCast(c) | DropCast(c) => {
                ObjectId::Cast(c.source.as_str().into(), c.target.as_str().into())
            }
            CreateAccessMethod(a) | DropAccessMethod(a) => {
                ObjectId::AccessMethod(a.name.as_str().into())
            }
            CreateConversion(c) | DropConversion(c) => ObjectId::Conversion(c.name.clone()),
            CreateStatistics(s) | DropStatistics(s) | SetStatisticsTarget(s) => {
                ObjectId::Statistics(s.name.clone())
            }
            CreateRule(r) | DropRule(r) | ReplaceRule(r) | SetRuleEnabled(r) => {
                ObjectId::Rule(r.table.clone(), r.name.as_str().into())
            }
            CreateLanguage(l) | DropLanguage(l) => ObjectId::Language(l.name.as_str().into()),
            ReplaceLanguage { to, .. } => ObjectId::Language(to.name.as_str().into()),
            CreateTsDictionary(t) | DropTsDictionary(t) => {
                ObjectId::TextSearchDictionary(t.name.clone())
            }
            AlterTsDictionary { to, .. } => ObjectId::TextSearchDictionary(to.name.clone()),
            CreateTsConfiguration(t) | DropTsConfiguration(t) => {
                ObjectId::TextSearchConfiguration(t.name.clone())
            }
            AlterTsConfiguration { to, .. } => ObjectId::TextSearchConfiguration(to.name.clone()),
            CreateOperator(o) | DropOperator(o) => {
                ObjectId::Operator(o.name.clone(), o.args().into())
            }
            CreateOperatorFamily(f) | DropOperatorFamily(f) => {
                ObjectId::OperatorFamily(f.name.clone(), f.method.as_str().into())
            }
            AlterOperatorFamily { to, .. } => {
                ObjectId::OperatorFamily(to.name.clone(), to.method.as_str().into())
            }
            CreateOperatorClass(c) | DropOperatorClass(c) => {
                ObjectId::OperatorClass(c.name.clone(), c.method.as_str().into())
            }
            SetComment { on, .. } | SetOwner { on, .. } => on.clone(),
            Grant(g) | Revoke(g) => g.on.clone(),
            ResetPrivileges { on, .. } => on.clone(),
            AlterDefaultPrivilege { entry, .. } => {
                ObjectId::Schema(entry.schema.clone().unwrap_or_default().into())
            }
            Rename(r) | UndoRename(r) => r.object(),
        }
    }
}
