//! Collations and types: enums, composites, ranges and domains (`Schema::collations`,
//! `types`; a domain's constraints are read with the table constraints in `relations`),
//! and the derived types (arrays, row types, multiranges) the resolver maps onto them.

use super::{each_row, qname_opt, Reader, COLLATIONS, R, TYPES, TYPE_INDEX};
use crate::catalog::resolve::class::{PG_CLASS, PG_COLLATION, PG_TYPE};
use crate::catalog::CatalogError;
use crate::model::{Collation, Domain, ObjectId, QName, TypeDef, TypeKind};
use crate::render::quote::ident;
use std::collections::BTreeMap;

impl Reader<'_, '_> {
    pub(super) fn collations(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&COLLATIONS)? {
            let r = R {
                row: &row,
                query: COLLATIONS.name,
            };
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            let provider = match r.char("provider")? {
                'c' => "libc",
                'i' => "icu",
                'b' => "builtin",
                _ => "default",
            };
            self.resolver.add_exact(
                PG_COLLATION,
                r.get("oid")?,
                ObjectId::Collation(name.clone()),
            );
            self.schema.collations.insert(
                name.clone(),
                Collation {
                    name,
                    provider: provider.to_string(),
                    locale: r.get("locale")?,
                    lc_collate: r.get("lc_collate")?,
                    lc_ctype: r.get("lc_ctype")?,
                    deterministic: r.get("deterministic")?,
                },
            );
        }
        Ok(())
    }

    /// Derived types (arrays, row types, multiranges) for the resolver.
    pub(super) fn type_index(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&TYPE_INDEX);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            TYPE_INDEX.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let elem: u32 = r.get("elem")?;
                let relid: u32 = r.get("typrelid")?;
                let range: u32 = r.get("range_oid")?;
                if elem != 0 {
                    self.resolver.add_redirect((PG_TYPE, oid), (PG_TYPE, elem));
                } else if relid != 0 {
                    self.resolver
                        .add_redirect((PG_TYPE, oid), (PG_CLASS, relid));
                } else if range != 0 {
                    self.resolver.add_redirect((PG_TYPE, oid), (PG_TYPE, range));
                }
                Ok(())
            },
        )
    }

    pub(super) fn types(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&TYPES);
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            TYPES.name,
            |r| {
                let oid: u32 = r.get("oid")?;
                let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
                let kind = match r.char("kind")? {
                    'e' => TypeKind::Enum(r.get("labels")?),
                    'c' => {
                        let relid: u32 = r.get("typrelid")?;
                        self.composites.insert(relid, name.clone());
                        self.resolver
                            .add_alias(PG_CLASS, relid, ObjectId::Type(name.clone()));
                        TypeKind::Composite(Vec::new())
                    }
                    'r' => {
                        let mut options = Vec::new();
                        let opts: [(&str, &'static str); 4] = [
                            ("subtype_opclass", "rng_opclass"),
                            ("collation", "rng_collation"),
                            ("canonical", "rng_canonical"),
                            ("subtype_diff", "rng_subdiff"),
                        ];
                        for (option, column) in opts {
                            if let Some(v) = r.get::<Option<String>>(column)? {
                                options.push(format!("{option} = {v}"));
                            }
                        }
                        if let Some(mr) = r.get::<Option<Vec<String>>>("rng_multirange")? {
                            if let [schema, mname] = mr.as_slice() {
                                // only when not the name CREATE TYPE derives by itself
                                if *schema != name.schema
                                    || *mname != default_multirange_name(&name.name)
                                {
                                    options.push(format!(
                                        "multirange_type_name = {}.{}",
                                        ident(schema),
                                        ident(mname)
                                    ));
                                }
                            }
                        }
                        TypeKind::Range {
                            subtype: r.get("rng_subtype")?,
                            options,
                        }
                    }
                    _ => {
                        self.domains.insert(oid, name.clone());
                        TypeKind::Domain(Domain {
                            base_type: r.get("base_type")?,
                            collation: qname_opt(
                                r.get("collation_schema")?,
                                r.get("collation_name")?,
                            ),
                            default: r.get("default_expr")?,
                            not_null: r.get("not_null")?,
                            constraints: BTreeMap::new(),
                        })
                    }
                };
                self.resolver
                    .add_exact(PG_TYPE, oid, ObjectId::Type(name.clone()));
                self.schema
                    .types
                    .insert(name.clone(), TypeDef { name, kind });
                Ok(())
            },
        )
    }
}

/// The multirange name `CREATE TYPE ... AS RANGE` picks when none is given: the first
/// `range` in the range type's name replaced by `multirange`, else `_multirange` appended
/// (makeMultirangeTypeName; ignoring the truncation to NAMEDATALEN and the uniqueness suffix).
fn default_multirange_name(range: &str) -> String {
    match range.find("range") {
        Some(i) => format!("{}multirange{}", &range[..i], &range[i + 5..]),
        None => format!("{range}_multirange"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multirange_default_names() {
        assert_eq!(default_multirange_name("floatrange"), "floatmultirange");
        assert_eq!(default_multirange_name("mytype"), "mytype_multirange");
    }
}
