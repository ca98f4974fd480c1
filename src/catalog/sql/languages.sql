-- Procedural languages that initdb did not create (oid >= 16384: not c, internal, sql, nor
-- plpgsql, which initdb installs as an extension) and no extension owns (plperl, plpython3u
-- ... are extensions: they belong to theirs). The handlers are C functions that exist already
-- (a portable schema names built-in ones, plpgsql's say). The same in 13 to 18.
SELECT l.oid, l.lanname::text AS name, l.lanpltrusted AS trusted,
       hn.nspname::text AS handler_schema, h.proname::text AS handler_name,
       inn.nspname::text AS inline_schema, i.proname::text AS inline_name,
       vn.nspname::text AS validator_schema, v.proname::text AS validator_name
FROM pg_language l
JOIN pg_proc h ON h.oid = l.lanplcallfoid
JOIN pg_namespace hn ON hn.oid = h.pronamespace
LEFT JOIN pg_proc i ON i.oid = l.laninline
LEFT JOIN pg_namespace inn ON inn.oid = i.pronamespace
LEFT JOIN pg_proc v ON v.oid = l.lanvalidator
LEFT JOIN pg_namespace vn ON vn.oid = v.pronamespace
WHERE l.oid >= 16384 AND l.lanispl
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_language'::regclass AND x.objid = l.oid
                    AND x.deptype = 'e')
