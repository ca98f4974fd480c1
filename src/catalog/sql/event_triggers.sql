-- Event triggers of this database (oid >= 16384: none is created by initdb), without those an
-- extension owns. evttags is NULL without a WHEN TAG filter; evtenabled: O enabled,
-- D disabled, R replica, A always.
SELECT e.oid, e.evtname::text AS name, e.evtevent::text AS event, e.evtenabled AS enabled,
       coalesce(e.evttags::text[], ARRAY[]::text[]) AS tags,
       n.nspname::text AS function_schema, p.proname::text AS function_name
FROM pg_event_trigger e
JOIN pg_proc p ON p.oid = e.evtfoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE e.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_event_trigger'::regclass AND x.objid = e.oid
                    AND x.deptype = 'e')
