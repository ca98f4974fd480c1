//! What kind of statement a parse tree is (`CREATE TABLE`, `GRANT`, ...) and whether it belongs
//! in a schema file.
//!
//! The rule: a statement with a well-defined result on a fresh database is accepted; one that
//! moves or deletes data, or changes session, transaction or cluster state, is rejected with
//! the reason. Statements that act on an object another statement made (`DROP`, `ALTER ...
//! DROP COLUMN`, `RENAME`, `SET SCHEMA`, `ALTER COLUMN ... TYPE`) are accepted as
//! *imperative* ([`is_imperative`]): the ordering keeps them in written order relative to every
//! statement naming the same objects, and the shadow elaborates them. The harmless session
//! settings pg_dump writes at the top of a dump are skipped (see [`Verdict::Skip`] and
//! `docs/source.md`).

use pg_query::protobuf::{self, AlterTableType, ObjectType, TransactionStmtKind, VariableSetKind};
use pg_query::NodeEnum;

/// What to do with a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    /// A pg_dump session preamble setting that does not change what the schema means.
    Skip,
    Reject(String),
}

const DATA: &str = "schema files describe the desired schema with CREATE statements";
const ROLES: &str = "roles are cluster-wide and are managed outside schema files";
const CLUSTER: &str = "databases, tablespaces and server settings are cluster-wide and are \
                       managed outside schema files";
const TRANSACTION: &str =
    "schemaplan decides how plan steps are grouped into transactions; schema files hold none";
const SESSION: &str = "statements are reordered by their dependencies, so a session setting \
                       cannot apply to the statements after it; qualify names with their schema \
                       instead of setting search_path";

const TEMPORARY: &str = "temporary objects live only as long as the session that creates them";

/// The statement's kind and what to do with it.
pub(crate) fn classify(node: &NodeEnum) -> (String, Verdict) {
    let (kind, verdict) = classify_kind(node);
    if verdict == Verdict::Accept && creates_temporary(node) {
        let kind = kind.replacen("CREATE ", "CREATE TEMPORARY ", 1);
        return (kind, Verdict::Reject(TEMPORARY.to_string()));
    }
    (kind, verdict)
}

/// Whether the statement creates a temporary table, view or sequence.
fn creates_temporary(node: &NodeEnum) -> bool {
    let relation = match node {
        NodeEnum::CreateStmt(s) => s.relation.as_ref(),
        NodeEnum::ViewStmt(s) => s.view.as_ref(),
        NodeEnum::CreateSeqStmt(s) => s.sequence.as_ref(),
        NodeEnum::CreateTableAsStmt(s) => s.into.as_ref().and_then(|i| i.rel.as_ref()),
        _ => None,
    };
    relation.is_some_and(|r| r.relpersistence == "t")
}

