-- User-defined operators (oid >= 16384), without extension members (deptype 'e') and without
-- shell operators (oprcode 0: made by a COMMUTATOR / NEGATOR naming an operator not defined
-- yet; unmodeled.sql lists them). Types as format_type prints them on the empty search_path;
-- the function by name and identity arguments, as functions.sql keys it; commutator and
-- negator by schema and symbol; the estimators by name.
SELECT o.oid, n.nspname::text AS schema, o.oprname::text AS name,
       CASE WHEN o.oprleft <> 0 THEN format_type(o.oprleft, NULL) END AS left_type,
       CASE WHEN o.oprright <> 0 THEN format_type(o.oprright, NULL) END AS right_type,
       fn.nspname::text AS function_schema, f.proname::text AS function_name,
       pg_get_function_identity_arguments(f.oid) AS function_args,
       cn.nspname::text AS commutator_schema, co.oprname::text AS commutator_name,
       nn.nspname::text AS negator_schema, ne.oprname::text AS negator_name,
       rn.nspname::text AS restrict_schema, r.proname::text AS restrict_name,
       jn.nspname::text AS join_schema, j.proname::text AS join_name,
       o.oprcanhash AS hashes, o.oprcanmerge AS merges
FROM pg_operator o
JOIN pg_namespace n ON n.oid = o.oprnamespace
JOIN pg_proc f ON f.oid = o.oprcode
JOIN pg_namespace fn ON fn.oid = f.pronamespace
LEFT JOIN pg_operator co ON co.oid = o.oprcom
LEFT JOIN pg_namespace cn ON cn.oid = co.oprnamespace
LEFT JOIN pg_operator ne ON ne.oid = o.oprnegate
LEFT JOIN pg_namespace nn ON nn.oid = ne.oprnamespace
LEFT JOIN pg_proc r ON r.oid = o.oprrest
LEFT JOIN pg_namespace rn ON rn.oid = r.pronamespace
LEFT JOIN pg_proc j ON j.oid = o.oprjoin
LEFT JOIN pg_namespace jn ON jn.oid = j.pronamespace
WHERE o.oid >= 16384
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_operator'::regclass AND x.objid = o.oid
                    AND x.deptype = 'e')
