-- Every user pg_type row with what it stands for, so references to derived types can be mapped
-- onto modeled objects in depends: an array type onto its element type (true arrays only:
-- typelem <> 0 with typlen -1, as format_type decides), a relation's row type onto the relation
-- (typrelid), a multirange type onto its range ({{multirange_range}}, PostgreSQL 14+).
SELECT t.oid,
       CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN t.typelem ELSE 0::oid END AS elem,
       t.typrelid,
       {{multirange_range}} AS range_oid
FROM pg_type t
WHERE t.oid >= 16384
