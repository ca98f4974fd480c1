-- Publications of this database (oid >= 16384: none is created by initdb). pubviaroot exists
-- from PostgreSQL 13, pubgencols ('n' none, 's' stored) from 18 ({{pubgencols}}: NULL before).
SELECT p.oid, p.pubname::text AS name, p.puballtables AS all_tables,
       p.pubinsert AS ins, p.pubupdate AS upd, p.pubdelete AS del, p.pubtruncate AS trunc,
       p.pubviaroot AS via_root, {{pubgencols}} AS generated_columns
FROM pg_publication p
WHERE p.oid >= 16384
