-- Functions (f), window functions (w: plain functions declared WINDOW), procedures (p) and
-- aggregates (a). pg_get_functiondef refuses aggregates, so for them the pieces of
-- pg_aggregate are returned and the CREATE AGGREGATE text is assembled in Rust.
-- Function names in the aggregate pieces are regproc::text, which schema-qualifies a name when
-- it is not visible on the (empty, see mod.rs) search_path or is overloaded ambiguously.
SELECT p.oid, n.nspname::text AS schema, p.proname::text AS name, p.prokind AS kind,
       quote_ident(n.nspname) || '.' || quote_ident(p.proname) AS qualified,
       pg_get_function_identity_arguments(p.oid) AS identity_args,
       oidvectortypes(p.proargtypes) AS arg_types,
       CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END AS definition,
       pg_get_function_result(p.oid) AS result,
       pg_get_function_arguments(p.oid) AS arguments,
       p.proparallel AS parallel,
       ag.aggkind,
       ag.aggtransfn::text AS sfunc,
       format_type(ag.aggtranstype, NULL) AS stype,
       ag.aggtransspace AS sspace,
       CASE WHEN ag.aggfinalfn::oid <> 0 THEN ag.aggfinalfn::text END AS finalfunc,
       ag.aggfinalextra AS finalfunc_extra,
       ag.aggfinalmodify AS finalfunc_modify,
       CASE WHEN ag.aggcombinefn::oid <> 0 THEN ag.aggcombinefn::text END AS combinefunc,
       CASE WHEN ag.aggserialfn::oid <> 0 THEN ag.aggserialfn::text END AS serialfunc,
       CASE WHEN ag.aggdeserialfn::oid <> 0 THEN ag.aggdeserialfn::text END AS deserialfunc,
       ag.agginitval AS initcond,
       CASE WHEN ag.aggmtransfn::oid <> 0 THEN ag.aggmtransfn::text END AS msfunc,
       CASE WHEN ag.aggminvtransfn::oid <> 0 THEN ag.aggminvtransfn::text END AS minvfunc,
       CASE WHEN ag.aggmtranstype <> 0 THEN format_type(ag.aggmtranstype, NULL) END AS mstype,
       ag.aggmtransspace AS msspace,
       CASE WHEN ag.aggmfinalfn::oid <> 0 THEN ag.aggmfinalfn::text END AS mfinalfunc,
       ag.aggmfinalextra AS mfinalfunc_extra,
       ag.aggmfinalmodify AS mfinalfunc_modify,
       ag.aggminitval AS minitcond,
       -- SORTOP takes an operator name; OPERATOR(schema.op) is always unambiguous
       (SELECT 'OPERATOR(' || quote_ident(opn.nspname) || '.' || op.oprname || ')'
        FROM pg_operator op JOIN pg_namespace opn ON opn.oid = op.oprnamespace
        WHERE op.oid = ag.aggsortop) AS sortop
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_aggregate ag ON ag.aggfnoid = p.oid
WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
  -- Constructors of range and multirange types are made by CREATE TYPE ... AS RANGE and
  -- belong to the type (an internal dependency): not user functions.
  AND NOT EXISTS (SELECT 1 FROM pg_depend i
                  WHERE i.classid = 'pg_proc'::regclass AND i.objid = p.oid AND i.deptype = 'i'
                    AND i.refclassid = 'pg_type'::regclass)
