//! Dependency edges (`Schema::depends`): `pg_depend` rows mapped onto object ids through the
//! resolver, and the structural edges `pg_depend` does not record (a column needs its table,
//! ...). Runs last of the modeled kinds: every object must be registered first.

use super::{each_row, Reader, DEPENDS};
use crate::catalog::{splice, CatalogError};
use crate::model::{ObjectId, QName, Schema, TypeKind};

impl Reader<'_, '_> {
    pub(super) fn depends(&mut self) -> Result<(), CatalogError> {
        let text = self.sql(&DEPENDS);
        // Streamed (see `each_row`): the biggest query, several rows per object.
        each_row(
            self.tx,
            self.cache.as_deref_mut(),
            self.digest.as_mut(),
            &text,
            DEPENDS.name,
            |r| {
                let Some(dependent) =
                    self.resolver
                        .owning(r.get("classid")?, r.get("objid")?, r.get("objsubid")?)
                else {
                    return Ok(());
                };
                let Some(referenced) = self.resolver.owning(
                    r.get("refclassid")?,
                    r.get("refobjid")?,
                    r.get("refobjsubid")?,
                ) else {
                    return Ok(());
                };
                // OWNED BY (sequence -> column, deptype 'a') is modeled as Sequence::owned_by. As an
                // edge it would close a cycle with the column default's nextval() reference
                // (column -> sequence) that every serial column has.
                if matches!(
                    (&dependent, &referenced),
                    (ObjectId::Sequence(_), ObjectId::Column(..))
                ) {
                    return Ok(());
                }
                if let ObjectId::Column(t, _) = &referenced {
                    // whatever reads a column also needs its table (a view on t.a needs t)
                    self.schema
                        .add_dependency(dependent.clone(), ObjectId::Table(t.clone()));
                }
                self.schema.add_dependency(dependent, referenced);
                Ok(())
            },
        )?;
        self.parent_edges();
        Ok(())
    }

    /// Edges pg_depend does not record because they are structural: a column, constraint,
    /// trigger, rule or policy needs its table (or view), an index or statistics object its
    /// table (or materialized view), a domain constraint its domain.
    ///
    /// In a splice (`catalog::splice`), only for the roots read again: the others' edges are
    /// in the previous reading already.
    pub(super) fn parent_edges(&mut self) {
        let only = self
            .splicing
            .then(|| splice::fresh_roots(&self.resolver, &self.schema));
        let want = |s: &Schema, id: ObjectId| {
            only.as_ref()
                .is_none_or(|roots| roots.contains(&splice::root_of(&id, s)))
        };
        // Into the dependency map as they are found (taken out of the schema meanwhile: the
        // loops below read the schema's other maps), not collected first: a list of every
        // edge of a big schema was a transient ~20 MiB at 5,000 tables (issue 9).
        let mut edges = Edges(std::mem::take(&mut self.schema.depends));
        let relation = |s: &Schema, q: &QName| {
            if s.views.contains_key(q) {
                ObjectId::View(q.clone())
            } else {
                ObjectId::Table(q.clone())
            }
        };
        for (q, t) in &self.schema.tables {
            if only.is_some() && !want(&self.schema, ObjectId::Table(q.clone())) {
                continue;
            }
            for c in &t.columns {
                edges.push((
                    ObjectId::Column(q.clone(), c.name.clone()),
                    ObjectId::Table(q.clone()),
                ));
            }
            for c in t.constraints.keys() {
                edges.push((
                    ObjectId::Constraint(q.clone(), c.as_str().into()),
                    ObjectId::Table(q.clone()),
                ));
            }
        }
        for (q, i) in &self.schema.indexes {
            if only.is_some() && !want(&self.schema, ObjectId::Index(q.clone())) {
                continue;
            }
            edges.push((ObjectId::Index(q.clone()), relation(&self.schema, &i.table)));
        }
        for (t, n) in self.schema.triggers.keys() {
            if only.is_some()
                && !want(
                    &self.schema,
                    ObjectId::Trigger(t.clone(), n.as_str().into()),
                )
            {
                continue;
            }
            edges.push((
                ObjectId::Trigger(t.clone(), n.as_str().into()),
                relation(&self.schema, t),
            ));
        }
        for (t, n) in self.schema.rules.keys() {
            edges.push((
                ObjectId::Rule(t.clone(), n.as_str().into()),
                relation(&self.schema, t),
            ));
        }
        for (q, st) in &self.schema.statistics {
            edges.push((
                ObjectId::Statistics(q.clone()),
                relation(&self.schema, &st.table),
            ));
        }
        for (t, n) in self.schema.policies.keys() {
            if only.is_some() && !want(&self.schema, ObjectId::Policy(t.clone(), n.as_str().into()))
            {
                continue;
            }
            edges.push((
                ObjectId::Policy(t.clone(), n.as_str().into()),
                ObjectId::Table(t.clone()),
            ));
        }
        for (q, ty) in &self.schema.types {
            if only.is_some() && !want(&self.schema, ObjectId::Type(q.clone())) {
                continue;
            }
            if let TypeKind::Domain(d) = &ty.kind {
                for c in d.constraints.keys() {
                    edges.push((
                        ObjectId::DomainConstraint(q.clone(), c.as_str().into()),
                        ObjectId::Type(q.clone()),
                    ));
                }
            }
        }
        self.schema.depends = edges.0;
    }
}

/// The dependency map being filled by [`Reader::parent_edges`].
struct Edges(std::collections::BTreeMap<ObjectId, crate::model::DepSet>);

impl Edges {
    /// [`Schema::add_dependency`] on the map alone.
    fn push(&mut self, (dependent, referenced): (ObjectId, ObjectId)) {
        if dependent != referenced {
            self.0.entry(dependent).or_default().insert(referenced);
        }
    }
}
