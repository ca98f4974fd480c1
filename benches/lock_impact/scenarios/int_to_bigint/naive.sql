ALTER TABLE public.orders ALTER COLUMN amount TYPE bigint;
