ALTER TABLE public.orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0);
