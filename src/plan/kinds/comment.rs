//! `COMMENT ON` any object; also how an object is named in `COMMENT` and `GRANT` statements.

use crate::model::*;
use crate::plan::graph::{Chain, Node, Rank};
use crate::plan::{Ctx, LockLevel};
use crate::render::quote::{ident, literal, operator, qname};

/// The object as `COMMENT ON` names it: `TABLE public.t`, `COLUMN public.t.c`,
/// `FUNCTION public.f(integer)`, `CONSTRAINT c ON public.t` ... Looks the object up in either
/// schema to tell views from materialized views, domains from types, procedures from functions.
pub fn object_ref(ctx: &Ctx, id: &ObjectId) -> String {
    let find_view = |q: &QName| {
        ctx.desired
            .views
            .get(q)
            .or_else(|| ctx.current.views.get(q))
    };
    let find_table = |q: &QName| {
        ctx.desired
            .tables
            .get(q)
            .or_else(|| ctx.current.tables.get(q))
    };
    let find_type = |q: &QName| {
        ctx.desired
            .types
            .get(q)
            .or_else(|| ctx.current.types.get(q))
    };
    match id {
        ObjectId::Schema(n) => format!("SCHEMA {}", ident(n)),
        ObjectId::Extension(n) => format!("EXTENSION {}", ident(n)),
        ObjectId::Collation(q) => format!("COLLATION {}", qname(q)),
        ObjectId::Type(q) => match find_type(q).map(|t| &t.kind) {
            Some(TypeKind::Domain(_)) => format!("DOMAIN {}", qname(q)),
            _ => format!("TYPE {}", qname(q)),
        },
        ObjectId::DomainConstraint(q, c) => {
            format!("CONSTRAINT {} ON DOMAIN {}", ident(c), qname(q))
        }
        ObjectId::Sequence(q) => format!("SEQUENCE {}", qname(q)),
        // `COMMENT ON TABLE` refuses a foreign table (`is not a table`)
        ObjectId::Table(q) if find_table(q).is_some_and(|t| t.is_foreign()) => {
            format!("FOREIGN TABLE {}", qname(q))
        }
        ObjectId::Table(q) => format!("TABLE {}", qname(q)),
        ObjectId::Column(q, c) => format!("COLUMN {}.{}", qname(q), ident(c)),
        ObjectId::Constraint(q, c) => format!("CONSTRAINT {} ON {}", ident(c), qname(q)),
        ObjectId::Index(q) => format!("INDEX {}", qname(q)),
        ObjectId::View(q) => match find_view(q) {
            Some(v) if v.materialized => format!("MATERIALIZED VIEW {}", qname(q)),
            _ => format!("VIEW {}", qname(q)),
        },
        ObjectId::Function(q, args) => {
            let key = (q.clone(), args.to_string());
            let f = ctx
                .desired
                .functions
                .get(&key)
                .or_else(|| ctx.current.functions.get(&key));
            let kw = match f.map(|f| f.kind) {
                Some(FunctionKind::Procedure) => "PROCEDURE",
                Some(FunctionKind::Aggregate) => "AGGREGATE",
                _ => "FUNCTION",
            };
            // A zero-argument aggregate is written `agg(*)`: `AGGREGATE agg()` is a syntax error.
            let args = match (kw, args.as_str()) {
                ("AGGREGATE", "") => "*",
                _ => args.as_str(),
            };
            format!("{kw} {}({args})", qname(q))
        }
        ObjectId::Trigger(q, t) => format!("TRIGGER {} ON {}", ident(t), qname(q)),
        ObjectId::Policy(q, p) => format!("POLICY {} ON {}", ident(p), qname(q)),
        ObjectId::EventTrigger(n) => format!("EVENT TRIGGER {}", ident(n)),
        ObjectId::AccessMethod(n) => format!("ACCESS METHOD {}", ident(n)),
        ObjectId::Conversion(q) => format!("CONVERSION {}", qname(q)),
        ObjectId::Statistics(q) => format!("STATISTICS {}", qname(q)),
        ObjectId::Rule(q, r) => format!("RULE {} ON {}", ident(r), qname(q)),
        ObjectId::Language(n) => format!("LANGUAGE {}", ident(n)),
        ObjectId::ForeignDataWrapper(n) => format!("FOREIGN DATA WRAPPER {}", ident(n)),
        ObjectId::ForeignServer(n) => format!("SERVER {}", ident(n)),
        // format_type's text, already SQL
        ObjectId::Cast(s, t) => format!("CAST ({s} AS {t})"),
        ObjectId::TextSearchDictionary(q) => format!("TEXT SEARCH DICTIONARY {}", qname(q)),
        ObjectId::TextSearchConfiguration(q) => {
            format!("TEXT SEARCH CONFIGURATION {}", qname(q))
        }
        ObjectId::Operator(q, args) => format!("OPERATOR {} ({args})", operator(q)),
        ObjectId::OperatorClass(q, m) => {
            format!("OPERATOR CLASS {} USING {}", qname(q), ident(m))
        }
        ObjectId::OperatorFamily(q, m) => {
            format!("OPERATOR FAMILY {} USING {}", qname(q), ident(m))
        }
        // no comment, owner or privileges of its own; named for completeness
        ObjectId::UserMapping(s, u) => {
            format!("USER MAPPING {}", super::user_mapping::target(s, u))
        }
        // members have no comment, owner or privileges of their own: their publication does
        ObjectId::Publication(p)
        | ObjectId::PublicationTable(p, _)
        | ObjectId::PublicationSchema(p, _) => format!("PUBLICATION {}", ident(p)),
    }
}

pub fn set(ctx: &Ctx, on: &ObjectId, text: Option<&str>) -> Chain {
    let value = text.map(literal).unwrap_or_else(|| "NULL".to_string());
    let verb = if text.is_some() { "set" } else { "remove" };
    let step = ctx.step(
        format!("{verb} comment on {on}"),
        format!("COMMENT ON {} IS {value};", object_ref(ctx, on)),
        LockLevel::None,
        None,
    );
    let mut n = Node::new(step, on.clone());
    n.needs.push(on.clone());
    n.rank = Rank::Decorate;
    vec![n]
}
