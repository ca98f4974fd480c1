-- User-defined casts (oid >= 16384: none is created by initdb), without those an extension
-- owns (deptype 'e') and those internal to another object (deptype 'i': the casts between a
-- range type and its multirange that CREATE TYPE ... AS RANGE makes). Types as format_type
-- prints them on the empty search_path (qualified unless in pg_catalog); the function by name
-- and identity arguments, as functions.sql keys it. method: f function, b binary coercible
-- (WITHOUT FUNCTION), i inout; context: e explicit, a assignment, i implicit.
SELECT c.oid, format_type(c.castsource, NULL) AS source, format_type(c.casttarget, NULL) AS target,
       c.castmethod AS method, c.castcontext AS context,
       fn.nspname::text AS function_schema, f.proname::text AS function_name,
       CASE WHEN c.castfunc <> 0 THEN pg_get_function_identity_arguments(c.castfunc) END
         AS function_args
FROM pg_cast c
LEFT JOIN pg_proc f ON f.oid = c.castfunc
LEFT JOIN pg_namespace fn ON fn.oid = f.pronamespace
WHERE c.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_cast'::regclass AND x.objid = c.oid
                    AND x.deptype IN ('e', 'i'))
