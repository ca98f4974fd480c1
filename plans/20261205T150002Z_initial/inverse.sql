-- schemaplan plan
-- version: 0.1.0
-- id: 20261205T150002Z_initial
-- direction: inverse
-- from: 3dfae741d458c2090cfaa88845d3fdb9c2cd9303d6f01fa9f0ac1247b16d0f87
-- to: 5a98b76a7d23a153785bb4d19c79b589eaaa284bb74e2f20fd2293e1b01172ea
-- phases: expand
-- hazards: data-loss, irreversible
-- steps: 6
--
-- expand: 6 steps, run as 1-6 (together in one transaction)

-- step 1 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- drop constraint orders_user_id_fkey on public.orders
-- note: also locks the referenced table: ACCESS EXCLUSIVE on public.users
ALTER TABLE public.orders DROP CONSTRAINT orders_user_id_fkey;

-- step 2 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.open_orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- drop view public.open_orders
DROP VIEW public.open_orders;

-- step 3 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: data-loss, irreversible
-- drop table public.orders
DROP TABLE public.orders;

-- step 4 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- drop type public.order_status
DROP TYPE public.order_status;

-- step 5 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.users | lock_timeout: 100ms | statement_timeout: 1min | hazards: data-loss, irreversible
-- drop table public.users
DROP TABLE public.users;

-- step 6 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- drop function public.touch_updated_at()
DROP FUNCTION public.touch_updated_at();
