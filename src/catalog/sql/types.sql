-- Enum, composite, range and domain types, one row each, kind-specific columns NULL otherwise.
-- Composite types: only free-standing ones (pg_class relkind 'c'); every table, view and
-- sequence also has a row type with typtype 'c' which is part of that relation.
-- Their attributes come from columns.sql (relkind 'c').
SELECT t.oid, n.nspname::text AS schema, t.typname::text AS name, t.typtype AS kind,
       t.typrelid,
       -- enum labels in their sort order (enumsortorder is a float4: ALTER TYPE ... ADD VALUE
       -- BEFORE/AFTER inserts fractional positions, so oid order is wrong)
       CASE WHEN t.typtype = 'e' THEN
         ARRAY(SELECT e.enumlabel::text FROM pg_enum e
               WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
       END AS labels,
       -- range: subtype, and each option only when it is not what CREATE TYPE would pick
       -- by default
       format_type(r.rngsubtype, NULL) AS rng_subtype,
       CASE WHEN NOT opc.opcdefault THEN
         quote_ident(opcn.nspname) || '.' || quote_ident(opc.opcname)
       END AS rng_opclass,
       CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation THEN
         quote_ident(rcn.nspname) || '.' || quote_ident(rc.collname)
       END AS rng_collation,
       CASE WHEN r.rngcanonical::oid <> 0 THEN r.rngcanonical::text END AS rng_canonical,
       CASE WHEN r.rngsubdiff::oid <> 0 THEN r.rngsubdiff::text END AS rng_subdiff,
       {{multirange_name}} AS rng_multirange,
       -- domain: base type with typmod, NOT NULL, default (re-rendered from typdefaultbin now:
       -- typdefault is text deparsed at CREATE time under whatever search_path was current),
       -- and the collation when it differs from the base type's
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
       t.typnotnull AS not_null,
       pg_get_expr(t.typdefaultbin, 0) AS default_expr,
       dcn.nspname::text AS collation_schema, dc.collname::text AS collation_name
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_class tc ON tc.oid = t.typrelid
LEFT JOIN pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_type st ON st.oid = r.rngsubtype
LEFT JOIN pg_opclass opc ON opc.oid = r.rngsubopc
LEFT JOIN pg_namespace opcn ON opcn.oid = opc.opcnamespace
LEFT JOIN pg_collation rc ON rc.oid = r.rngcollation
LEFT JOIN pg_namespace rcn ON rcn.oid = rc.collnamespace
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
LEFT JOIN pg_collation dc ON dc.oid = t.typcollation AND t.typtype = 'd'
                         AND t.typcollation <> bt.typcollation
LEFT JOIN pg_namespace dcn ON dcn.oid = dc.collnamespace
WHERE t.typtype IN ('e', 'c', 'r', 'd')
  AND (t.typtype <> 'c' OR tc.relkind = 'c')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid AND e.deptype = 'e')
