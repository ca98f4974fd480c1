-- Objects in user schemas (and database-level user objects) that schemaplan does not model,
-- named by pg_identify_object so they can be reported. Extension members are excluded: the
-- extension owns them; so are objects internal to another one. oid >= 16384 leaves out what
-- initdb created.
WITH objs(classid, objid) AS (
  -- (foreign-data wrappers, servers, user mappings and foreign tables are modeled:
  -- catalog/build/foreign.rs, tables in catalog/build.rs)
  -- (publications, their members and event triggers are modeled: catalog/build/)
  -- subscriptions are cluster-wide rows tied to one database; only the oid column is read
  -- (subconninfo is not readable by ordinary roles)
  SELECT 'pg_subscription'::regclass, s.oid FROM pg_subscription s
            WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  -- (rules and extended statistics objects are modeled: catalog/build/{rules,statistics}.rs)
  -- (operators, operator classes and families are modeled: catalog/build/operators.rs);
  -- shell operators (no function yet) are not
  UNION ALL SELECT 'pg_operator'::regclass, oid FROM pg_operator
            WHERE oid >= 16384 AND oprcode::oid = 0
  -- (casts, text search dictionaries and configurations, conversions, procedural languages
  -- and access methods are modeled: catalog/build/); transforms are not (their functions
  -- are C functions written for one language and type: no portable definition)
  UNION ALL SELECT 'pg_ts_parser'::regclass, oid FROM pg_ts_parser WHERE oid >= 16384
  UNION ALL SELECT 'pg_ts_template'::regclass, oid FROM pg_ts_template WHERE oid >= 16384
  UNION ALL SELECT 'pg_transform'::regclass, oid FROM pg_transform WHERE oid >= 16384
  -- base and shell types (CREATE TYPE x (INPUT = ...), CREATE TYPE x); not their arrays
  UNION ALL SELECT 'pg_type'::regclass, t.oid FROM pg_type t
            WHERE t.oid >= 16384 AND t.typtype IN ('b', 'p')
              AND NOT (t.typelem <> 0 AND t.typlen = -1)
)
-- definition: what re-creates the object after the plan dropped it with what it depends on,
-- for a kind whose definition PostgreSQL prints (none left: rules and statistics objects,
-- the two that had one, are modeled now); NULL.
-- ref_*: the user objects it depends on (pg_depend 'n' and 'a'), one array per column in the
-- same order, mapped onto modeled objects in Rust: a plan that drops one of them must carry
-- the object over or refuse (`workflow::unmodeled`).
SELECT i.type AS kind, i.identity,
       NULL::text AS definition,
       ARRAY(SELECT d.refclassid FROM pg_depend d
             WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype IN ('n', 'a')
               AND d.refobjid >= 16384
             ORDER BY d.refclassid, d.refobjid, d.refobjsubid) AS ref_classids,
       ARRAY(SELECT d.refobjid FROM pg_depend d
             WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype IN ('n', 'a')
               AND d.refobjid >= 16384
             ORDER BY d.refclassid, d.refobjid, d.refobjsubid) AS ref_objids,
       ARRAY(SELECT d.refobjsubid FROM pg_depend d
             WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype IN ('n', 'a')
               AND d.refobjid >= 16384
             ORDER BY d.refclassid, d.refobjid, d.refobjsubid) AS ref_subids
FROM objs o,
LATERAL pg_identify_object(o.classid, o.objid, 0) i
-- 'i': part of another object, created and dropped with it (the cast from a range type to
-- its multirange that CREATE TYPE ... AS RANGE makes)
WHERE NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = o.classid AND e.objid = o.objid AND e.deptype IN ('e', 'i'))
  -- objects in system schemas created by a superuser after initdb are still system-ish; keep
  -- only user schemas (a NULL schema means a database-level object)
  AND (i.schema IS NULL
       OR (i.schema <> ALL (ARRAY['pg_catalog', 'information_schema'])
           AND i.schema !~ '^pg_(toast|temp_)'))
