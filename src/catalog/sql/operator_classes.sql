-- User-defined operator classes (oid >= 16384), without extension members: the indexed type,
-- DEFAULT, the family (always named: a class created without FAMILY gets one of its own name)
-- and the STORAGE type when there is one (opckeytype 0: the indexed type).
SELECT c.oid, n.nspname::text AS schema, c.opcname::text AS name, am.amname::text AS method,
       format_type(c.opcintype, NULL) AS type_name, c.opcdefault AS is_default,
       fn.nspname::text AS family_schema, f.opfname::text AS family_name,
       CASE WHEN c.opckeytype <> 0 THEN format_type(c.opckeytype, NULL) END AS storage
FROM pg_opclass c
JOIN pg_namespace n ON n.oid = c.opcnamespace
JOIN pg_am am ON am.oid = c.opcmethod
JOIN pg_opfamily f ON f.oid = c.opcfamily
JOIN pg_namespace fn ON fn.oid = f.opfnamespace
WHERE c.oid >= 16384
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_opclass'::regclass AND x.objid = c.oid
                    AND x.deptype = 'e')
