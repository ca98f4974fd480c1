-- User triggers on tables, partitioned tables and views (INSTEAD OF).
-- tgisinternal: triggers PostgreSQL creates itself (FK enforcement) are skipped.
-- tgparentid <> 0 (13+): the clone of a partitioned table's trigger on a partition (before 15
-- those clones were also tgisinternal); the parent's trigger creates them.
SELECT tg.oid, n.nspname::text AS schema, c.relname::text AS table_name,
       tg.tgname::text AS name,
       pg_get_triggerdef(tg.oid) AS definition,
       tg.tgenabled AS enabled
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal AND tg.tgparentid = 0
  AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
