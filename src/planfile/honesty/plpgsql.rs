//! `DO` blocks read through PL/pgSQL's parser (pg_query's `parse_plpgsql`): the SQL statements
//! of the body, and what `EXECUTE format('<template>', ...)` runs, so a step cannot hide a
//! statement from the honesty check inside a block.

use super::statements::name_list;
use super::{sql_effects, Created, Effects};
use pg_query::{protobuf::Node, NodeEnum};

/// A `DO` block: its body through PL/pgSQL's parser, each SQL statement (and each `EXECUTE`
/// of a `format()` template) checked like a step's own.
pub(super) fn do_block(s: &pg_query::protobuf::DoStmt, created: &mut Created, e: &mut Effects) {
    let body = s.args.iter().find_map(|a| match &a.node {
        Some(NodeEnum::DefElem(d)) if d.defname == "as" => {
            match d.arg.as_ref().and_then(|x| x.node.as_ref()) {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            }
        }
        _ => None,
    });
    let language = s.args.iter().find_map(|a| match &a.node {
        Some(NodeEnum::DefElem(d)) if d.defname == "language" => {
            match d.arg.as_ref().and_then(|x| x.node.as_ref()) {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            }
        }
        _ => None,
    });
    let Some(body) = body else { return };
    if language.is_some_and(|l| l != "plpgsql") {
        e.unreadable = Some("a DO block in another language".into());
        return;
    }
    const TAG: &str = "$schemaplan_lint_body$";
    if body.contains(TAG) {
        e.unreadable = Some("a DO block".into());
        return;
    }
    let wrapped = format!(
        "CREATE FUNCTION schemaplan_lint() RETURNS void LANGUAGE plpgsql AS {TAG}{body}{TAG}"
    );
    let Ok(tree) = pg_query::parse_plpgsql(&wrapped) else {
        e.unreadable = Some("a DO block whose body does not parse".into());
        return;
    };
    let mut queries = Vec::new();
    plpgsql_queries(&tree, &mut queries);
    for q in queries {
        match q {
            PlQuery::Static(sql) => match sql_effects(&sql, false, created) {
                Ok(inner) => e.merge(inner),
                Err(_) => e.unreadable = Some("a DO block".into()),
            },
            PlQuery::Dynamic(expr) => match format_template(&expr) {
                Some(sql) => match sql_effects(&sql, false, created) {
                    Ok(inner) => e.merge(inner),
                    Err(_) => e.unreadable = Some(format!("a DO block's EXECUTE {expr}")),
                },
                None => e.unreadable = Some(format!("a DO block's EXECUTE {expr}")),
            },
        }
    }
}

enum PlQuery {
    Static(String),
    Dynamic(String),
}

/// Every SQL statement (`PLpgSQL_stmt_execsql`) and dynamic statement expression
/// (`EXECUTE`, `FOR ... IN EXECUTE`, `OPEN ... FOR EXECUTE`, `RETURN QUERY EXECUTE`) of a
/// parsed PL/pgSQL function, in any nesting.
fn plpgsql_queries(v: &serde_json::Value, out: &mut Vec<PlQuery>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                match k.as_str() {
                    "PLpgSQL_stmt_execsql" => {
                        if let Some(q) = inner
                            .pointer("/sqlstmt/PLpgSQL_expr/query")
                            .and_then(Value::as_str)
                        {
                            out.push(PlQuery::Static(q.to_string()));
                        }
                    }
                    "PLpgSQL_stmt_dynexecute"
                    | "PLpgSQL_stmt_dynfors"
                    | "PLpgSQL_stmt_return_query"
                    | "PLpgSQL_stmt_open" => {
                        for key in ["query", "dynquery"] {
                            if let Some(q) = inner
                                .pointer(&format!("/{key}/PLpgSQL_expr/query"))
                                .and_then(Value::as_str)
                            {
                                out.push(PlQuery::Dynamic(q.to_string()));
                            }
                        }
                    }
                    _ => {}
                }
                plpgsql_queries(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| plpgsql_queries(i, out)),
        _ => {}
    }
}

/// The statement an `EXECUTE` expression runs when it is a string literal or
/// `format('<template>', ...)`, with `%I`/`%s` replaced by a placeholder name and `%L` by a
/// literal, so the statement's kind (and the relations it names literally) can be read.
fn format_template(expr: &str) -> Option<String> {
    let parsed =
        pg_query::parse(&format!("SELECT {expr}"), pg_query::ParserOptions::DEFAULT).ok()?;
    let stmt = parsed
        .protobuf
        .stmts
        .first()?
        .stmt
        .as_ref()?
        .node
        .as_ref()?;
    let NodeEnum::SelectStmt(sel) = stmt else {
        return None;
    };
    let target = sel.target_list.first()?;
    let Some(NodeEnum::ResTarget(rt)) = &target.node else {
        return None;
    };
    let value = rt.val.as_ref()?.node.as_ref()?;
    let template = match value {
        NodeEnum::AConst(c) => const_string(c)?,
        NodeEnum::FuncCall(f) => {
            let name = name_list(&Node {
                node: Some(NodeEnum::List(pg_query::protobuf::List {
                    items: f.funcname.clone(),
                })),
            });
            if name.last().map(String::as_str) != Some("format") {
                return None;
            }
            match f.args.first()?.node.as_ref()? {
                NodeEnum::AConst(c) => const_string(c)?,
                _ => return None,
            }
        }
        _ => return None,
    };
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        // %[position$][flags][width]type
        let mut spec = String::new();
        while let Some(&c) = chars.peek() {
            chars.next();
            if c.is_ascii_alphabetic() || c == '%' {
                spec.push(c);
                break;
            }
        }
        match spec.as_str() {
            "%" => out.push('%'),
            "I" | "s" => out.push_str("schemaplan_placeholder"),
            "L" => out.push_str("'schemaplan_placeholder'"),
            _ => return None,
        }
    }
    Some(out)
}

fn const_string(c: &pg_query::protobuf::AConst) -> Option<String> {
    match c.val.as_ref()? {
        pg_query::protobuf::a_const::Val::Sval(s) => Some(s.sval.clone()),
        _ => None,
    }
}
