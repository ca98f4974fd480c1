//! Relations and what they are made of: tables (foreign and partitioned ones included),
//! views and materialized views, sequences (identity sequences become their column's
//! options), columns (of tables, views and composite types), constraints (of tables and
//! domains) and indexes (`Schema::tables`, `views`, `sequences`, `indexes`).

use super::{
    each_row, foreign, index_keys, qname_opt, Reader, COLUMNS, CONSTRAINTS, INDEXES, SEQUENCES,
    TABLES, VIEWS,
};
use crate::catalog::resolve::class::{PG_CLASS, PG_CONSTRAINT, PG_REWRITE};
use crate::catalog::CatalogError;
use crate::model::*;

impl Reader<'_, '_> {
    pub(super) fn tables(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&TABLES);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            TABLES.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
                let kind = if r.char("kind")? == 'p' {
                    TableKind::Partitioned
                } else {
                    TableKind::Ordinary
                };
                // storage parameters are a set, kept in the order they were written (which is
                // what pg_dump prints, so plans write them in that order too); diff and the
                // fingerprint compare them as a set (`model::same_options`)
                let mut options: Vec<String> = r.get("options")?;
                options.extend(r.get::<Vec<String>>("toast_options")?);
                let replica_identity = match r.char("replident")? {
                    'n' => ReplicaIdentity::Nothing,
                    'f' => ReplicaIdentity::Full,
                    // 'i' whose index was dropped behaves like NOTHING
                    'i' => match r.get::<Option<String>>("replident_index")? {
                        Some(ix) => ReplicaIdentity::Index(ix),
                        None => ReplicaIdentity::Nothing,
                    },
                    _ => ReplicaIdentity::Default,
                };
                let partition_of = if r.get::<bool>("is_partition")? {
                    match (
                        r.get::<Option<String>>("parent_schema")?,
                        r.get::<Option<String>>("parent_name")?,
                        r.get::<Option<String>>("partition_bound")?,
                    ) {
                        (Some(s), Some(n), Some(b)) => Some((QName::new(s, n), b)),
                        _ => None,
                    }
                } else {
                    None
                };
                let inherits = r
                    .get::<Vec<String>>("inh_schemas")?
                    .into_iter()
                    .zip(r.get::<Vec<String>>("inh_names")?)
                    .map(|(s, n)| QName::new(s, n))
                    .collect();
                // A foreign table: its server and options (secrets by key only).
                let foreign = match r.get::<Option<String>>("foreign_server")? {
                    Some(server) => Some(ForeignTable {
                        server,
                        options: foreign::options_from(&r, "option_keys", "option_values")?,
                    }),
                    None => None,
                };
                self.resolver
                    .add_exact(PG_CLASS, oid, ObjectId::Table(name.clone()));
                self.tables.insert(oid, name.clone());
                // NULL when the table was dropped meanwhile: size unknown
                if let Some(bytes) = r.get::<Option<i64>>("heap_bytes")? {
                    self.schema.sizes.insert(name.clone(), bytes.max(0) as u64);
                }
                self.schema.tables.insert(
                    name.clone(),
                    Table {
                        name,
                        kind,
                        unlogged: r.get("unlogged")?,
                        columns: Vec::new(),
                        constraints: Default::default(),
                        partition_key: r.get("partition_key")?,
                        partition_key_columns: r.get("partition_key_columns")?,
                        key_copies: Default::default(),
                        unvalidated_copies: Default::default(),
                        partition_of,
                        inherits,
                        options,
                        rls_enabled: r.get("rls_enabled")?,
                        rls_forced: r.get("rls_forced")?,
                        replica_identity,
                        access_method: r.get("access_method")?,
                        foreign,
                    },
                );
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(super) fn views(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&VIEWS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            VIEWS.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
                self.resolver
                    .add_exact(PG_CLASS, oid, ObjectId::View(name.clone()));
                if let Some(rule) = r.get::<Option<u32>>("rule_oid")? {
                    self.resolver
                        .add_alias(PG_REWRITE, rule, ObjectId::View(name.clone()));
                }
                self.views.insert(oid, name.clone());
                if let Some(bytes) = r.get::<Option<i64>>("heap_bytes")? {
                    self.schema.sizes.insert(name.clone(), bytes.max(0) as u64);
                }
                // a set in the order written; compared as a set (see tables above)
                let options: Vec<String> = r.get("options")?;
                self.schema.views.insert(
                    name.clone(),
                    View {
                        name,
                        materialized: r.get("materialized")?,
                        definition: r.get("definition")?,
                        options,
                        columns: Vec::new(),
                        populated: r.get("populated")?,
                    },
                );
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(super) fn sequences(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&SEQUENCES);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            SEQUENCES.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
                let data_type: String = r.get("data_type")?;
                let (start, increment, min, max, cache, cycle) = (
                    r.get::<i64>("start")?,
                    r.get::<i64>("increment")?,
                    r.get::<i64>("min_value")?,
                    r.get::<i64>("max_value")?,
                    r.get::<i64>("cache")?,
                    r.get::<bool>("cycle")?,
                );
                let owner_deptype = r
                    .get::<Option<i8>>("owner_deptype")?
                    .map(|c| c as u8 as char);
                let owner = match (
                    r.get::<Option<String>>("owner_schema")?,
                    r.get::<Option<String>>("owner_table")?,
                    r.get::<Option<String>>("owner_column")?,
                ) {
                    (Some(s), Some(t), Some(c)) => Some((QName::new(s, t), c)),
                    _ => None,
                };
                if owner_deptype == Some('i') {
                    // The sequence behind an identity column: part of the column, not a sequence
                    // of its own. Only options that differ from the identity defaults are kept, so
                    // the sequence's generated name and the defaults never show up as differences.
                    let rel: u32 = r.get("owner_relid")?;
                    let attnum: i16 = r.get("owner_attnum")?;
                    self.identity_options.insert(
                        (rel, attnum),
                        identity_options(&data_type, start, increment, min, max, cache, cycle),
                    );
                    if let Some((t, c)) = owner {
                        self.resolver
                            .add_alias(PG_CLASS, oid, ObjectId::Column(t, c.into()));
                    }
                    return Ok(());
                }
                self.resolver
                    .add_exact(PG_CLASS, oid, ObjectId::Sequence(name.clone()));
                self.schema.sequences.insert(
                    name.clone(),
                    Sequence {
                        name,
                        data_type,
                        start,
                        increment,
                        min_value: min,
                        max_value: max,
                        cache,
                        cycle,
                        owned_by: if owner_deptype == Some('a') {
                            owner
                        } else {
                            None
                        },
                        unlogged: r.get("unlogged")?,
                    },
                );
                Ok(())
            },
        )
    }

    pub(super) fn columns(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&COLUMNS);
        // Streamed: one row per attribute of every relation (see `each_row`). The closure
        // borrows the reader's other fields while `self.tx` hands out the rows.
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            COLUMNS.name,
            |r| {
                let rel: u32 = r.get("attrelid")?;
                let attnum: i16 = r.get("attnum")?;
                let name: String = r.get("name")?;
                let type_name: String = r.get("type_name")?;
                let collation = qname_opt(r.get("collation_schema")?, r.get("collation_name")?);
                if let Some(tname) = self.tables.get(&rel) {
                    let identity = match r.char("identity")? {
                        'a' | 'd' => Some(Identity {
                            always: r.char("identity")? == 'a',
                            sequence_options: self
                                .identity_options
                                .remove(&(rel, attnum))
                                .unwrap_or_default(),
                        }),
                        _ => None,
                    };
                    let generated_kind = r.char("generated")?;
                    let expr: Option<String> = r.get("default_expr")?;
                    let (default, generated) = match generated_kind {
                        's' | 'v' => (None, expr),
                        _ => (expr, None),
                    };
                    let default_volatile =
                        default.is_some() && r.get::<bool>("default_volatile")?;
                    if let Some(ad) = r.get::<Option<u32>>("attrdef_oid")? {
                        self.resolver.add_attrdef(ad, rel, attnum);
                    }
                    let id = ObjectId::Column(tname.clone(), name.as_str().into());
                    self.resolver.add_column(rel, attnum, id);
                    let not_null: bool = r.get("not_null")?;
                    let inherited: bool = r.get("inherited")?;
                    // Inherited columns' NOT NULL comes with the parent's (`Column::not_null_name`):
                    // its name is kept (a detached partition keeps it), its flags are the parent's.
                    let own_not_null = not_null && !inherited;
                    let not_null_name = r
                        .get::<Option<String>>("not_null_name")?
                        .filter(|_| not_null);
                    let column = Column {
                        name: name.into(),
                        type_name: type_name.into(),
                        collation: collation.map(Box::new),
                        not_null,
                        not_null_not_valid: own_not_null && !r.get::<bool>("not_null_valid")?,
                        not_null_no_inherit: own_not_null
                            && r.get::<bool>("not_null_no_inherit")?,
                        not_null_name: not_null_name.map(Box::new),
                        default,
                        default_volatile,
                        identity: identity.map(Box::new),
                        generated: generated.map(Box::new),
                        generated_virtual: generated_kind == 'v',
                        compression: r.get::<Option<String>>("compression")?.map(Box::new),
                        storage: r
                            .get::<Option<String>>("storage")?
                            .map(|s| Box::new(storage_name(&s).to_string())),
                        default_storage: storage_name(&r.get::<String>("default_storage")?)
                            .to_string()
                            .into(),
                        statistics: r.get("statistics")?,
                        attoptions: r.get("attoptions")?,
                        inherited,
                        is_local: r.get("is_local")?,
                        fdw_options: foreign::options_from(
                            &r,
                            "fdw_option_keys",
                            "fdw_option_values",
                        )?,
                    };
                    if let Some(t) = self.schema.tables.get_mut(tname) {
                        t.columns.push(column);
                    }
                } else if let Some(vname) = self.views.get(&rel) {
                    let id = ObjectId::Column(vname.clone(), name.as_str().into());
                    self.resolver.add_other_column(rel, attnum, id);
                    if let Some(v) = self.schema.views.get_mut(vname) {
                        v.columns.push((name, type_name));
                    }
                } else if let Some(cname) = self.composites.get(&rel) {
                    let id = ObjectId::Column(cname.clone(), name.as_str().into());
                    self.resolver.add_other_column(rel, attnum, id);
                    if let Some(TypeDef {
                        kind: TypeKind::Composite(attrs),
                        ..
                    }) = self.schema.types.get_mut(cname)
                    {
                        attrs.push(Attribute {
                            name,
                            type_name,
                            collation,
                        });
                    }
                }
                Ok(())
            },
        )
    }

    pub(super) fn constraints(&mut self) -> Result<(), CatalogError> {
        // Inherited copies on partitions read now: (oid, index oid, parent constraint oid).
        // Their chains to the constraints that create them go through the resolver, which
        // also knows the copies of a splice's unchanged tables (`catalog::splice`).
        let mut copies: Vec<(u32, Option<u32>, u32)> = Vec::new();
        let text = self.sql(&CONSTRAINTS);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            CONSTRAINTS.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name: String = r.get("name")?;
                let conrelid: u32 = r.get("conrelid")?;
                let contypid: u32 = r.get("contypid")?;
                if let Some(dname) = self.domains.get(&contypid) {
                    let id = ObjectId::DomainConstraint(dname.clone(), name.as_str().into());
                    self.resolver.add_exact(PG_CONSTRAINT, oid, id);
                    if let Some(TypeDef {
                        kind: TypeKind::Domain(d),
                        ..
                    }) = self.schema.types.get_mut(dname)
                    {
                        d.constraints.insert(
                            name,
                            DomainCheck {
                                definition: r.get("definition")?,
                                validated: r.get("validated")?,
                            },
                        );
                    }
                    return Ok(());
                }
                let Some(tname) = self.tables.get(&conrelid).cloned() else {
                    return Ok(()); // a constraint of an unmodeled relation (an extension member)
                };
                let is_local: bool = r.get("is_local")?;
                if !is_local {
                    // Only inherited (a partition's copy of its parent's PK, a child's copy of an
                    // inherited CHECK): created by the parent's constraint, not declared here.
                    // a CHECK copy left NOT VALID by its parent's NOT VALID constraint (not
                    // a NOT ENFORCED one, PostgreSQL 18, which reads as not validated too)
                    let definition: String = r.get("definition")?;
                    if r.char("kind")? == 'c'
                        && !r.get::<bool>("validated")?
                        && !definition.ends_with(crate::model::NOT_ENFORCED)
                    {
                        if let Some(t) = self.schema.tables.get_mut(&tname) {
                            t.unvalidated_copies.insert(name.clone());
                        }
                    }
                    let parent: u32 = r.get("parent_constraint")?;
                    if parent != 0 {
                        copies.push((oid, r.get("index_oid")?, parent));
                        self.resolver.add_copy(oid, conrelid, parent);
                        // a partition's copy of a key: listed by its name (`Table::key_copies`)
                        let of: Option<String> = r.get("parent_constraint_name")?;
                        if let (Some(of), 'p' | 'u' | 'x') = (of, r.char("kind")?) {
                            if let Some(t) = self.schema.tables.get_mut(&tname) {
                                let definition = r.get("definition")?;
                                t.key_copies.insert(name, KeyCopy { of, definition });
                            }
                        }
                    }
                    return Ok(());
                }
                let kind = match r.char("kind")? {
                    'p' => ConstraintKind::PrimaryKey,
                    'u' => ConstraintKind::Unique,
                    'f' => ConstraintKind::ForeignKey,
                    'x' => ConstraintKind::Exclude,
                    _ => ConstraintKind::Check,
                };
                let id = ObjectId::Constraint(tname.clone(), name.as_str().into());
                self.resolver.add_exact(PG_CONSTRAINT, oid, id.clone());
                if let Some(ix) = r.get::<Option<u32>>("index_oid")? {
                    if ix != 0 {
                        self.resolver.add_alias(PG_CLASS, ix, id);
                    }
                }
                let constraint = Constraint {
                    name: name.clone(),
                    kind,
                    definition: r.get("definition")?,
                    validated: r.get("validated")?,
                    is_local,
                    references: qname_opt(r.get("ref_schema")?, r.get("ref_name")?),
                    columns: r.get("columns")?,
                    parent_index: qname_opt(
                        r.get("index_parent_schema")?,
                        r.get("index_parent_name")?,
                    ),
                    collations: index_keys::read(&r)?,
                };
                if let Some(t) = self.schema.tables.get_mut(&tname) {
                    t.constraints.insert(constraint);
                }
                Ok(())
            },
        )?;
        // A foreign key to a partition records the unique index it uses, which may be the
        // partition's copy of its partitioned table's PRIMARY KEY / UNIQUE: that index stands
        // for the partitioned table's constraint (through every level), which creates it.
        for (oid, index, parent) in &copies {
            let (mut at, mut hops) = (*parent, 0);
            while let Some(up) = self.resolver.copy_parent(at) {
                at = up;
                hops += 1;
                if hops > 64 {
                    break;
                }
            }
            // a table's own constraint (domain constraints are never a copy's parent)
            let listed = self.resolver.exact(PG_CONSTRAINT, at, 0);
            if let (Some(ix), Some(id)) = (index.filter(|&i| i != 0), listed) {
                let rel = self.resolver.copy_table(*oid).unwrap_or_default();
                self.resolver.add_copy_index(ix, rel, id);
            }
        }
        Ok(())
    }

    pub(super) fn indexes(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&INDEXES);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            INDEXES.name,
            |r| {
                if r.get::<Option<u32>>("constraint_oid")?.is_some() {
                    // part of its constraint (mapped onto it in constraints())
                    return Ok(());
                }
                let oid: u32 = r.get("oid")?;
                let schema: String = r.get("schema")?;
                let name = QName::new(schema.clone(), r.get::<String>("name")?);
                self.resolver
                    .add_exact(PG_CLASS, oid, ObjectId::Index(name.clone()));
                self.schema.indexes.insert(
                    name.clone(),
                    Index {
                        name,
                        table: QName::new(schema, r.get::<String>("table_name")?),
                        definition: r.get("definition")?,
                        unique: r.get("is_unique")?,
                        on_partitioned_table: r.get("on_partitioned_table")?,
                        parent_index: qname_opt(r.get("parent_schema")?, r.get("parent_name")?),
                        valid: r.get("valid")?,
                        collations: index_keys::read(&r)?,
                    },
                );
                Ok(())
            },
        )?;
        Ok(())
    }
}

