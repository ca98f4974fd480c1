//! Functions, procedures and aggregates (`Schema::functions`; an aggregate's `CREATE
//! AGGREGATE` is assembled here from pg_aggregate) and triggers (`Schema::triggers`).

use super::{each_row, Reader, FUNCTIONS, R, TRIGGERS};
use crate::catalog::resolve::class::{PG_PROC, PG_TRIGGER};
use crate::catalog::CatalogError;
use crate::model::{Function, FunctionKind, ObjectId, QName, Trigger};
use crate::render::quote::literal;

impl Reader<'_, '_> {
    pub(super) fn functions(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&FUNCTIONS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            FUNCTIONS.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
                let identity_args: String = r.get("identity_args")?;
                let arguments: String = r.get("arguments")?;
                let kind = match r.char("kind")? {
                    'p' => FunctionKind::Procedure,
                    'a' => FunctionKind::Aggregate,
                    _ => FunctionKind::Function, // 'f', and 'w' (WINDOW functions)
                };
                let definition = if kind == FunctionKind::Aggregate {
                    aggregate_definition(&r, &arguments)?
                } else {
                    r.get::<Option<String>>("definition")?.unwrap_or_default()
                };
                self.resolver.add_exact(
                    PG_PROC,
                    oid,
                    ObjectId::Function(name.clone(), identity_args.as_str().into()),
                );
                self.schema.functions.insert(
                    (name.clone(), identity_args.clone()),
                    Function {
                        name,
                        identity_args,
                        arg_types: r.get("arg_types")?,
                        kind,
                        definition,
                        result: r.get("result")?,
                        arguments,
                    },
                );
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(super) fn triggers(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&TRIGGERS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            TRIGGERS.name,
            |r| {
                let table = QName::new(r.get::<String>("schema")?, r.get::<String>("table_name")?);
                let name: String = r.get("name")?;
                self.resolver.add_exact(
                    PG_TRIGGER,
                    r.get("oid")?,
                    ObjectId::Trigger(table.clone(), name.as_str().into()),
                );
                self.schema.triggers.insert(
                    (table.clone(), name.clone()),
                    Trigger {
                        table,
                        name,
                        definition: r.get("definition")?,
                        enabled: r.char("enabled")?,
                    },
                );
                Ok(())
            },
        )
    }
}

/// `CREATE AGGREGATE` text assembled from pg_aggregate (pg_get_functiondef does not do
/// aggregates), in pg_dump's layout, options in its order, each only when not the default.
fn aggregate_definition(r: &R<'_>, arguments: &str) -> Result<String, CatalogError> {
    let qualified: String = r.get("qualified")?;
    let aggkind = r.char("aggkind")?;
    let args = if arguments.is_empty() { "*" } else { arguments };
    let mut opts = vec![
        format!("SFUNC = {}", r.get::<String>("sfunc")?),
        format!("STYPE = {}", r.get::<String>("stype")?),
    ];
    let sspace: i32 = r.get("sspace")?;
    if sspace != 0 {
        opts.push(format!("SSPACE = {sspace}"));
    }
    if let Some(v) = r.get::<Option<String>>("initcond")? {
        opts.push(format!("INITCOND = {}", literal(&v)));
    }
    // READ_ONLY is the default for normal aggregates, READ_WRITE for ordered-set ones
    let default_modify = if aggkind == 'n' { 'r' } else { 'w' };
    let modify = |c: char| match c {
        'r' => "READ_ONLY",
        's' => "SHAREABLE",
        _ => "READ_WRITE",
    };
    if let Some(f) = r.get::<Option<String>>("finalfunc")? {
        opts.push(format!("FINALFUNC = {f}"));
        if r.get::<bool>("finalfunc_extra")? {
            opts.push("FINALFUNC_EXTRA".to_string());
        }
        let m = r.char("finalfunc_modify")?;
        if m != default_modify {
            opts.push(format!("FINALFUNC_MODIFY = {}", modify(m)));
        }
    }
    for (option, column) in [
        ("COMBINEFUNC", "combinefunc"),
        ("SERIALFUNC", "serialfunc"),
        ("DESERIALFUNC", "deserialfunc"),
    ] {
        if let Some(f) = r.get::<Option<String>>(column)? {
            opts.push(format!("{option} = {f}"));
        }
    }
    if let Some(f) = r.get::<Option<String>>("msfunc")? {
        opts.push(format!("MSFUNC = {f}"));
        if let Some(f) = r.get::<Option<String>>("minvfunc")? {
            opts.push(format!("MINVFUNC = {f}"));
        }
        if let Some(t) = r.get::<Option<String>>("mstype")? {
            opts.push(format!("MSTYPE = {t}"));
        }
        let msspace: i32 = r.get("msspace")?;
        if msspace != 0 {
            opts.push(format!("MSSPACE = {msspace}"));
        }
        if let Some(f) = r.get::<Option<String>>("mfinalfunc")? {
            opts.push(format!("MFINALFUNC = {f}"));
            if r.get::<bool>("mfinalfunc_extra")? {
                opts.push("MFINALFUNC_EXTRA".to_string());
            }
            let m = r.char("mfinalfunc_modify")?;
            if m != default_modify {
                opts.push(format!("MFINALFUNC_MODIFY = {}", modify(m)));
            }
        }
        if let Some(v) = r.get::<Option<String>>("minitcond")? {
            opts.push(format!("MINITCOND = {}", literal(&v)));
        }
    }
    if let Some(op) = r.get::<Option<String>>("sortop")? {
        opts.push(format!("SORTOP = {op}"));
    }
    match r.char("parallel")? {
        's' => opts.push("PARALLEL = safe".to_string()),
        'r' => opts.push("PARALLEL = restricted".to_string()),
        _ => {}
    }
    if aggkind == 'h' {
        opts.push("HYPOTHETICAL".to_string());
    }
    Ok(format!(
        "CREATE AGGREGATE {qualified}({args}) (\n    {}\n);",
        opts.join(",\n    ")
    ))
}
