-- Access methods of this database that initdb did not create (oid >= 16384) and no extension
-- owns (bloom's, say, belong to it). amtype: t table, i index. The handler is a C function
-- that exists already (a portable schema names a built-in one: heap_tableam_handler,
-- bthandler ...). The same in 13 to 18.
SELECT a.oid, a.amname::text AS name, a.amtype AS kind,
       hn.nspname::text AS handler_schema, h.proname::text AS handler_name
FROM pg_am a
JOIN pg_proc h ON h.oid = a.amhandler
JOIN pg_namespace hn ON hn.oid = h.pronamespace
WHERE a.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_am'::regclass AND x.objid = a.oid AND x.deptype = 'e')
