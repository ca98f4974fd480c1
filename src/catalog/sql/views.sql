-- Views (v) and materialized views (m). pg_get_viewdef(oid) without the pretty flag: the
-- pretty form's whitespace depends on the wrap column, and one rendering must be kept
-- everywhere. Column names and types come from columns.sql.
-- The view's _RETURN rule is what pg_depend records the view's references on; its oid is
-- mapped back onto the view in depends.
SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name,
       c.relkind = 'm' AS materialized,
       pg_get_viewdef(c.oid) AS definition,
       coalesce(c.reloptions, '{}') AS options,
       c.relispopulated AS populated,
       r.oid AS rule_oid,
       -- plan-time fact, not schema (see tables.sql): a materialized view's heap in bytes
       CASE WHEN c.relkind = 'm' THEN pg_relation_size(c.oid) END AS heap_bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
WHERE c.relkind IN ('v', 'm')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
