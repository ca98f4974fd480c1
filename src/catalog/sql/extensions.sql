-- Installed extensions. plpgsql is one too (installed by initdb in template1), so it shows up
-- on both sides of every comparison.
SELECT x.oid, x.extname::text AS name, n.nspname::text AS schema, x.extversion AS version
FROM pg_extension x
JOIN pg_namespace n ON n.oid = x.extnamespace
ORDER BY x.extname
