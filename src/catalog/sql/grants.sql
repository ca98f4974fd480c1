-- Privileges on modeled objects, relative to the built-in default ACL of the object kind:
--   granted = true:  in the ACL, not in acldefault(kind, owner) (an explicit GRANT)
--   granted = false: in acldefault(kind, owner), not in the ACL (an explicit REVOKE of a
--                    default, e.g. EXECUTE from PUBLIC on a function)
-- A NULL ACL means "the defaults" and yields no rows. Grantors are ignored. PUBLIC is the
-- grantee `public` (lower case): the one name no role can have (roles "PUBLIC" and "Public"
-- can exist, and must not be mistaken for everyone).
-- acldefault kinds: r relation, s sequence, c column, f function, n schema, T type,
-- F foreign-data wrapper, S foreign server, l language (USAGE; a trusted language's default
-- grants it to PUBLIC).
-- Columns: attacl only holds column-level grants (default: none). `public` (oid 2200) is
-- included; its default ACL in 15+ grants USAGE to PUBLIC beyond the owner's default, which
-- therefore shows up here on both sides.
WITH objs(classid, objid, objsubid, owner, acl, kind) AS (
  SELECT 'pg_class'::regclass::oid, c.oid, 0, c.relowner, c.relacl,
         CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char"
  FROM pg_class c
  WHERE c.relacl IS NOT NULL AND c.oid >= 16384 AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
  UNION ALL
  SELECT 'pg_class'::regclass::oid, a.attrelid, a.attnum::int, c.relowner, a.attacl, 'c'::"char"
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  WHERE a.attacl IS NOT NULL AND a.attrelid >= 16384 AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'pg_proc'::regclass::oid, p.oid, 0, p.proowner, p.proacl, 'f'::"char"
  FROM pg_proc p WHERE p.proacl IS NOT NULL AND p.oid >= 16384
  UNION ALL
  SELECT 'pg_namespace'::regclass::oid, n.oid, 0, n.nspowner, n.nspacl, 'n'::"char"
  FROM pg_namespace n WHERE n.nspacl IS NOT NULL AND (n.oid >= 16384 OR n.nspname = 'public')
  UNION ALL
  SELECT 'pg_type'::regclass::oid, t.oid, 0, t.typowner, t.typacl, 'T'::"char"
  FROM pg_type t WHERE t.typacl IS NOT NULL AND t.oid >= 16384
  UNION ALL
  SELECT 'pg_foreign_data_wrapper'::regclass::oid, w.oid, 0, w.fdwowner, w.fdwacl, 'F'::"char"
  FROM pg_foreign_data_wrapper w WHERE w.fdwacl IS NOT NULL AND w.oid >= 16384
  UNION ALL
  SELECT 'pg_foreign_server'::regclass::oid, s.oid, 0, s.srvowner, s.srvacl, 'S'::"char"
  FROM pg_foreign_server s WHERE s.srvacl IS NOT NULL AND s.oid >= 16384
  UNION ALL
  SELECT 'pg_language'::regclass::oid, l.oid, 0, l.lanowner, l.lanacl, 'l'::"char"
  FROM pg_language l WHERE l.lanacl IS NOT NULL AND l.oid >= 16384
)
SELECT o.classid, o.objid, o.objsubid,
       CASE WHEN x.grantee = 0 THEN 'public' ELSE pg_get_userbyid(x.grantee)::text END AS grantee,
       x.privilege_type AS privilege, x.is_grantable AS grantable, x.granted
FROM objs o,
LATERAL (
  (SELECT a.grantee, a.privilege_type, a.is_grantable, true AS granted FROM aclexplode(o.acl) a
   EXCEPT
   SELECT d.grantee, d.privilege_type, d.is_grantable, true FROM aclexplode(acldefault(o.kind, o.owner)) d)
  UNION ALL
  (SELECT d.grantee, d.privilege_type, d.is_grantable, false FROM aclexplode(acldefault(o.kind, o.owner)) d
   EXCEPT
   SELECT a.grantee, a.privilege_type, a.is_grantable, false FROM aclexplode(o.acl) a)
) x
