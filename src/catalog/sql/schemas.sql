-- User schemas. Excluded: the system schemas, every toast and temporary schema
-- (pg_toast, pg_toast_temp_N, pg_temp_N) and schemas
-- created by an extension script (extension members, deptype 'e').
-- `public` is always included when it exists (its oid, 2200, is below 16384, so no oid filter
-- here); diff treats it specially.
SELECT n.oid, n.nspname::text AS name
FROM pg_namespace n
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_namespace'::regclass AND e.objid = n.oid AND e.deptype = 'e')
ORDER BY n.nspname
