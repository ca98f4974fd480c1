-- schemaplan plan
-- version: 0.1.0
-- id: 20261121T134519Z_initial
-- direction: inverse
-- from: 17ef8b7df9d3d3ee122744ebf7d5892008e9369846fe19b91d03ab477710db4f
-- to: 0283853f9e736bbc7c0f32d5ab65205c5ca6ead7c8b87e96690a2b1d3c2911b3
-- phases: expand
-- hazards: data-loss, irreversible
-- steps: 6
--
-- expand: 6 steps, run as 1-6 (together in one transaction)

-- step 1 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- drop constraint orders_user_id_fkey on public.orders
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
