ALTER TABLE public.orders ADD COLUMN shipped_at timestamptz;
