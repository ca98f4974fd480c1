-- `FOR TABLES IN SCHEMA` memberships of publications (PostgreSQL 15+; not run before).
SELECT pn.oid, p.pubname::text AS publication, n.nspname::text AS schema
FROM pg_publication_namespace pn
JOIN pg_publication p ON p.oid = pn.pnpubid
JOIN pg_namespace n ON n.oid = pn.pnnspid