fn classify_kind(node: &NodeEnum) -> (String, Verdict) {
    use NodeEnum as N;
    let accept = |kind: &str| (kind.to_string(), Verdict::Accept);
    match node {
        N::CreateStmt(_) => accept("CREATE TABLE"),
        N::CreateTableAsStmt(s) => create_table_as(s),
        N::ViewStmt(_) => accept("CREATE VIEW"),
        N::IndexStmt(_) => accept("CREATE INDEX"),
        N::CreateFunctionStmt(s) if s.is_procedure => accept("CREATE PROCEDURE"),
        N::CreateFunctionStmt(_) => accept("CREATE FUNCTION"),
        N::CreateTrigStmt(_) => accept("CREATE TRIGGER"),
        N::CompositeTypeStmt(_) | N::CreateEnumStmt(_) | N::CreateRangeStmt(_) => {
            accept("CREATE TYPE")
        }
        N::DefineStmt(s) => accept(&format!("CREATE {}", object_words(s.kind))),
        N::CreateDomainStmt(_) => accept("CREATE DOMAIN"),
        N::CreateSeqStmt(_) => accept("CREATE SEQUENCE"),
        N::CreateSchemaStmt(_) => accept("CREATE SCHEMA"),
        N::CreateExtensionStmt(_) => accept("CREATE EXTENSION"),
        N::CreatePolicyStmt(_) => accept("CREATE POLICY"),
        N::RuleStmt(_) => accept("CREATE RULE"),
        N::CreateEventTrigStmt(_) => accept("CREATE EVENT TRIGGER"),
        N::CreateForeignTableStmt(_) => accept("CREATE FOREIGN TABLE"),
        N::CreateForeignServerStmt(_) => accept("CREATE SERVER"),
        N::CreateFdwStmt(_) => accept("CREATE FOREIGN DATA WRAPPER"),
        N::CreateUserMappingStmt(_) => accept("CREATE USER MAPPING"),
        N::ImportForeignSchemaStmt(_) => accept("IMPORT FOREIGN SCHEMA"),
        N::CreatePublicationStmt(_) => accept("CREATE PUBLICATION"),
        N::CreateSubscriptionStmt(_) => accept("CREATE SUBSCRIPTION"),
        N::CreatePlangStmt(_) => accept("CREATE LANGUAGE"),
        N::CreateStatsStmt(_) => accept("CREATE STATISTICS"),
        N::CreateCastStmt(_) => accept("CREATE CAST"),
        N::CreateOpClassStmt(_) => accept("CREATE OPERATOR CLASS"),
        N::CreateOpFamilyStmt(_) => accept("CREATE OPERATOR FAMILY"),
        N::CreateConversionStmt(_) => accept("CREATE CONVERSION"),
        N::CreateTransformStmt(_) => accept("CREATE TRANSFORM"),
        N::CreateAmStmt(_) => accept("CREATE ACCESS METHOD"),
        N::CommentStmt(_) => accept("COMMENT"),
        N::SecLabelStmt(_) => accept("SECURITY LABEL"),
        N::GrantStmt(s) if s.is_grant => accept("GRANT"),
        N::GrantStmt(_) => accept("REVOKE"),
        N::AlterDefaultPrivilegesStmt(_) => accept("ALTER DEFAULT PRIVILEGES"),
        N::DoStmt(_) => accept("DO"),
        N::AlterTableStmt(s) => alter_table(s),
        N::AlterSeqStmt(_) => accept("ALTER SEQUENCE"),
        N::AlterEnumStmt(s) if !s.old_val.is_empty() => accept("ALTER TYPE ... RENAME VALUE"),
        N::AlterEnumStmt(_) => accept("ALTER TYPE"),
        N::AlterTypeStmt(_) => accept("ALTER TYPE"),
        N::AlterFunctionStmt(s) => accept(&format!("ALTER {}", object_words(s.objtype))),
        N::AlterOwnerStmt(s) => accept(&format!("ALTER {}", object_words(s.object_type))),
        N::AlterDomainStmt(s) => alter_domain(s),
        N::AlterExtensionStmt(_) => accept("ALTER EXTENSION"),
        N::AlterPolicyStmt(_) => accept("ALTER POLICY"),
        N::AlterStatsStmt(_) => accept("ALTER STATISTICS"),
        N::AlterEventTrigStmt(_) => accept("ALTER EVENT TRIGGER"),
        N::AlterFdwStmt(_) => accept("ALTER FOREIGN DATA WRAPPER"),
        N::AlterForeignServerStmt(_) => accept("ALTER SERVER"),
        N::AlterUserMappingStmt(_) => accept("ALTER USER MAPPING"),
        N::AlterTsconfigurationStmt(_) => accept("ALTER TEXT SEARCH CONFIGURATION"),
        N::AlterTsdictionaryStmt(_) => accept("ALTER TEXT SEARCH DICTIONARY"),
        N::AlterOperatorStmt(_) => accept("ALTER OPERATOR"),
        N::AlterCollationStmt(_) => accept("ALTER COLLATION"),
        N::AlterOpFamilyStmt(s) if s.is_drop => accept("ALTER OPERATOR FAMILY ... DROP"),
        N::AlterOpFamilyStmt(_) => accept("ALTER OPERATOR FAMILY"),
        N::AlterPublicationStmt(_) => accept("ALTER PUBLICATION"),
        N::AlterSubscriptionStmt(_) => accept("ALTER SUBSCRIPTION"),
        N::AlterObjectDependsStmt(_) => accept("ALTER ... DEPENDS ON EXTENSION"),
        N::AlterExtensionContentsStmt(_) => accept("ALTER EXTENSION"),
        N::DropStmt(s) => drop(s),
        N::DropUserMappingStmt(_) => accept("DROP USER MAPPING"),
        N::DropSubscriptionStmt(_) => accept("DROP SUBSCRIPTION"),
        N::RenameStmt(s) => rename(s),
        N::AlterObjectSchemaStmt(s) => accept(&format!(
            "ALTER {} ... SET SCHEMA",
            object_words(s.object_type)
        )),
        N::VariableSetStmt(s) => session_setting(s),
        N::SelectStmt(s) => select(s),
        other => rejected(other),
    }
}

