//! Extended statistics objects no extension created (`Schema::statistics`).

use super::{Reader, R, STATISTICS};
use crate::catalog::resolve::class::PG_STATISTIC_EXT;
use crate::catalog::CatalogError;
use crate::model::{ObjectId, QName, Statistics};
use crate::render::quote::{ident, qname};

impl Reader<'_, '_> {
    /// Runs after tables and columns and before comments, owners and depends (which map
    /// statistics objects through the resolver; the edges to the table's columns come from
    /// pg_depend, `parent_edges` adds the table).
    pub(super) fn statistics(&mut self) -> Result<(), CatalogError> {
        for row in self.run(&STATISTICS)? {
            let r = R {
                row: &row,
                query: STATISTICS.name,
            };
            let name = QName::new(r.get::<String>("schema")?, r.get::<String>("name")?);
            let table = QName::new(
                r.get::<String>("table_schema")?,
                r.get::<String>("table_name")?,
            );
            let definition = definition(
                &name,
                &table,
                &r.get::<Vec<String>>("kinds")?,
                &r.get::<Vec<String>>("columns")?,
                &r.get::<Vec<String>>("expressions")?,
            );
            self.resolver.add_exact(
                PG_STATISTIC_EXT,
                r.get("oid")?,
                ObjectId::Statistics(name.clone()),
            );
            self.schema.statistics.insert(
                name.clone(),
                Statistics {
                    name,
                    table,
                    definition,
                    target: r.get("target")?,
                },
            );
        }
        Ok(())
    }
}

/// `CREATE STATISTICS name (kinds) ON columns, (expressions) FROM table`, the columns by name
/// (PostgreSQL keeps them as a set; `pg_get_statisticsobjdef` prints them in the table's
/// column order), the kinds always written except for one expression alone (PostgreSQL refuses
/// kinds there: such an object is the expression's own statistics).
fn definition(
    name: &QName,
    table: &QName,
    kinds: &[String],
    columns: &[String],
    expressions: &[String],
) -> String {
    let kinds: Vec<&str> = kinds
        .iter()
        .filter_map(|k| match k.as_str() {
            "d" => Some("ndistinct"),
            "f" => Some("dependencies"),
            "m" => Some("mcv"),
            _ => None,
        })
        .collect();
    let single_expression = columns.is_empty() && expressions.len() == 1;
    let kinds = if kinds.is_empty() || single_expression {
        String::new()
    } else {
        format!(" ({})", kinds.join(", "))
    };
    let items: Vec<String> = columns
        .iter()
        .map(|c| ident(c))
        .chain(expressions.iter().map(|e| format!("({e})")))
        .collect();
    format!(
        "CREATE STATISTICS {}{kinds} ON {} FROM {}",
        qname(name),
        items.join(", "),
        qname(table)
    )
}
