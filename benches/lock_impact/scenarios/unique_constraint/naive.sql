ALTER TABLE public.orders ADD CONSTRAINT orders_ref_key UNIQUE (ref);
