-- Text search configurations (oid >= 16384), without those an extension owns, with their
-- mappings: one entry per (token type, dictionary) in the arrays, ordered by the token type's
-- alias and then the dictionary's position in the mapping (mapseqno).
SELECT c.oid, n.nspname::text AS schema, c.cfgname::text AS name,
       pn.nspname::text AS parser_schema, p.prsname::text AS parser_name,
       ARRAY(SELECT t.alias::text FROM pg_ts_config_map m
             JOIN ts_token_type(c.cfgparser) t ON t.tokid = m.maptokentype
             WHERE m.mapcfg = c.oid ORDER BY t.alias, m.mapseqno) AS map_tokens,
       ARRAY(SELECT dn.nspname::text FROM pg_ts_config_map m
             JOIN ts_token_type(c.cfgparser) t ON t.tokid = m.maptokentype
             JOIN pg_ts_dict d ON d.oid = m.mapdict
             JOIN pg_namespace dn ON dn.oid = d.dictnamespace
             WHERE m.mapcfg = c.oid ORDER BY t.alias, m.mapseqno) AS map_dict_schemas,
       ARRAY(SELECT d.dictname::text FROM pg_ts_config_map m
             JOIN ts_token_type(c.cfgparser) t ON t.tokid = m.maptokentype
             JOIN pg_ts_dict d ON d.oid = m.mapdict
             WHERE m.mapcfg = c.oid ORDER BY t.alias, m.mapseqno) AS map_dict_names
FROM pg_ts_config c
JOIN pg_namespace n ON n.oid = c.cfgnamespace
JOIN pg_ts_parser p ON p.oid = c.cfgparser
JOIN pg_namespace pn ON pn.oid = p.prsnamespace
WHERE c.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_depend x
                  WHERE x.classid = 'pg_ts_config'::regclass AND x.objid = c.oid
                    AND x.deptype = 'e')
