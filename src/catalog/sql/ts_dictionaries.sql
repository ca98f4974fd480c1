-- Text search dictionaries (oid >= 16384: initdb's are in pg_catalog), without those an
-- extension owns. options: dictinitoption as PostgreSQL serializes it (`key = 'value', ...`,
-- every value a quoted literal), parsed in Rust.
SELECT d.oid, n.nspname::text AS schema, d.dictname::text AS name,
       tn.nspname::text AS template_schema, t.tmplname::text AS template_name,
       d.dictinitoption AS options
FROM pg_ts_dict d
JOIN pg_namespace n ON n.oid = d.dictnamespace
JOIN pg_ts_template t ON t.oid = d.dicttemplate
JOIN pg_namespace tn ON tn.oid = t.tmplnamespace
WHERE d.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_ts_dict'::regclass AND x.objid = d.oid
                    AND x.deptype = 'e')
