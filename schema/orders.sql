CREATE TABLE public.orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    status public.order_status NOT NULL DEFAULT 'pending',
    total_cents integer NOT NULL CHECK (total_cents >= 0),
    placed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_user_id_placed_at_idx ON public.orders (user_id, placed_at DESC);

-- Each user sees only their own orders (the application sets app.user_id per session).
ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_owner ON public.orders
    USING (user_id = current_setting('app.user_id', true)::bigint);

CREATE VIEW public.open_orders AS
    SELECT o.id, o.user_id, u.email, o.total_cents, o.placed_at
    FROM public.orders o
    JOIN public.users u ON u.id = o.user_id
    WHERE o.status IN ('pending', 'paid');
