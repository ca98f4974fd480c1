-- User mappings of this database's servers, through the pg_user_mappings view (pg_user_mapping
-- itself is readable by superusers only). usename is 'public' for PUBLIC. The view shows
-- umoptions only to a superuser, the server's owner or the mapped role (with USAGE on the
-- server), else NULL: read as "no options" (docs/kinds.md). The value of a secret key (a
-- password) is never selected: only its key.
SELECT m.umid AS oid, m.srvname::text AS server, m.usename::text AS username,
       ARRAY(SELECT o.option_name::text FROM pg_options_to_table(m.umoptions) o
             ORDER BY o.option_name) AS option_keys,
       ARRAY(SELECT CASE WHEN o.option_name ~* '{{FDW_SECRET_KEY}}' THEN NULL
                         ELSE o.option_value::text END
             FROM pg_options_to_table(m.umoptions) o ORDER BY o.option_name) AS option_values
FROM pg_user_mappings m
WHERE m.umid >= 16384
