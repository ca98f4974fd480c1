-- Row-level security policies. polroles holds role oids, 0 standing for PUBLIC; the list is a
-- set, sorted in Rust (not here: ORDER BY would use the database's collation).
-- polcmd: r SELECT, a INSERT, w UPDATE, d DELETE, * ALL.
SELECT p.oid, n.nspname::text AS schema, c.relname::text AS table_name,
       p.polname::text AS name, p.polpermissive AS permissive, p.polcmd AS command,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
             FROM unnest(p.polroles) r) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
