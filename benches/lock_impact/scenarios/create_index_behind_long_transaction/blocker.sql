-- A reporting transaction that reads the table and stays open for 10 seconds: it holds
-- ACCESS SHARE on public.orders, which does not block the workload but does block any DDL
-- that needs ACCESS EXCLUSIVE (and everything queued behind that DDL).
BEGIN;
SELECT count(*) FROM public.orders WHERE id <= 10;
SELECT pg_sleep(10);
COMMIT;