/// Statements that never belong in a schema file, with the reason.
fn rejected(node: &NodeEnum) -> (String, Verdict) {
    use NodeEnum as N;
    let (kind, why): (String, &str) = match node {
        N::InsertStmt(_) => ("INSERT".into(), DATA),
        N::UpdateStmt(_) => ("UPDATE".into(), DATA),
        N::DeleteStmt(_) => ("DELETE".into(), DATA),
        N::MergeStmt(_) => ("MERGE".into(), DATA),
        N::CopyStmt(_) => ("COPY".into(), DATA),
        N::TruncateStmt(_) => ("TRUNCATE".into(), DATA),
        N::DropOwnedStmt(_) => ("DROP OWNED".into(), ROLES),
        N::TransactionStmt(s) => (transaction_words(s.kind).into(), TRANSACTION),
        N::CreateRoleStmt(_) => ("CREATE ROLE".into(), ROLES),
        N::AlterRoleStmt(_) | N::AlterRoleSetStmt(_) => ("ALTER ROLE".into(), ROLES),
        N::DropRoleStmt(_) => ("DROP ROLE".into(), ROLES),
        N::GrantRoleStmt(_) => ("GRANT role".into(), ROLES),
        N::ReassignOwnedStmt(_) => ("REASSIGN OWNED".into(), ROLES),
        N::CreatedbStmt(_) => ("CREATE DATABASE".into(), CLUSTER),
        N::AlterDatabaseStmt(_)
        | N::AlterDatabaseSetStmt(_)
        | N::AlterDatabaseRefreshCollStmt(_) => ("ALTER DATABASE".into(), CLUSTER),
        N::DropdbStmt(_) => ("DROP DATABASE".into(), CLUSTER),
        N::CreateTableSpaceStmt(_) => ("CREATE TABLESPACE".into(), CLUSTER),
        N::DropTableSpaceStmt(_) => ("DROP TABLESPACE".into(), CLUSTER),
        N::AlterTableSpaceOptionsStmt(_) => ("ALTER TABLESPACE".into(), CLUSTER),
        N::AlterTableMoveAllStmt(_) => ("ALTER TABLE ALL IN TABLESPACE".into(), CLUSTER),
        N::AlterSystemStmt(_) => ("ALTER SYSTEM".into(), CLUSTER),
        N::VacuumStmt(s) if s.is_vacuumcmd => ("VACUUM".into(), DATA),
        N::VacuumStmt(_) => ("ANALYZE".into(), DATA),
        N::ClusterStmt(_) => ("CLUSTER".into(), DATA),
        N::ReindexStmt(_) => ("REINDEX".into(), DATA),
        N::RefreshMatViewStmt(_) => ("REFRESH MATERIALIZED VIEW".into(), DATA),
        N::LockStmt(_) => ("LOCK".into(), DATA),
        N::CallStmt(_) => ("CALL".into(), DATA),
        N::VariableShowStmt(_) => ("SHOW".into(), DATA),
        N::DiscardStmt(_) => ("DISCARD".into(), SESSION),
        N::LoadStmt(_) => ("LOAD".into(), SESSION),
        N::ConstraintsSetStmt(_) => ("SET CONSTRAINTS".into(), SESSION),
        N::ExplainStmt(_) => ("EXPLAIN".into(), DATA),
        N::NotifyStmt(_) => ("NOTIFY".into(), DATA),
        N::ListenStmt(_) => ("LISTEN".into(), DATA),
        N::UnlistenStmt(_) => ("UNLISTEN".into(), DATA),
        N::CheckPointStmt(_) => ("CHECKPOINT".into(), CLUSTER),
        N::PrepareStmt(_) => ("PREPARE".into(), DATA),
        N::ExecuteStmt(_) => ("EXECUTE".into(), DATA),
        N::DeallocateStmt(_) => ("DEALLOCATE".into(), DATA),
        N::DeclareCursorStmt(_) => ("DECLARE".into(), DATA),
        N::FetchStmt(_) => ("FETCH".into(), DATA),
        N::ClosePortalStmt(_) => ("CLOSE".into(), DATA),
        _ => ("this statement".into(), DATA),
    };
    (kind, Verdict::Reject(why.to_string()))
}

