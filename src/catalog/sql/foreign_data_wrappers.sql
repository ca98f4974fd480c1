-- Foreign-data wrappers of this database (oid >= 16384: none is created by initdb), without
-- those an extension owns (postgres_fdw, file_fdw make theirs). Options are sorted by key;
-- the value of a secret key (FDW_SECRET_KEY: the rule of model::is_secret_option) is never
-- selected, so it never leaves the server.
SELECT w.oid, w.fdwname::text AS name,
       hn.nspname::text AS handler_schema, h.proname::text AS handler_name,
       vn.nspname::text AS validator_schema, v.proname::text AS validator_name,
       ARRAY(SELECT o.option_name::text FROM pg_options_to_table(w.fdwoptions) o
             ORDER BY o.option_name) AS option_keys,
       ARRAY(SELECT CASE WHEN o.option_name ~* '{{FDW_SECRET_KEY}}' THEN NULL
                         ELSE o.option_value::text END
             FROM pg_options_to_table(w.fdwoptions) o ORDER BY o.option_name) AS option_values
FROM pg_foreign_data_wrapper w
LEFT JOIN pg_proc h ON h.oid = w.fdwhandler
LEFT JOIN pg_namespace hn ON hn.oid = h.pronamespace
LEFT JOIN pg_proc v ON v.oid = w.fdwvalidator
LEFT JOIN pg_namespace vn ON vn.oid = v.pronamespace
WHERE w.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_foreign_data_wrapper'::regclass AND x.objid = w.oid
                    AND x.deptype = 'e')
