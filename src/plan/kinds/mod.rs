//! One generator module per object kind: each turns a [`Change`] into chains of graph nodes
//! (steps plus the objects they produce, remove, need and release).

mod access_method;
mod cast;
pub(super) mod column;
mod comment;
mod constraint;
mod conversion;
pub(super) mod convert;
mod event_trigger;
mod foreign_data_wrapper;
mod foreign_table;
mod function;
mod grant;
mod index;
mod language;
mod namespace;
mod operator;
mod operator_class;
mod operator_family;
mod owner;
mod partition;
mod policy;
mod publication;
mod rename;
mod retype;
mod rule;
mod sequence;
mod server;
mod statistics;
pub(super) mod table;
mod trigger;
mod ts_configuration;
mod ts_dictionary;
mod types;
mod user_mapping;
mod view;

use super::graph::Chain;
use super::Ctx;
use crate::diff::Change;

pub(crate) use rename::statement as rename_statement;

/// Generates the nodes of one change; an object it creates gets its owner (`owner::keep`).
pub(crate) fn generate(ctx: &Ctx, change: &Change) -> Vec<Chain> {
    let mut chains = generate_one(ctx, change);
    owner::keep(ctx, change, &mut chains);
    chains
}

/// Exhaustive: a new change kind does not compile until it has a generator.
fn generate_one(ctx: &Ctx, change: &Change) -> Vec<Chain> {
    use Change::*;
    match change {
        CreateSchema(n) => vec![namespace::create_schema(ctx, n)],
        DropSchema(n) => vec![namespace::drop_schema(ctx, n)],
        CreateExtension(e) => vec![namespace::create_extension(ctx, e)],
        DropExtension(e) => vec![namespace::drop_extension(ctx, e)],
        CreateCollation(c) => vec![namespace::create_collation(ctx, c)],
        DropCollation(c) => vec![namespace::drop_collation(ctx, c)],
        CreateType(t) => vec![types::create(ctx, t)],
        DropType(t) => vec![types::drop(ctx, t)],
        AddEnumValue {
            ty,
            value,
            position,
        } => vec![types::add_enum_value(ctx, ty, value, position)],
        SwapType { from, to, columns } => vec![types::swap(ctx, from, to, columns)],
        SwapCollation { from, to, columns } => {
            vec![namespace::swap_collation(ctx, from, to, columns)]
        }
        AlterDomain {
            name,
            from,
            to,
            recreate,
        } => vec![types::alter_domain(ctx, name, from, to, recreate)],
        AlterComposite { name, from, to } => vec![types::alter_composite(ctx, name, from, to)],
        CreateSequence(s) => vec![sequence::create(ctx, s)],
        DropSequence(s) => vec![sequence::drop(ctx, s)],
        AlterSequence { from, to } => vec![sequence::alter(ctx, from, to)],
        SetSequenceOwner { sequence, owner } => vec![sequence::set_owner(ctx, sequence, owner)],
        CreateTable(t) => vec![table::create(ctx, t)],
        DropTable(t) => vec![table::drop(ctx, t)],
        AlterTable { from, to, kinds } => vec![table::alter(ctx, from, to, kinds)],
        AddColumn { table, column } => vec![column::add(ctx, table, column)],
        DropColumn { table, column } => vec![column::drop(ctx, table, column)],
        AlterColumn {
            table,
            from,
            to,
            kinds,
        } => column::alter(ctx, table, from, to, kinds),
        AddConstraint { table, constraint } => vec![constraint::add(ctx, table, constraint)],
        DropConstraint { table, constraint } => vec![constraint::drop(ctx, table, constraint)],
        ValidateConstraint { table, constraint } => {
            vec![constraint::validate(ctx, table, constraint)]
        }
        ReplaceCheck { table, from, to } => constraint::replace_check(ctx, table, from, to),
        SetConstraintEnforced { table, from, to } => constraint::set_enforced(ctx, table, from, to),
        CreateIndex(index) => vec![index::create(ctx, index)],
        DropIndex(index) => vec![index::drop(ctx, index)],
        ReplaceIndex { from, to } => vec![index::replace(ctx, from, to)],
        CreateView(v) => vec![view::create(ctx, v)],
        ReplaceView { from, to } => vec![view::replace(ctx, from, to)],
        DropView(v) => vec![view::drop(ctx, v)],
        CreateFunction(f) => vec![function::create(ctx, f)],
        ReplaceFunction { from, to } => vec![function::replace(ctx, from, to)],
        DropFunction(f) => vec![function::drop(ctx, f)],
        CreateTrigger(t) => vec![trigger::create(ctx, t)],
        DropTrigger(t) => vec![trigger::drop(ctx, t)],
        SetTriggerEnabled { trigger } => vec![trigger::set_enabled(ctx, trigger)],
        CreatePolicy(p) => vec![policy::create(ctx, p)],
        DropPolicy(p) => vec![policy::drop(ctx, p)],
        AlterPolicy { from, to } => vec![policy::alter(ctx, from, to)],
        CreatePublication(p) => vec![publication::create(ctx, p)],
        DropPublication(p) => vec![publication::drop(ctx, p)],
        AlterPublication { from, to } => vec![publication::alter(ctx, from, to)],
        AddPublicationTable(m) => vec![publication::add_table(ctx, m)],
        DropPublicationTable(m) => vec![publication::drop_table(ctx, m)],
        AlterPublicationTable { from, to } => vec![publication::alter_table(ctx, from, to)],
        AddPublicationSchema {
            publication,
            schema,
        } => vec![publication::add_schema(ctx, publication, schema)],
        DropPublicationSchema {
            publication,
            schema,
        } => vec![publication::drop_schema(ctx, publication, schema)],
        CreateEventTrigger(e) => vec![event_trigger::create(ctx, e)],
        DropEventTrigger(e) => vec![event_trigger::drop(ctx, e)],
        SetEventTriggerEnabled(e) => vec![event_trigger::set_enabled(ctx, e)],
        CreateForeignDataWrapper(w) => vec![foreign_data_wrapper::create(ctx, w)],
        DropForeignDataWrapper(w) => vec![foreign_data_wrapper::drop(ctx, w)],
        AlterForeignDataWrapper { from, to } => vec![foreign_data_wrapper::alter(ctx, from, to)],
        CreateServer(s) => vec![server::create(ctx, s)],
        DropServer(s) => vec![server::drop(ctx, s)],
        AlterServer { from, to } => vec![server::alter(ctx, from, to)],
        CreateUserMapping(m) => vec![user_mapping::create(ctx, m)],
        DropUserMapping(m) => vec![user_mapping::drop(ctx, m)],
        AlterUserMapping { from, to } => vec![user_mapping::alter(ctx, from, to)],
        CreateCast(c) => vec![cast::create(ctx, c)],
        DropCast(c) => vec![cast::drop(ctx, c)],
        CreateAccessMethod(a) => vec![access_method::create(ctx, a)],
        DropAccessMethod(a) => vec![access_method::drop(ctx, a)],
        CreateConversion(c) => vec![conversion::create(ctx, c)],
        DropConversion(c) => vec![conversion::drop(ctx, c)],
        CreateStatistics(s) => vec![statistics::create(ctx, s)],
        DropStatistics(s) => vec![statistics::drop(ctx, s)],
        SetStatisticsTarget(s) => vec![statistics::set_target(ctx, s)],
        CreateRule(r) => vec![rule::create(ctx, r)],
        ReplaceRule(r) => vec![rule::replace(ctx, r)],
        DropRule(r) => vec![rule::drop(ctx, r)],
        SetRuleEnabled(r) => vec![rule::set_enabled(ctx, r)],
        CreateLanguage(l) => vec![language::create(ctx, l)],
        DropLanguage(l) => vec![language::drop(ctx, l)],
        ReplaceLanguage { from, to } => vec![language::replace(ctx, from, to)],
        CreateTsDictionary(t) => vec![ts_dictionary::create(ctx, t)],
        DropTsDictionary(t) => vec![ts_dictionary::drop(ctx, t)],
        AlterTsDictionary { from, to } => vec![ts_dictionary::alter(ctx, from, to)],
        CreateTsConfiguration(t) => vec![ts_configuration::create(ctx, t)],
        DropTsConfiguration(t) => vec![ts_configuration::drop(ctx, t)],
        AlterTsConfiguration { from, to } => vec![ts_configuration::alter(ctx, from, to)],
        CreateOperator(o) => vec![operator::create(ctx, o)],
        DropOperator(o) => vec![operator::drop(ctx, o)],
        CreateOperatorFamily(f) => vec![operator_family::create(ctx, f)],
        DropOperatorFamily(f) => vec![operator_family::drop(ctx, f)],
        AlterOperatorFamily { from, to } => vec![operator_family::alter(ctx, from, to)],
        CreateOperatorClass(c) => vec![operator_class::create(ctx, c)],
        DropOperatorClass(c) => vec![operator_class::drop(ctx, c)],
        SetComment { on, comment } => vec![comment::set(ctx, on, comment.as_deref())],
        SetOwner { on, owner } => vec![owner::set(ctx, on, owner)],
        Grant(g) => vec![grant::grant(ctx, g)],
        Revoke(g) => vec![grant::revoke(ctx, g)],
        ResetPrivileges { on, grantees } => vec![grant::reset(ctx, on, grantees)],
        AlterDefaultPrivilege { entry, add } => vec![grant::default_privilege(ctx, entry, *add)],
        Rename(r) => vec![rename::rename(ctx, r)],
        UndoRename(r) => vec![rename::undo(ctx, r)],
    }
}
