-- Single-row update by primary key (row lock, ROW EXCLUSIVE on the table).
\set id random(1, :rows)
UPDATE public.orders SET amount = amount + 1, note = 'updated' WHERE id = :id;