/// `ALTER TABLE ... RENAME`, or `ALTER TABLE ... RENAME COLUMN` for a part of a relation.
fn rename_words(s: &protobuf::RenameStmt) -> String {
    use ObjectType as O;
    let part = [
        O::ObjectColumn,
        O::ObjectTabconstraint,
        O::ObjectTrigger,
        O::ObjectPolicy,
        O::ObjectRule,
    ]
    .iter()
    .any(|t| *t as i32 == s.rename_type);
    if part && s.relation.is_some() {
        let relation = object_words(s.relation_type);
        format!(
            "ALTER {relation} ... RENAME {}",
            object_words(s.rename_type)
        )
    } else {
        format!("ALTER {} ... RENAME", object_words(s.rename_type))
    }
}

fn create_table_as(s: &protobuf::CreateTableAsStmt) -> (String, Verdict) {
    let kind = if s.objtype == ObjectType::ObjectMatview as i32 {
        "CREATE MATERIALIZED VIEW"
    } else {
        "CREATE TABLE AS"
    };
    (kind.to_string(), Verdict::Accept)
}

/// `ALTER TABLE` (and `ALTER INDEX/VIEW/SEQUENCE/...` in the same node): accepted; the kind
/// names the first subcommand that acts on what is already there (`ALTER TABLE ... DROP
/// COLUMN`), which makes the statement imperative.
fn alter_table(s: &protobuf::AlterTableStmt) -> (String, Verdict) {
    let base = format!("ALTER {}", object_words(s.objtype));
    let kind = s
        .cmds
        .iter()
        .find_map(|cmd| match &cmd.node {
            Some(NodeEnum::AlterTableCmd(cmd)) => imperative_cmd(cmd),
            _ => None,
        })
        .map_or(base.clone(), |what| format!("{base} ... {what}"));
    (kind, Verdict::Accept)
}

/// The words of an `ALTER TABLE` subcommand that acts on what is already there (removes,
/// retypes), if it is one.
fn imperative_cmd(cmd: &protobuf::AlterTableCmd) -> Option<&'static str> {
    use AlterTableType as T;
    let subtype = T::try_from(cmd.subtype).ok()?;
    let words = match subtype {
        T::AtDropColumn => "DROP COLUMN",
        T::AtDropConstraint => "DROP CONSTRAINT",
        T::AtDropNotNull => "DROP NOT NULL",
        T::AtColumnDefault if cmd.def.is_none() => "DROP DEFAULT",
        T::AtDropIdentity => "DROP IDENTITY",
        T::AtDropExpression => "DROP EXPRESSION",
        T::AtDropInherit => "NO INHERIT",
        T::AtDropOf => "NOT OF",
        T::AtDropOids => "SET WITHOUT OIDS",
        T::AtDetachPartition | T::AtDetachPartitionFinalize => "DETACH PARTITION",
        T::AtAlterColumnType => "ALTER COLUMN ... TYPE",
        _ => return None,
    };
    Some(words)
}

fn alter_domain(s: &protobuf::AlterDomainStmt) -> (String, Verdict) {
    let kind = match s.subtype.as_str() {
        "N" => "ALTER DOMAIN ... DROP NOT NULL",
        "X" => "ALTER DOMAIN ... DROP CONSTRAINT",
        "T" if s.def.is_none() => "ALTER DOMAIN ... DROP DEFAULT",
        _ => "ALTER DOMAIN",
    };
    (kind.to_string(), Verdict::Accept)
}