/// The options of an identity column's sequence that differ from what `GENERATED ... AS
/// IDENTITY` without options would create for a column of `data_type`, rendered as in
/// `CREATE SEQUENCE` (`START WITH 5`, `INCREMENT BY 2`, `MINVALUE 0`, `MAXVALUE 100`,
/// `CACHE 10`, `CYCLE`).
///
/// Defaults (as for CREATE SEQUENCE): ascending: MINVALUE 1, MAXVALUE the type's maximum;
/// descending: MINVALUE the type's minimum, MAXVALUE -1; START WITH MINVALUE (ascending) or
/// MAXVALUE (descending) — of the actual bounds, so `MINVALUE 10` alone implies START 10;
/// INCREMENT BY 1, CACHE 1, NO CYCLE.
pub(crate) fn identity_options(
    data_type: &str,
    start: i64,
    increment: i64,
    min: i64,
    max: i64,
    cache: i64,
    cycle: bool,
) -> Vec<String> {
    let (type_min, type_max) = match data_type {
        "smallint" => (i64::from(i16::MIN), i64::from(i16::MAX)),
        "integer" => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    let ascending = increment > 0;
    let (def_min, def_max) = if ascending {
        (1, type_max)
    } else {
        (type_min, -1)
    };
    let def_start = if ascending { min } else { max };
    let mut out = Vec::new();
    if start != def_start {
        out.push(format!("START WITH {start}"));
    }
    if increment != 1 {
        out.push(format!("INCREMENT BY {increment}"));
    }
    if min != def_min {
        out.push(format!("MINVALUE {min}"));
    }
    if max != def_max {
        out.push(format!("MAXVALUE {max}"));
    }
    if cache != 1 {
        out.push(format!("CACHE {cache}"));
    }
    if cycle {
        out.push("CYCLE".to_string());
    }
    out
}

/// `attstorage` / `typstorage` as `SET STORAGE` spells it.
fn storage_name(code: &str) -> &'static str {
    match code {
        "p" => "PLAIN",
        "e" => "EXTERNAL",
        "m" => "MAIN",
        _ => "EXTENDED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_defaults_render_nothing() {
        assert!(identity_options("integer", 1, 1, 1, i32::MAX as i64, 1, false).is_empty());
        // descending: the bounds and start follow the direction
        assert_eq!(
            identity_options("bigint", -1, -1, i64::MIN, -1, 1, false),
            vec!["INCREMENT BY -1"]
        );
        assert_eq!(
            identity_options("bigint", 5, 2, 1, i64::MAX, 10, true),
            vec!["START WITH 5", "INCREMENT BY 2", "CACHE 10", "CYCLE"]
        );
        // MINVALUE alone moves the default start with it
        assert_eq!(
            identity_options("smallint", 10, 1, 10, 100, 1, false),
            vec!["MINVALUE 10", "MAXVALUE 100"]
        );
    }
}
