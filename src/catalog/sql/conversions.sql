-- Conversions that initdb did not create (oid >= 16384) and no extension owns, in user
-- schemas. The function is one of the built-in conversion functions (or another C function):
-- its signature is (integer, integer, cstring, internal, integer) RETURNS void on 13, with a
-- trailing boolean RETURNS integer from 14; the catalog row is the same in 13 to 18.
SELECT c.oid, n.nspname::text AS schema, c.conname::text AS name,
       pg_encoding_to_char(c.conforencoding)::text AS source,
       pg_encoding_to_char(c.contoencoding)::text AS target,
       fn.nspname::text AS function_schema, f.proname::text AS function_name,
       c.condefault AS is_default
FROM pg_conversion c
JOIN pg_namespace n ON n.oid = c.connamespace
JOIN pg_proc f ON f.oid = c.conproc
JOIN pg_namespace fn ON fn.oid = f.pronamespace
WHERE c.oid >= 16384
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_conversion'::regclass AND x.objid = c.oid
                    AND x.deptype = 'e')
