-- Columns of tables (r, p, f), views (v, m) and attributes of composite types (c), in attnum
-- order. attnum <= 0 are system columns; dropped columns stay in pg_attribute as
-- "........pg.dropped.N........" with attisdropped.
SELECT a.attrelid, a.attnum, a.attname::text AS name, c.relkind,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       -- the collation only when it is not the one the type implies (a domain's typcollation
       -- counts as the type's), i.e. when COLLATE was written
       cn.nspname::text AS collation_schema, co.collname::text AS collation_name,
       a.attnotnull AS not_null,
       -- the NOT NULL constraint (18+; NULL, true, false before): its name, whether it is
       -- validated and whether it is NO INHERIT ({{notnull_name}}, {{notnull_valid}},
       -- {{notnull_noinherit}})
       {{notnull_name}} AS not_null_name,
       {{notnull_valid}} AS not_null_valid,
       {{notnull_noinherit}} AS not_null_no_inherit,
       a.attidentity AS identity,
       a.attgenerated AS generated,
       a.attinhcount > 0 AS inherited,
       a.attislocal AS is_local,
       ad.oid AS attrdef_oid,
       pg_get_expr(ad.adbin, ad.adrelid) AS default_expr,
       -- the default calls a volatile function (random(), nextval(), clock_timestamp(), ...):
       -- the function ids of the expression tree (FuncExpr :funcid, OpExpr and the like
       -- :opfuncid) looked up in pg_proc. A volatile default makes ADD COLUMN rewrite the table.
       coalesce((SELECT bool_or(p.provolatile = 'v')
                 FROM regexp_matches(ad.adbin::text, ':(?:funcid|opfuncid) (\d+)', 'g') AS m(f)
                 JOIN pg_proc p ON p.oid = m.f[1]::oid), false) AS default_volatile,
       -- attcompression: 14+, '' when the column follows default_toast_compression
       {{attcompression}} AS compression,
       -- SET STORAGE: attstorage when it is not the type's typstorage (the default), and the
       -- default itself (13-15 have no SET STORAGE DEFAULT: a reset names it)
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END AS storage,
       t.typstorage::text AS default_storage,
       -- SET STATISTICS: NULL when default (-1 before 17, NULL from 17)
       {{attstattarget}} AS statistics,
       -- SET (n_distinct = ..., n_distinct_inherited = ...)
       coalesce(a.attoptions::text[], ARRAY[]::text[]) AS attoptions,
       -- a foreign table column's OPTIONS (column_name 'x'), sorted by key, secret values
       -- never selected (as foreign_servers.sql)
       ARRAY(SELECT o.option_name::text FROM pg_options_to_table(a.attfdwoptions) o
             ORDER BY o.option_name) AS fdw_option_keys,
       ARRAY(SELECT CASE WHEN o.option_name ~* '{{FDW_SECRET_KEY}}' THEN NULL
                         ELSE o.option_value::text END
             FROM pg_options_to_table(a.attfdwoptions) o ORDER BY o.option_name) AS fdw_option_values
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> t.typcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'c')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
ORDER BY a.attrelid, a.attnum
