-- Ordinary (r) and partitioned (p) tables, partitions included.
SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind AS kind,
       c.relpersistence = 'u' AS unlogged,
       coalesce(c.reloptions, '{}') AS options,
       -- WITH (toast.autovacuum_enabled = off) lands on the toast table, not on the table
       coalesce(ARRAY(SELECT 'toast.' || o FROM unnest(tt.reloptions) o), '{}') AS toast_options,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       c.relreplident AS replident,
       (SELECT ic.relname::text FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = c.oid AND i.indisreplident LIMIT 1) AS replident_index,
       -- pg_get_partkeydef prints the clause without the PARTITION BY keywords: `RANGE (a)`
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       c.relispartition AS is_partition,
       CASE WHEN c.relispartition THEN
         (SELECT pn.nspname::text FROM pg_inherits h JOIN pg_class pc ON pc.oid = h.inhparent
          JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE h.inhrelid = c.oid)
       END AS parent_schema,
       CASE WHEN c.relispartition THEN
         (SELECT pc.relname::text FROM pg_inherits h JOIN pg_class pc ON pc.oid = h.inhparent
          WHERE h.inhrelid = c.oid)
       END AS parent_name,
       -- `FOR VALUES ...` or `DEFAULT`
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       -- plain inheritance parents, in declaration order (a partition has exactly one parent,
       -- reported above instead)
       ARRAY(SELECT pn.nspname::text FROM pg_inherits h JOIN pg_class pc ON pc.oid = h.inhparent
             JOIN pg_namespace pn ON pn.oid = pc.relnamespace
             WHERE h.inhrelid = c.oid AND NOT c.relispartition ORDER BY h.inhseqno) AS inh_schemas,
       ARRAY(SELECT pc.relname::text FROM pg_inherits h JOIN pg_class pc ON pc.oid = h.inhparent
             WHERE h.inhrelid = c.oid AND NOT c.relispartition ORDER BY h.inhseqno) AS inh_names,
       -- relam is 0 for partitioned tables before 17; heap is the default
       CASE WHEN am.amname <> 'heap' THEN am.amname::text END AS access_method,
       -- plan-time fact, not schema (model::Schema::sizes): the heap's main fork in bytes, the
       -- sum over the leaf partitions for a partitioned table (which has no storage itself).
       -- pg_relation_size takes and at once releases an ACCESS SHARE lock on each relation.
       CASE WHEN c.relkind = 'p' THEN
         (SELECT coalesce(sum(pg_relation_size(pt.relid)), 0)::int8
          FROM pg_partition_tree(c.oid) pt WHERE pt.isleaf)
       ELSE pg_relation_size(c.oid) END AS heap_bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class tt ON tt.oid = c.reltoastrelid
LEFT JOIN pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r', 'p')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
