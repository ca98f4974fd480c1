-- All user sequences with their parameters and, when they have one, the column they belong to:
--   deptype 'a' on a column: OWNED BY (serial columns, ALTER SEQUENCE ... OWNED BY);
--   deptype 'i' on a column: the sequence backing an identity column. Those are not listed as
--   sequences; their parameters become the column's Identity options.
-- pg_sequence holds the parameters; the current value (last_value) is data, not schema.
SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name,
       format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart AS start, s.seqincrement AS increment, s.seqmin AS min_value,
       s.seqmax AS max_value, s.seqcache AS cache, s.seqcycle AS cycle,
       c.relpersistence = 'u' AS unlogged,
       own.deptype AS owner_deptype, own.relid AS owner_relid, own.attnum AS owner_attnum,
       own.schema AS owner_schema, own.relname AS owner_table, own.attname AS owner_column
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN LATERAL (
  SELECT d.deptype, d.refobjid AS relid, d.refobjsubid::int2 AS attnum,
         on_.nspname::text AS schema, oc.relname::text AS relname, a.attname::text AS attname
  FROM pg_depend d
  JOIN pg_class oc ON oc.oid = d.refobjid
  JOIN pg_namespace on_ ON on_.oid = oc.relnamespace
  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
    AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
    AND d.deptype IN ('a', 'i')
  LIMIT 1
) own ON true
WHERE c.relkind = 'S'
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