fn reject_kind(kind: &str, why: &str) -> (String, Verdict) {
    (kind.to_string(), Verdict::Reject(why.to_string()))
}

/// `DROP ...` of an object a schema file may create: accepted (imperative). `DROP ROLE`,
/// `DROP DATABASE` and `DROP TABLESPACE` are other nodes and stay rejected.
fn drop(s: &protobuf::DropStmt) -> (String, Verdict) {
    (
        format!("DROP {}", object_words(s.remove_type)),
        Verdict::Accept,
    )
}

/// `ALTER ... RENAME`: accepted (imperative), except for the cluster-wide objects.
fn rename(s: &protobuf::RenameStmt) -> (String, Verdict) {
    use ObjectType as O;
    let words = rename_words(s);
    match O::try_from(s.rename_type) {
        Ok(O::ObjectRole) => (words, Verdict::Reject(ROLES.to_string())),
        Ok(O::ObjectDatabase | O::ObjectTablespace) => {
            (words, Verdict::Reject(CLUSTER.to_string()))
        }
        _ => (words, Verdict::Accept),
    }
}

/// Whether an accepted statement acts on an object another statement made rather than only
/// making or describing one: `DROP`, the dropping `ALTER` forms, `RENAME`, `SET SCHEMA`,
/// `ALTER COLUMN ... TYPE`. The ordering runs such a statement in written order (files by
/// path, then statements) relative to every statement that names the same objects.
pub(crate) fn is_imperative(node: &NodeEnum) -> bool {
    use NodeEnum as N;
    match node {
        N::DropStmt(_)
        | N::DropUserMappingStmt(_)
        | N::DropSubscriptionStmt(_)
        | N::RenameStmt(_)
        | N::AlterObjectSchemaStmt(_) => true,
        N::AlterEnumStmt(s) => !s.old_val.is_empty(),
        N::AlterOpFamilyStmt(s) => s.is_drop,
        N::AlterDomainStmt(s) => {
            matches!(s.subtype.as_str(), "N" | "X") || (s.subtype == "T" && s.def.is_none())
        }
        N::AlterTableStmt(s) => s.cmds.iter().any(|cmd| match &cmd.node {
            Some(N::AlterTableCmd(cmd)) => imperative_cmd(cmd).is_some(),
            _ => false,
        }),
        _ => false,
    }
}

/// `SET name = value`: skipped when it is one of pg_dump's harmless preamble settings.
fn session_setting(s: &protobuf::VariableSetStmt) -> (String, Verdict) {
    let values: Vec<String> = s.args.iter().filter_map(setting_value).collect();
    let plain = s.kind == VariableSetKind::VarSetValue as i32 && !s.is_local;
    let verdict = if plain && harmless_setting(&s.name, &values) {
        Verdict::Skip
    } else {
        Verdict::Reject(SESSION.to_string())
    };
    ("SET".to_string(), verdict)
}

