-- User-defined operator families (oid >= 16384), without extension members. Their loose
-- members and those of their classes come from operator_members.sql.
SELECT f.oid, n.nspname::text AS schema, f.opfname::text AS name, am.amname::text AS method
FROM pg_opfamily f
JOIN pg_namespace n ON n.oid = f.opfnamespace
JOIN pg_am am ON am.oid = f.opfmethod
WHERE f.oid >= 16384
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_opfamily'::regclass AND x.objid = f.oid
                    AND x.deptype = 'e')
