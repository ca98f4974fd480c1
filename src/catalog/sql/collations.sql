-- User-created collations (oid >= 16384 leaves out the ones initdb imported from the OS and
-- from ICU into pg_catalog anyway).
-- The locale column moved between versions: none on 13/14 (ICU used collcollate, which is
-- read as the locale of an ICU collation there), colliculocale on 15/16, colllocale on 17+
-- ({{colllocale}}). collcollate/collctype were
-- `name` before 15 and nullable `text` since, hence the casts.
SELECT c.oid, n.nspname::text AS schema, c.collname::text AS name,
       c.collprovider AS provider,
       {{colllocale}} AS locale,
       c.collcollate::text AS lc_collate,
       c.collctype::text AS lc_ctype,
       c.collisdeterministic AS deterministic
FROM pg_collation c
JOIN pg_namespace n ON n.oid = c.collnamespace
WHERE c.oid >= 16384
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_collation'::regclass AND e.objid = c.oid AND e.deptype = 'e')
