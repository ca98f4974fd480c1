CREATE INDEX orders_customer_id_idx ON public.orders (customer_id);
