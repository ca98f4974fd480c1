-- ALTER DEFAULT PRIVILEGES entries, relative to the built-in defaults like grants.sql.
-- A global entry (defaclnamespace = 0) *replaces* the built-in default ACL for objects the
-- role creates, so it is compared with acldefault(kind, role); a per-schema entry is *added*
-- to the global one, so it is compared with the empty ACL (everything in it is a grant).
-- defaclobjtype: r tables, S sequences, f functions, T types, n schemas, L large objects (18).
SELECT pg_get_userbyid(d.defaclrole)::text AS for_role,
       n.nspname::text AS schema,
       d.defaclobjtype AS objtype,
       CASE WHEN x.grantee = 0 THEN 'public' ELSE pg_get_userbyid(x.grantee)::text END AS grantee,
       x.privilege_type AS privilege, x.is_grantable AS grantable, x.granted
FROM pg_default_acl d
LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,
LATERAL (
  SELECT CASE WHEN d.defaclnamespace = 0 THEN
           acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END::"char",
                      d.defaclrole)
         END AS base  -- NULL: aclexplode is strict and yields no rows ('{}' is rejected)
) b,
LATERAL (
  (SELECT a.grantee, a.privilege_type, a.is_grantable, true AS granted FROM aclexplode(d.defaclacl) a
   EXCEPT
   SELECT e.grantee, e.privilege_type, e.is_grantable, true FROM aclexplode(b.base) e)
  UNION ALL
  (SELECT e.grantee, e.privilege_type, e.is_grantable, false FROM aclexplode(b.base) e
   EXCEPT
   SELECT a.grantee, a.privilege_type, a.is_grantable, false FROM aclexplode(d.defaclacl) a)
) x
