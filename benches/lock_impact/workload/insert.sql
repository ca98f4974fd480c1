-- Single-row insert (id from the identity sequence, a random unique ref).
\set cid random(1, :customers)
INSERT INTO public.orders (customer_id, amount, status, note, ref)
VALUES (:cid, 1, 'new', 'inserted', md5(random()::text || clock_timestamp()::text));
