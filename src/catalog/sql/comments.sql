-- Every comment on a user object (objsubid: the column number for columns, else 0). Mapped
-- onto ObjectIds in Rust; comments on objects that are not modeled are dropped there.
-- Schemas are not filtered by oid so that the comment on `public` (oid 2200) is kept.
SELECT d.classoid, d.objoid, d.objsubid, d.description
FROM pg_description d
WHERE d.objoid >= 16384 OR d.classoid = 'pg_namespace'::regclass