/// A literal `SET` argument as text (`'UTF8'`, `on`, `0`).
fn setting_value(node: &protobuf::Node) -> Option<String> {
    use protobuf::a_const::Val;
    match &node.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(Val::Sval(s)) => Some(s.sval.clone()),
            Some(Val::Ival(i)) => Some(i.ival.to_string()),
            Some(Val::Fval(f)) => Some(f.fval.clone()),
            Some(Val::Boolval(b)) => Some(b.boolval.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The settings pg_dump puts before a dump that do not change what the statements define.
fn harmless_setting(name: &str, values: &[String]) -> bool {
    let value = values.join(", ").to_ascii_lowercase();
    match name.to_ascii_lowercase().as_str() {
        "statement_timeout"
        | "lock_timeout"
        | "idle_in_transaction_session_timeout"
        | "transaction_timeout"
        | "client_encoding"
        | "check_function_bodies"
        | "xmloption"
        | "client_min_messages"
        | "row_security" => true,
        "standard_conforming_strings" => value == "on" || value == "true",
        "default_tablespace" => value.is_empty(),
        "default_table_access_method" => value == "heap",
        "default_with_oids" => value == "false" || value == "off",
        "search_path" => values
            .iter()
            .all(|v| v.is_empty() || v == "public" || v == "pg_catalog" || v == "$user"),
        _ => false,
    }
}

/// `SELECT pg_catalog.set_config('name', 'value', false)` is pg_dump's way of setting
/// `search_path`; it is treated like the same `SET`. Any other `SELECT` is rejected.
fn select(s: &protobuf::SelectStmt) -> (String, Verdict) {
    match set_config_call(s) {
        Some((name, value)) if harmless_setting(&name, std::slice::from_ref(&value)) => {
            ("SELECT set_config".to_string(), Verdict::Skip)
        }
        Some(_) => reject_kind("SELECT set_config", SESSION),
        None if calls(s, "setval") => {
            reject_kind("SELECT setval", "sequence positions are data, not schema")
        }
        None => reject_kind("SELECT", DATA),
    }
}

/// The single function call a `SELECT f(...)` without `FROM` makes.
fn single_call(s: &protobuf::SelectStmt) -> Option<&protobuf::FuncCall> {
    if !s.from_clause.is_empty() || s.target_list.len() != 1 {
        return None;
    }
    let Some(NodeEnum::ResTarget(target)) = &s.target_list[0].node else {
        return None;
    };
    match target.val.as_deref()?.node.as_ref()? {
        NodeEnum::FuncCall(call) => Some(call),
        _ => None,
    }
}

fn function_name(call: &protobuf::FuncCall) -> Option<&str> {
    match call.funcname.last()?.node.as_ref()? {
        NodeEnum::String(s) => Some(s.sval.as_str()),
        _ => None,
    }
}

fn calls(s: &protobuf::SelectStmt, name: &str) -> bool {
    single_call(s).and_then(function_name) == Some(name)
}

/// The setting name and value of `SELECT set_config('name', 'value', false)`.
fn set_config_call(s: &protobuf::SelectStmt) -> Option<(String, String)> {
    let call = single_call(s)?;
    if function_name(call)? != "set_config" || call.args.len() != 3 {
        return None;
    }
    let name = setting_value(&call.args[0])?;
    let value = setting_value(&call.args[1])?;
    Some((name, value))
}

fn transaction_words(kind: i32) -> &'static str {
    use TransactionStmtKind as K;
    match K::try_from(kind).unwrap_or(K::Undefined) {
        K::TransStmtBegin => "BEGIN",
        K::TransStmtStart => "START TRANSACTION",
        K::TransStmtCommit => "COMMIT",
        K::TransStmtRollback => "ROLLBACK",
        K::TransStmtSavepoint => "SAVEPOINT",
        K::TransStmtRelease => "RELEASE SAVEPOINT",
        K::TransStmtRollbackTo => "ROLLBACK TO SAVEPOINT",
        K::TransStmtPrepare => "PREPARE TRANSACTION",
        K::TransStmtCommitPrepared => "COMMIT PREPARED",
        K::TransStmtRollbackPrepared => "ROLLBACK PREPARED",
        K::Undefined => "transaction control",
    }
}

/// The SQL words naming an object type (`TABLE`, `MATERIALIZED VIEW`, ...).
pub(crate) fn object_words(objtype: i32) -> &'static str {
    use ObjectType as O;
    match O::try_from(objtype).unwrap_or(O::Undefined) {
        O::ObjectAccessMethod => "ACCESS METHOD",
        O::ObjectAggregate => "AGGREGATE",
        O::ObjectAmop | O::ObjectAmproc => "OPERATOR FAMILY",
        O::ObjectAttribute => "ATTRIBUTE",
        O::ObjectCast => "CAST",
        O::ObjectColumn => "COLUMN",
        O::ObjectCollation => "COLLATION",
        O::ObjectConversion => "CONVERSION",
        O::ObjectDatabase => "DATABASE",
        O::ObjectDefault => "DEFAULT",
        O::ObjectDefacl => "DEFAULT PRIVILEGES",
        O::ObjectDomain => "DOMAIN",
        O::ObjectDomconstraint => "DOMAIN CONSTRAINT",
        O::ObjectEventTrigger => "EVENT TRIGGER",
        O::ObjectExtension => "EXTENSION",
        O::ObjectFdw => "FOREIGN DATA WRAPPER",
        O::ObjectForeignServer => "SERVER",
        O::ObjectForeignTable => "FOREIGN TABLE",
        O::ObjectFunction => "FUNCTION",
        O::ObjectIndex => "INDEX",
        O::ObjectLanguage => "LANGUAGE",
        O::ObjectLargeobject => "LARGE OBJECT",
        O::ObjectMatview => "MATERIALIZED VIEW",
        O::ObjectOpclass => "OPERATOR CLASS",
        O::ObjectOperator => "OPERATOR",
        O::ObjectOpfamily => "OPERATOR FAMILY",
        O::ObjectParameterAcl => "PARAMETER",
        O::ObjectPolicy => "POLICY",
        O::ObjectProcedure => "PROCEDURE",
        O::ObjectPublication | O::ObjectPublicationNamespace | O::ObjectPublicationRel => {
            "PUBLICATION"
        }
        O::ObjectRole => "ROLE",
        O::ObjectRoutine => "ROUTINE",
        O::ObjectRule => "RULE",
        O::ObjectSchema => "SCHEMA",
        O::ObjectSequence => "SEQUENCE",
        O::ObjectSubscription => "SUBSCRIPTION",
        O::ObjectStatisticExt => "STATISTICS",
        O::ObjectTabconstraint => "CONSTRAINT",
        O::ObjectTable => "TABLE",
        O::ObjectTablespace => "TABLESPACE",
        O::ObjectTransform => "TRANSFORM",
        O::ObjectTrigger => "TRIGGER",
        O::ObjectTsconfiguration => "TEXT SEARCH CONFIGURATION",
        O::ObjectTsdictionary => "TEXT SEARCH DICTIONARY",
        O::ObjectTsparser => "TEXT SEARCH PARSER",
        O::ObjectTstemplate => "TEXT SEARCH TEMPLATE",
        O::ObjectType => "TYPE",
        O::ObjectUserMapping => "USER MAPPING",
        O::ObjectView => "VIEW",
        O::Undefined => "OBJECT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(sql: &str) -> (String, Verdict) {
        let tree = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).unwrap();
        let node = tree.protobuf.stmts[0]
            .stmt
            .as_ref()
            .unwrap()
            .node
            .clone()
            .unwrap();
        classify(&node)
    }

    fn kind(sql: &str) -> String {
        let (kind, verdict) = verdict(sql);
        assert_eq!(verdict, Verdict::Accept, "{sql}");
        kind
    }

    fn rejected_kind(sql: &str) -> String {
        let (kind, verdict) = verdict(sql);
        assert!(matches!(verdict, Verdict::Reject(_)), "{sql}");
        kind
    }

    #[test]
    fn creates_are_accepted_with_their_kind() {
        assert_eq!(kind("CREATE TABLE t (x int)"), "CREATE TABLE");
        assert_eq!(
            kind("CREATE UNIQUE INDEX CONCURRENTLY i ON t (x)"),
            "CREATE INDEX"
        );
        assert_eq!(kind("CREATE OR REPLACE VIEW v AS SELECT 1"), "CREATE VIEW");
        assert_eq!(
            kind("CREATE MATERIALIZED VIEW m AS SELECT 1"),
            "CREATE MATERIALIZED VIEW"
        );
        assert_eq!(kind("CREATE TYPE e AS ENUM ('a')"), "CREATE TYPE");
        assert_eq!(
            kind("CREATE AGGREGATE a (int) (sfunc = f, stype = int)"),
            "CREATE AGGREGATE"
        );
        assert_eq!(
            kind("CREATE PROCEDURE p() LANGUAGE sql AS ''"),
            "CREATE PROCEDURE"
        );
        assert_eq!(kind("COMMENT ON TABLE t IS 'x'"), "COMMENT");
        assert_eq!(kind("REVOKE ALL ON t FROM PUBLIC"), "REVOKE");
    }

    #[test]
    fn state_describing_alters_are_accepted() {
        for sql in [
            "ALTER TABLE ONLY t ADD CONSTRAINT p PRIMARY KEY (id)",
            "ALTER TABLE t ALTER COLUMN x SET DEFAULT 1, ALTER COLUMN x SET NOT NULL",
            "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE t REPLICA IDENTITY FULL",
            "ALTER TABLE t OWNER TO bob",
            "ALTER TABLE t ATTACH PARTITION p FOR VALUES IN (1)",
            "ALTER TABLE t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY",
            "ALTER SEQUENCE s OWNED BY t.id",
            "ALTER TYPE e ADD VALUE 'b'",
            "ALTER FUNCTION f() OWNER TO bob",
            "ALTER FUNCTION f() SET search_path = public",
        ] {
            kind(sql);
        }
    }

    #[test]
    fn imperative_statements_are_accepted_and_marked() {
        for (sql, expected) in [
            ("DROP TABLE t", "DROP TABLE"),
            ("DROP SCHEMA IF EXISTS app CASCADE", "DROP SCHEMA"),
            ("ALTER TABLE t RENAME TO u", "ALTER TABLE ... RENAME"),
            (
                "ALTER TABLE t RENAME x TO y",
                "ALTER TABLE ... RENAME COLUMN",
            ),
            ("ALTER TABLE t DROP COLUMN x", "ALTER TABLE ... DROP COLUMN"),
            (
                "ALTER TABLE t ALTER x TYPE int",
                "ALTER TABLE ... ALTER COLUMN ... TYPE",
            ),
            ("ALTER TABLE t SET SCHEMA app", "ALTER TABLE ... SET SCHEMA"),
            (
                "ALTER TYPE e RENAME VALUE 'a' TO 'b'",
                "ALTER TYPE ... RENAME VALUE",
            ),
            (
                "ALTER DOMAIN d DROP NOT NULL",
                "ALTER DOMAIN ... DROP NOT NULL",
            ),
        ] {
            assert_eq!(kind(sql), expected, "{sql}");
            let node = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
                .unwrap()
                .protobuf
                .stmts[0]
                .stmt
                .as_ref()
                .unwrap()
                .node
                .clone()
                .unwrap();
            assert!(is_imperative(&node), "{sql}");
        }
        let node = pg_query::parse(
            "ALTER TABLE t ADD COLUMN x int",
            pg_query::ParserOptions::DEFAULT,
        )
        .unwrap()
        .protobuf
        .stmts[0]
            .stmt
            .as_ref()
            .unwrap()
            .node
            .clone()
            .unwrap();
        assert!(!is_imperative(&node));
    }

    #[test]
    fn data_transactions_sessions_and_roles_are_rejected_with_names() {
        assert_eq!(rejected_kind("INSERT INTO t VALUES (1)"), "INSERT");
        assert_eq!(
            rejected_kind("ALTER ROLE r RENAME TO s"),
            "ALTER ROLE ... RENAME"
        );
        assert_eq!(rejected_kind("DROP OWNED BY r"), "DROP OWNED");
        assert_eq!(rejected_kind("DROP ROLE r"), "DROP ROLE");
        assert_eq!(rejected_kind("BEGIN"), "BEGIN");
        assert_eq!(rejected_kind("CREATE ROLE r"), "CREATE ROLE");
        assert_eq!(rejected_kind("SELECT setval('s', 3)"), "SELECT setval");
        assert_eq!(rejected_kind("VACUUM t"), "VACUUM");
        assert_eq!(rejected_kind("ANALYZE t"), "ANALYZE");
        assert_eq!(rejected_kind("SET search_path = app"), "SET");
        assert_eq!(
            rejected_kind("CREATE TEMP TABLE t (x int)"),
            "CREATE TEMPORARY TABLE"
        );
    }

    #[test]
    fn pg_dump_preamble_settings_are_skipped() {
        for sql in [
            "SET client_encoding = 'UTF8'",
            "SET standard_conforming_strings = on",
            "SET default_tablespace = ''",
            "SELECT pg_catalog.set_config('search_path', '', false)",
        ] {
            assert_eq!(verdict(sql).1, Verdict::Skip, "{sql}");
        }
        assert!(matches!(
            verdict("SET standard_conforming_strings = off").1,
            Verdict::Reject(_)
        ));
    }
}
