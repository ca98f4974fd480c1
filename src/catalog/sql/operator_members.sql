-- The operators (pg_amop) and support functions (pg_amproc) of user operator families, each
-- with what it belongs to: its operator class (pg_depend 'i' on pg_opclass: written in
-- CREATE OPERATOR CLASS) or its family (a loose member, 'a' on pg_opfamily: ALTER OPERATOR
-- FAMILY ... ADD). owner_is_class tells which; owner_oid is the class's or family's oid.
-- Operators by schema-qualified symbol, functions by qualified name and identity arguments,
-- types as format_type prints them on the empty search_path.
SELECT 'pg_amop'::regclass::oid AS classid, ao.oid, false AS is_function,
       ao.amopstrategy AS number,
       format_type(ao.amoplefttype, NULL) AS left_type,
       format_type(ao.amoprighttype, NULL) AS right_type,
       quote_ident(opn.nspname) || '.' || op.oprname AS target,
       CASE WHEN ao.amoppurpose = 'o' THEN
         (SELECT quote_ident(sn.nspname) || '.' || quote_ident(sf.opfname)
          FROM pg_opfamily sf JOIN pg_namespace sn ON sn.oid = sf.opfnamespace
          WHERE sf.oid = ao.amopsortfamily)
       END AS order_by,
       d.refclassid = 'pg_opclass'::regclass AS owner_is_class, d.refobjid AS owner_oid
FROM pg_amop ao
JOIN pg_operator op ON op.oid = ao.amopopr
JOIN pg_namespace opn ON opn.oid = op.oprnamespace
JOIN pg_depend d ON d.classid = 'pg_amop'::regclass AND d.objid = ao.oid
                AND d.refclassid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass)
                AND d.deptype IN ('i', 'a')
WHERE ao.amopfamily >= 16384
UNION ALL
SELECT 'pg_amproc'::regclass::oid, ap.oid, true, ap.amprocnum,
       format_type(ap.amproclefttype, NULL), format_type(ap.amprocrighttype, NULL),
       quote_ident(pn.nspname) || '.' || quote_ident(p.proname)
         || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       NULL,
       d.refclassid = 'pg_opclass'::regclass, d.refobjid
FROM pg_amproc ap
JOIN pg_proc p ON p.oid = ap.amproc
JOIN pg_namespace pn ON pn.oid = p.pronamespace
JOIN pg_depend d ON d.classid = 'pg_amproc'::regclass AND d.objid = ap.oid
                AND d.refclassid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass)
                AND d.deptype IN ('i', 'a')
WHERE ap.amprocfamily >= 16384
