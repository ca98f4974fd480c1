//! Renders a property-test case as SQL: `before.sql` (the live database, with its rows) and
//! `after.sql` (the desired schema as a schema file, with `-- @renamed` / `-- @backfill`
//! annotations), in the fixture format.

use std::fmt::Write as _;

use super::gen::{quote, Case, Change, Family, IndexKind, Table};

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
        if let Some(coll) = &c.collation {
            let _ = write!(s, " COLLATE {coll}");
        }
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
            let extra = u.extra.as_ref();
            if let Some(e) = extra {
                super::kinds::pre(e, u.before.as_ref(), &mut out);
            }
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
            if let Some(e) = extra {
                super::kinds::post(e, Some(t), &mut out);
            }
            out.push('\n');
        }
        out
    }

    /// `after.sql`: the desired schema, as a schema file (annotations included).
    pub fn after_sql(&self) -> String {
        let mut out = String::new();
        for u in &self.units {
            let t = u.after();
            let extra = u.after_knobs();
            if let Some(e) = &extra {
                super::kinds::pre(e, t.as_ref(), &mut out);
            }
            if let Some(t) = &t {
                ddl(t, true, &mut out);
            }
            if let Some(e) = &extra {
                super::kinds::post(e, t.as_ref(), &mut out);
            }
            if t.is_some() || extra.is_some() {
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
            let kind = u
                .extra
                .as_ref()
                .map(|e| format!(" {:?} {:?} ->", e.kind, e.knobs))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  unit {i}:{kind} {} rows; {}",
                u.rows.len(),
                ch.join("; ")
            );
        }
        s
    }
}
