-- Table constraints (conrelid <> 0) and domain constraints (contypid <> 0).
-- contype: p primary key, u unique, f foreign key, c check, x exclusion. Left out:
--   't' constraint triggers (listed as triggers, their definition says CONSTRAINT TRIGGER);
--   'n' NOT NULL constraints (PostgreSQL 18 for tables, 17 for domains): the column's
--       attnotnull / the domain's typnotnull already say it, and that is how they are modeled.
-- Inherited-only constraints (conislocal = false: copies on inheritance children and
-- partitions) are read too but dropped in Rust: the parent's constraint creates them.
-- The index a p/u/x constraint owns is conindid (for an FK conindid is the *referenced*
-- unique index, hence the CASE).
SELECT co.oid, co.conname::text AS name, co.contype AS kind,
       co.conrelid, co.contypid,
       pg_get_constraintdef(co.oid) AS definition,
       co.convalidated AS validated, co.conislocal AS is_local,
       rn.nspname::text AS ref_schema, rc.relname::text AS ref_name,
       ARRAY(SELECT a.attname::text
             FROM unnest(co.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       CASE WHEN co.contype IN ('p', 'u', 'x') THEN co.conindid END AS index_oid
FROM pg_constraint co
JOIN pg_namespace n ON n.oid = co.connamespace
LEFT JOIN pg_class rc ON rc.oid = co.confrelid AND co.contype = 'f'
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE co.contype IN ('p', 'u', 'f', 'c', 'x')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
