-- Extended statistics objects (CREATE STATISTICS) in user schemas that no extension owns, in
-- parts: kinds (stxkind: 'd' ndistinct, 'f' dependencies, 'm' mcv, 'e' the expressions' own,
-- implied), plain columns by name, expressions as written ({{stxexprs}}: 14+). Not
-- pg_get_statisticsobjdef: it lists the columns in attnum order, which a column moved to the
-- end of its table (an online type change) changes without changing the object.
-- stxstattarget is -1 for the default on 13-16 and NULL on 17+: both read as NULL.
SELECT s.oid, n.nspname::text AS schema, s.stxname::text AS name,
       tn.nspname::text AS table_schema, c.relname::text AS table_name,
       ARRAY(SELECT k::text FROM unnest(s.stxkind) k WHERE k <> 'e' ORDER BY 1) AS kinds,
       ARRAY(SELECT a.attname::text FROM unnest(s.stxkeys::int2[]) AS key(attnum)
             JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = key.attnum
             ORDER BY a.attname COLLATE "C") AS columns,
       {{stxexprs}} AS expressions,
       NULLIF(s.stxstattarget::int, -1) AS target
FROM pg_statistic_ext s
JOIN pg_namespace n ON n.oid = s.stxnamespace
JOIN pg_class c ON c.oid = s.stxrelid
JOIN pg_namespace tn ON tn.oid = c.relnamespace
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_statistic_ext'::regclass AND x.objid = s.oid
                    AND x.deptype = 'e')
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
