//! [`Schema::compact`]: a schema's B-trees rebuilt with full nodes.
//!
//! Owns only that. A `BTreeMap` filled one key at a time in order (a reading decoded from
//! its file, the catalog's rows in key order) splits each full leaf in two and never fills
//! the left one again: its nodes stay a little over half full. Built from a sorted sequence
//! (`FromIterator`), it fills them. At 5,000 tables that is 8 MiB of a 39 MiB schema (the
//! dependency map alone 4.3 MiB, its 90,000 keys of 32 bytes), and a warm `plan` holds three
//! or four schemas at its peak (issue 9, peak RSS). The same entries, the same order: no
//! reader can tell.

use super::Schema;
use std::collections::{BTreeMap, BTreeSet};

fn map<K: Ord, V>(m: &mut BTreeMap<K, V>) {
    // Below a node's size (eleven entries) there is nothing to give back.
    if m.len() > 11 {
        *m = std::mem::take(m).into_iter().collect();
    }
}

fn set<K: Ord>(s: &mut BTreeSet<K>) {
    if s.len() > 11 {
        *s = std::mem::take(s).into_iter().collect();
    }
}

impl Schema {
    /// Rebuilds every map and set of the schema with full nodes (see the module doc). For a
    /// schema that is kept a while after it was filled (a catalog reading, a reading decoded
    /// from the cache); it costs one pass over each map, and a map changed afterwards only
    /// splits the nodes it inserts into.
    pub fn compact(&mut self) {
        // Every field by name: a new map in `Schema` must be added here (or said to be left).
        let Schema {
            schemas,
            extensions,
            collations,
            types,
            sequences,
            tables,
            indexes,
            views,
            functions,
            triggers,
            policies,
            publications,
            publication_tables,
            publication_schemas,
            event_triggers,
            foreign_data_wrappers,
            foreign_servers,
            user_mappings,
            casts,
            ts_dictionaries,
            ts_configurations,
            operators,
            operator_families,
            operator_classes,
            access_methods,
            conversions,
            languages,
            statistics,
            rules,
            comments,
            grants,
            default_privileges,
            depends,
            owners,
            unmodeled,
            unmodeled_deps,
            sizes,
        } = self;
        map(schemas);
        map(extensions);
        map(collations);
        map(types);
        map(sequences);
        map(tables);
        map(indexes);
        map(views);
        map(functions);
        map(triggers);
        map(policies);
        map(publications);
        map(publication_tables);
        set(publication_schemas);
        map(event_triggers);
        map(foreign_data_wrappers);
        map(foreign_servers);
        map(user_mappings);
        map(casts);
        map(ts_dictionaries);
        map(ts_configurations);
        map(operators);
        map(operator_families);
        map(operator_classes);
        map(access_methods);
        map(conversions);
        map(languages);
        map(statistics);
        map(rules);
        map(comments);
        set(grants);
        set(default_privileges);
        map(depends);
        map(owners);
        set(unmodeled);
        map(unmodeled_deps);
        map(sizes);
    }
}
