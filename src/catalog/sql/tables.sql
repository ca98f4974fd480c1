-- Ordinary (r), partitioned (p) and foreign (f) tables, partitions included.
SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind AS kind,
       c.relpersistence = 'u' AS unlogged,
       coalesce(c.reloptions, '{}') AS options,
       -- WITH (toast.autovacuum_enabled = off) lands on the toast table, not on the table
       coalesce(ARRAY(SELECT 'toast.' || o FROM unnest(tt.reloptions) o), '{}') AS toast_options,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       -- a foreign table has relreplident 'n' and cannot change it: read as the default
       CASE WHEN c.relkind = 'f' THEN 'd'::"char" ELSE c.relreplident END AS replident,
       (SELECT ic.relname::text FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = c.oid AND i.indisreplident LIMIT 1) AS replident_index,
       -- pg_get_partkeydef prints the clause without the PARTITION BY keywords: `RANGE (a)`
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       -- the columns the partition key names, plainly (`partattrs`) or inside a key
       -- expression: PostgreSQL makes each such column depend on its own table (pg_depend
       -- from the column to the table, `i`; `a` before 12), which is what keeps it from being
       -- dropped or retyped. Read here rather than from the key's text, which quoting, casts
       -- and function names make ambiguous. In attribute order.
       CASE WHEN c.relkind = 'p' THEN ARRAY(
         SELECT a.attname::text FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           AND (a.attnum = ANY ((SELECT pt.partattrs FROM pg_partitioned_table pt
                                 WHERE pt.partrelid = c.oid)::int2[])
                OR EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                             AND d.objsubid = a.attnum
                             AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
                             AND d.refobjsubid = 0 AND d.deptype IN ('i', 'a')))
         ORDER BY a.attnum) ELSE '{}' END AS partition_key_columns,
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
       -- A foreign table has no local storage: 0 (its rows live behind its server).
       CASE WHEN c.relkind = 'p' THEN
         (SELECT coalesce(sum(pg_relation_size(pt.relid)), 0)::int8
          FROM pg_partition_tree(c.oid) pt WHERE pt.isleaf)
       WHEN c.relkind = 'f' THEN 0::int8
       ELSE pg_relation_size(c.oid) END AS heap_bytes,
       -- foreign tables: the server, and OPTIONS as in foreign_servers.sql (sorted by key,
       -- secret values never selected); NULL / empty for other tables
       fs.srvname::text AS foreign_server,
       ARRAY(SELECT o.option_name::text FROM pg_options_to_table(ft.ftoptions) o
             ORDER BY o.option_name) AS option_keys,
       ARRAY(SELECT CASE WHEN o.option_name ~* '{{FDW_SECRET_KEY}}' THEN NULL
                         ELSE o.option_value::text END
             FROM pg_options_to_table(ft.ftoptions) o ORDER BY o.option_name) AS option_values
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class tt ON tt.oid = c.reltoastrelid
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
WHERE c.relkind IN ('r', 'p', 'f')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
