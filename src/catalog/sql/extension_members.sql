-- Extension members: every object with a deptype 'e' dependency on an extension. They are
-- excluded from every list (the extension creates and drops them) but references to them are
-- mapped onto the extension in `depends`, so that e.g. a citext column depends on extension
-- citext.
SELECT d.classid, d.objid, x.extname::text AS extension
FROM pg_depend d
JOIN pg_extension x ON x.oid = d.refobjid
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
