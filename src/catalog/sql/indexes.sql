-- Indexes on tables, partitioned tables and materialized views.
-- constraint_oid: the constraint owning the index (PRIMARY KEY, UNIQUE, EXCLUDE: the one whose
-- conindid it is on its own table, as pg_dump finds it; a foreign key's conindid is the
-- referenced table's index, and contype 'f'). Such indexes are part of their constraint and not
-- listed as indexes, but references to them are mapped onto the constraint in depends.
-- A join, not a subquery per index: on a freshly loaded database (the shadow) the catalogs'
-- statistics are stale, and a per-index pg_depend lookup by refclassid alone was planned as a
-- scan of every constraint's dependency for each index (25 s at 2,000 tables).
-- Partition indexes attached to an index of the partitioned parent (pg_inherits between
-- indexes) are listed with their parent index so diff can leave them to the parent.
SELECT i.indexrelid AS oid, n.nspname::text AS schema, ic.relname::text AS name,
       tc.relname::text AS table_name,
       pg_get_indexdef(i.indexrelid) AS definition,
       i.indisunique AS is_unique,
       ic.relkind = 'I' AS on_partitioned_table,
       pn.nspname::text AS parent_schema, pc.relname::text AS parent_name,
       i.indisvalid AS valid,
       con.oid AS constraint_oid,
       CASE WHEN con.oid IS NULL
                 AND EXISTS (SELECT 1 FROM unnest(i.indcollation::oid[]) c WHERE c <> 0) THEN
         ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, false)
               FROM generate_series(1, i.indnkeyatts::int) k ORDER BY k) END AS key_texts,
       CASE WHEN con.oid IS NULL THEN
         ARRAY(SELECT CASE WHEN c.coll <> 0 THEN c.coll::regcollation::text END
               FROM unnest(i.indcollation::oid[]) WITH ORDINALITY c(coll, ord)
               ORDER BY c.ord) END AS key_collations,
       CASE WHEN con.oid IS NULL THEN
         ARRAY(SELECT a.attname::text
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
               WHERE k.ord <= i.indnkeyatts
               ORDER BY k.ord) END AS key_columns
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = tc.relnamespace
LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid
LEFT JOIN pg_class pc ON pc.oid = h.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
LEFT JOIN pg_constraint con ON con.conrelid = i.indrelid AND con.conindid = i.indexrelid
                           AND con.contype IN ('p', 'u', 'x')
WHERE tc.relkind IN ('r', 'p', 'm')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = tc.oid AND e.deptype = 'e')
