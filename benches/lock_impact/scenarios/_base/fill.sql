-- Fills the before-schema: psql variables :rows (orders) and :customers.
INSERT INTO public.customers (id, name)
SELECT g, 'customer ' || g FROM generate_series(1, :customers) AS g;

INSERT INTO public.orders (customer_id, amount, status, note, ref, created_at)
SELECT 1 + g % :customers, g % 1000, 'paid', 'note ' || g, 'R' || g,
       timestamptz '2026-01-01' + g * interval '1 second'
FROM generate_series(1, :rows) AS g;
