-- Tables' memberships of publications (`FOR TABLE`, `ADD TABLE`). The column list (prattrs)
-- and the row filter (prqual) exist from PostgreSQL 15 ({{prattrs}}, {{prqual}}: NULL before);
-- the column list is kept in attribute order, as PostgreSQL stores it.
SELECT pr.oid, p.pubname::text AS publication, n.nspname::text AS schema,
       c.relname::text AS table_name,
       {{prattrs}} AS columns,
       {{prqual}} AS row_filter
FROM pg_publication_rel pr
JOIN pg_publication p ON p.oid = pr.prpubid
JOIN pg_class c ON c.oid = pr.prrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
