-- Table constraints (conrelid <> 0) and domain constraints (contypid <> 0).
-- contype: p primary key, u unique, f foreign key, c check, x exclusion. Left out:
--   't' constraint triggers (listed as triggers, their definition says CONSTRAINT TRIGGER);
--   'n' NOT NULL constraints (PostgreSQL 18 for tables, 17 for domains): the column's
--       attnotnull / the domain's typnotnull already say it, and that is how they are modeled.
-- Inherited-only constraints (conislocal = false: copies on inheritance children and
-- partitions) are read too but dropped in Rust: the parent's constraint creates them.
-- The index a p/u/x constraint owns is conindid (for an FK conindid is the *referenced*
-- unique index, hence the CASE).
-- parent_constraint: conparentid, the constraint of the partitioned parent an inherited copy
-- on a partition comes from (0 otherwise); references to the copy's index are mapped onto the
-- parent's constraint in Rust.
-- parent_constraint_name: that constraint's name (a partition's copies of keys are listed by
-- name on the partition: `model::Table::key_copies`).
-- index_parent_*: the index of the partitioned parent that the constraint's index is attached
-- to (pg_inherits between indexes): a partition's own PRIMARY KEY / UNIQUE adopted by a
-- partitioned index (`ALTER INDEX parent ATTACH PARTITION`).
-- key_texts / key_collations / key_columns: for an EXCLUDE constraint with a collatable key,
-- per key of its index, as in indexes.sql (pg_get_constraintdef prints its keys' COLLATE the
-- way pg_get_indexdef does: only when it differs from the column's).
SELECT co.oid, co.conname::text AS name, co.contype AS kind,
       co.conrelid, co.contypid,
       pg_get_constraintdef(co.oid) AS definition,
       co.convalidated AS validated, co.conislocal AS is_local,
       rn.nspname::text AS ref_schema, rc.relname::text AS ref_name,
       ARRAY(SELECT a.attname::text
             FROM unnest(co.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       CASE WHEN co.contype IN ('p', 'u', 'x') THEN co.conindid END AS index_oid,
       co.conparentid AS parent_constraint,
       (SELECT pco.conname::text FROM pg_constraint pco WHERE pco.oid = co.conparentid)
         AS parent_constraint_name,
       ipn.nspname::text AS index_parent_schema, ipc.relname::text AS index_parent_name,
       CASE WHEN xi.indexrelid IS NOT NULL THEN
         ARRAY(SELECT pg_get_indexdef(xi.indexrelid, k, false)
               FROM generate_series(1, xi.indnkeyatts::int) k ORDER BY k) END AS key_texts,
       CASE WHEN xi.indexrelid IS NOT NULL THEN
         ARRAY(SELECT CASE WHEN c.coll <> 0 THEN c.coll::regcollation::text END
               FROM unnest(xi.indcollation::oid[]) WITH ORDINALITY c(coll, ord)
               ORDER BY c.ord) END AS key_collations,
       CASE WHEN xi.indexrelid IS NOT NULL THEN
         ARRAY(SELECT a.attname::text
               FROM unnest(xi.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = xi.indrelid AND a.attnum = k.attnum
               WHERE k.ord <= xi.indnkeyatts
               ORDER BY k.ord) END AS key_columns
FROM pg_constraint co
JOIN pg_namespace n ON n.oid = co.connamespace
LEFT JOIN pg_class rc ON rc.oid = co.confrelid AND co.contype = 'f'
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
LEFT JOIN pg_inherits ih ON ih.inhrelid = co.conindid AND co.contype IN ('p', 'u', 'x')
LEFT JOIN pg_class ipc ON ipc.oid = ih.inhparent
LEFT JOIN pg_namespace ipn ON ipn.oid = ipc.relnamespace
LEFT JOIN pg_index xi ON xi.indexrelid = co.conindid AND co.contype = 'x'
                     AND EXISTS (SELECT 1 FROM unnest(xi.indcollation::oid[]) c WHERE c <> 0)
WHERE co.contype IN ('p', 'u', 'f', 'c', 'x')
  AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
