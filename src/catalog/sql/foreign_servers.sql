-- Foreign servers of this database, without those an extension owns. Options as in
-- foreign_data_wrappers.sql: sorted by key, secret values never selected.
SELECT s.oid, s.srvname::text AS name, w.fdwname::text AS fdw,
       s.srvtype::text AS server_type, s.srvversion::text AS version,
       ARRAY(SELECT o.option_name::text FROM pg_options_to_table(s.srvoptions) o
             ORDER BY o.option_name) AS option_keys,
       ARRAY(SELECT CASE WHEN o.option_name ~* '{{FDW_SECRET_KEY}}' THEN NULL
                         ELSE o.option_value::text END
             FROM pg_options_to_table(s.srvoptions) o ORDER BY o.option_name) AS option_values
FROM pg_foreign_server s
JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
WHERE s.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_foreign_server'::regclass AND x.objid = s.oid
                    AND x.deptype = 'e')
