-- The owner of every user object that has one and that a plan may create or re-create:
-- schemas, collations, types and domains, tables, views, materialized views, sequences,
-- functions, procedures and aggregates, publications, event triggers, foreign-data wrappers,
-- foreign servers, text search dictionaries and configurations, conversions, procedural
-- languages and extended statistics objects (access methods and rules have no owner). Mapped onto ObjectIds in Rust (exact addresses only:
-- array types, tables' row types, indexes and identity sequences are not listed there; they
-- follow their owner). oid >= 16384 leaves out what initdb created (`public` included: its
-- owner is the database's business, never a plan's).
SELECT 'pg_namespace'::regclass::oid AS classid, n.oid AS objid,
       pg_catalog.pg_get_userbyid(n.nspowner)::text AS owner
FROM pg_namespace n WHERE n.oid >= 16384
UNION ALL
SELECT 'pg_collation'::regclass::oid, c.oid, pg_catalog.pg_get_userbyid(c.collowner)::text
FROM pg_collation c WHERE c.oid >= 16384
UNION ALL
SELECT 'pg_type'::regclass::oid, t.oid, pg_catalog.pg_get_userbyid(t.typowner)::text
FROM pg_type t WHERE t.oid >= 16384
UNION ALL
SELECT 'pg_class'::regclass::oid, c.oid, pg_catalog.pg_get_userbyid(c.relowner)::text
FROM pg_class c WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
UNION ALL
SELECT 'pg_proc'::regclass::oid, p.oid, pg_catalog.pg_get_userbyid(p.proowner)::text
FROM pg_proc p WHERE p.oid >= 16384
UNION ALL
SELECT 'pg_publication'::regclass::oid, p.oid, pg_catalog.pg_get_userbyid(p.pubowner)::text
FROM pg_publication p WHERE p.oid >= 16384
UNION ALL
SELECT 'pg_event_trigger'::regclass::oid, e.oid, pg_catalog.pg_get_userbyid(e.evtowner)::text
FROM pg_event_trigger e WHERE e.oid >= 16384
UNION ALL
SELECT 'pg_foreign_data_wrapper'::regclass::oid, w.oid, pg_catalog.pg_get_userbyid(w.fdwowner)::text
FROM pg_foreign_data_wrapper w WHERE w.oid >= 16384
UNION ALL
SELECT 'pg_foreign_server'::regclass::oid, s.oid, pg_catalog.pg_get_userbyid(s.srvowner)::text
FROM pg_foreign_server s WHERE s.oid >= 16384
UNION ALL
SELECT 'pg_ts_dict'::regclass::oid, d.oid, pg_catalog.pg_get_userbyid(d.dictowner)::text
FROM pg_ts_dict d WHERE d.oid >= 16384
UNION ALL
SELECT 'pg_ts_config'::regclass::oid, c.oid, pg_catalog.pg_get_userbyid(c.cfgowner)::text
FROM pg_ts_config c WHERE c.oid >= 16384
UNION ALL
SELECT 'pg_operator'::regclass::oid, o.oid, pg_catalog.pg_get_userbyid(o.oprowner)::text
FROM pg_operator o WHERE o.oid >= 16384
UNION ALL
SELECT 'pg_opclass'::regclass::oid, c.oid, pg_catalog.pg_get_userbyid(c.opcowner)::text
FROM pg_opclass c WHERE c.oid >= 16384
UNION ALL
SELECT 'pg_opfamily'::regclass::oid, f.oid, pg_catalog.pg_get_userbyid(f.opfowner)::text
FROM pg_opfamily f WHERE f.oid >= 16384
UNION ALL
SELECT 'pg_conversion'::regclass::oid, c.oid, pg_catalog.pg_get_userbyid(c.conowner)::text
FROM pg_conversion c WHERE c.oid >= 16384
UNION ALL
SELECT 'pg_language'::regclass::oid, l.oid, pg_catalog.pg_get_userbyid(l.lanowner)::text
FROM pg_language l WHERE l.oid >= 16384
UNION ALL
SELECT 'pg_statistic_ext'::regclass::oid, s.oid, pg_catalog.pg_get_userbyid(s.stxowner)::text
FROM pg_statistic_ext s WHERE s.oid >= 16384
