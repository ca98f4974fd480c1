-- Rules of user tables and views (CREATE RULE), other than the _RETURN rule that implements a
-- view or materialized view (that one is the view's definition: catalog/build/relations.rs).
-- ev_type: '1' SELECT, '2' UPDATE, '3' INSERT, '4' DELETE; ev_enabled as a trigger's
-- tgenabled (O, D, R, A).
SELECT r.oid, n.nspname::text AS schema, c.relname::text AS table_name,
       r.rulename::text AS name,
       CASE r.ev_type WHEN '1' THEN 'SELECT' WHEN '2' THEN 'UPDATE' WHEN '3' THEN 'INSERT'
                      ELSE 'DELETE' END AS event,
       pg_catalog.pg_get_ruledef(r.oid) AS definition,
       r.ev_enabled AS enabled
FROM pg_rewrite r
JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN'
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_rewrite'::regclass AND e.objid = r.oid AND e.deptype = 'e')
