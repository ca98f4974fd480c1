//! Operators, operator families and operator classes (`Schema::operators`,
//! `operator_families`, `operator_classes`).
//!
//! A family's and a class's members (`pg_amop`, `pg_amproc` rows) are read in one query and
//! sorted to whichever owns them (`pg_depend`): written in `CREATE OPERATOR CLASS` (the class)
//! or added to the family on their own (`ALTER OPERATOR FAMILY ... ADD`). The member rows are
//! registered as aliases of their owner, so an index's edge to its class, and a member's edge
//! to its operator or function, map onto modeled objects.

use super::{Reader, OPERATORS, OPERATOR_CLASSES, OPERATOR_FAMILIES, OPERATOR_MEMBERS, R};
use crate::catalog::resolve::class::{PG_OPCLASS, PG_OPERATOR, PG_OPFAMILY};
use crate::catalog::CatalogError;
use crate::model::{ObjectId, OpFamilyMember, Operator, OperatorClass, OperatorFamily, QName};
use std::collections::HashMap;

fn qname_of(
    r: &R,
    schema: &'static str,
    name: &'static str,
) -> Result<Option<QName>, CatalogError> {
    Ok(
        match (
            r.get::<Option<String>>(schema)?,
            r.get::<Option<String>>(name)?,
        ) {
            (Some(s), Some(n)) => Some(QName::new(s, n)),
            _ => None,
        },
    )
}

impl Reader<'_, '_> {
    /// Runs after functions and types (which the members name) and before comments, owners
    /// and depends (which map these objects through the resolver).
    pub(super) fn operators(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&OPERATORS)? {
            let r = R {
                row: &row,
                query: OPERATORS.name,
            };
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            let function = match (
                qname_of(&r, "function_schema", "function_name")?,
                r.get::<Option<String>>("function_args")?,
            ) {
                (Some(f), Some(a)) => (f, a),
                _ => continue, // a shell operator (no function): not modeled
            };
            let op = Operator {
                name: name.clone(),
                left: r.get("left_type")?,
                right: r.get("right_type")?,
                function,
                commutator: qname_of(&r, "commutator_schema", "commutator_name")?,
                negator: qname_of(&r, "negator_schema", "negator_name")?,
                restrict: qname_of(&r, "restrict_schema", "restrict_name")?,
                join: qname_of(&r, "join_schema", "join_name")?,
                hashes: r.get("hashes")?,
                merges: r.get("merges")?,
            };
            let args = op.args();
            self.resolver.add_exact(
                PG_OPERATOR,
                r.get("oid")?,
                ObjectId::Operator(name.clone(), args.as_str().into()),
            );
            self.schema.operators.insert((name, args), op);
        }
        // family / class oid -> its key
        let mut families: HashMap<u32, (QName, String)> = HashMap::new();
        let mut classes: HashMap<u32, (QName, String)> = HashMap::new();
        for row in self.run(&OPERATOR_FAMILIES)? {
            let r = R {
                row: &row,
                query: OPERATOR_FAMILIES.name,
            };
            let oid: u32 = r.get("oid")?;
            let key = (
                QName::new(r.get::<String>("schema")?, r.get::<String>("name")?),
                r.get::<String>("method")?,
            );
            self.resolver.add_exact(
                PG_OPFAMILY,
                oid,
                ObjectId::OperatorFamily(key.0.clone(), key.1.as_str().into()),
            );
            self.schema.operator_families.insert(
                key.clone(),
                OperatorFamily {
                    name: key.0.clone(),
                    method: key.1.clone(),
                    members: Vec::new(),
                },
            );
            families.insert(oid, key);
        }
        for row in self.run(&OPERATOR_CLASSES)? {
            let r = R {
                row: &row,
                query: OPERATOR_CLASSES.name,
            };
            let oid: u32 = r.get("oid")?;
            let key = (
                QName::new(r.get::<String>("schema")?, r.get::<String>("name")?),
                r.get::<String>("method")?,
            );
            let Some(family) = qname_of(&r, "family_schema", "family_name")? else {
                continue;
            };
            self.resolver.add_exact(
                PG_OPCLASS,
                oid,
                ObjectId::OperatorClass(key.0.clone(), key.1.as_str().into()),
            );
            self.schema.operator_classes.insert(
                key.clone(),
                OperatorClass {
                    name: key.0.clone(),
                    method: key.1.clone(),
                    type_name: r.get("type_name")?,
                    default: r.get("is_default")?,
                    family,
                    storage: r.get("storage")?,
                    members: Vec::new(),
                },
            );
            classes.insert(oid, key);
        }
        for row in self.run(&OPERATOR_MEMBERS)? {
            let r = R {
                row: &row,
                query: OPERATOR_MEMBERS.name,
            };
            let member = OpFamilyMember {
                function: r.get("is_function")?,
                number: r.get("number")?,
                left: r.get("left_type")?,
                right: r.get("right_type")?,
                target: r.get("target")?,
                order_by: r.get("order_by")?,
            };
            let owner: u32 = r.get("owner_oid")?;
            let (id, members) = if r.get::<bool>("owner_is_class")? {
                let Some(key) = classes.get(&owner) else {
                    continue; // a member of an extension's class
                };
                (
                    ObjectId::OperatorClass(key.0.clone(), key.1.as_str().into()),
                    self.schema
                        .operator_classes
                        .get_mut(key)
                        .map(|c| &mut c.members),
                )
            } else {
                let Some(key) = families.get(&owner) else {
                    continue;
                };
                (
                    ObjectId::OperatorFamily(key.0.clone(), key.1.as_str().into()),
                    self.schema
                        .operator_families
                        .get_mut(key)
                        .map(|f| &mut f.members),
                )
            };
            if let Some(m) = members {
                m.push(member);
            }
            self.resolver
                .add_alias(r.get::<u32>("classid")?, r.get("oid")?, id);
        }
        for c in self.schema.operator_classes.values_mut() {
            c.members.sort();
        }
        for f in self.schema.operator_families.values_mut() {
            f.members.sort();
        }
        Ok(())
    }
}
