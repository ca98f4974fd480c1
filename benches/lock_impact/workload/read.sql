-- Point read by primary key (the most common transaction of the workload).
\set id random(1, :rows)
SELECT id, customer_id, amount, status, note FROM public.orders WHERE id = :id;
