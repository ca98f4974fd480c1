-- Dependency edges between user objects: deptype 'n' (normal) and 'a' (auto). Both ends are
-- mapped onto ObjectIds in Rust (rules onto views, attrdefs onto columns, array and row types
-- onto what they stand for, extension members onto the extension); edges with an end that is
-- not modeled are dropped there.
-- The referenced side may be a system object (oid < 16384): those are dropped, except
-- namespaces, because `public` (2200) is modeled.
SELECT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.refobjsubid, d.deptype
FROM pg_depend d
WHERE d.deptype IN ('n', 'a')
  AND d.objid >= 16384
  AND (d.refobjid >= 16384 OR d.refclassid = 'pg_namespace'::regclass)
