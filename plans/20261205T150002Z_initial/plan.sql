-- schemaplan plan
-- version: 0.1.0
-- id: 20261205T150002Z_initial
-- direction: forward
-- from: 5a98b76a7d23a153785bb4d19c79b589eaaa284bb74e2f20fd2293e1b01172ea
-- to: 3dfae741d458c2090cfaa88845d3fdb9c2cd9303d6f01fa9f0ac1247b16d0f87
-- phases: expand
-- hazards: none
-- steps: 15
--
-- expand: 15 steps, run as 1-15 (together in one transaction)

-- step 1 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- create type public.order_status
CREATE TYPE public.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');

-- step 2 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- create table public.orders
CREATE TABLE public.orders (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    user_id bigint NOT NULL,
    status public.order_status DEFAULT 'pending'::public.order_status NOT NULL,
    total_cents integer NOT NULL,
    placed_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;

-- step 3 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- create table public.users
CREATE TABLE public.users (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    email text NOT NULL,
    display_name text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

-- step 4 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- add constraint orders_pkey on public.orders
ALTER TABLE public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

-- step 5 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- add constraint orders_total_cents_check on public.orders
ALTER TABLE public.orders ADD CONSTRAINT orders_total_cents_check CHECK ((total_cents >= 0));

-- step 6 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.users | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- add constraint users_pkey on public.users
ALTER TABLE public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);

-- step 7 | phase: expand | transaction: yes | lock: SHARE ROW EXCLUSIVE on public.orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- add constraint orders_user_id_fkey on public.orders
-- note: also locks the referenced table: SHARE ROW EXCLUSIVE on public.users
ALTER TABLE public.orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

-- step 8 | phase: expand | transaction: yes | lock: SHARE on public.orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- create index public.orders_user_id_placed_at_idx
CREATE INDEX orders_user_id_placed_at_idx ON public.orders USING btree (user_id, placed_at DESC);

-- step 9 | phase: expand | transaction: yes | lock: SHARE on public.users | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- create index public.users_email_key
CREATE UNIQUE INDEX users_email_key ON public.users USING btree (lower(email));

-- step 10 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- create view public.open_orders
CREATE VIEW public.open_orders AS
SELECT o.id,
    o.user_id,
    u.email,
    o.total_cents,
    o.placed_at
   FROM (public.orders o
     JOIN public.users u ON ((u.id = o.user_id)))
  WHERE (o.status = ANY (ARRAY['pending'::public.order_status, 'paid'::public.order_status]));

-- step 11 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- create function public.touch_updated_at()
CREATE OR REPLACE FUNCTION public.touch_updated_at()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$function$;

-- step 12 | phase: expand | transaction: yes | lock: SHARE ROW EXCLUSIVE on public.users | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- create trigger users_touch_updated_at on public.users
CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at();

-- step 13 | phase: expand | transaction: yes | lock: ACCESS EXCLUSIVE on public.orders | lock_timeout: 100ms | statement_timeout: 1min | hazards: none
-- create policy orders_owner on public.orders
CREATE POLICY orders_owner ON public.orders AS PERMISSIVE FOR ALL TO PUBLIC USING ((user_id = (current_setting('app.user_id'::text, true))::bigint));

-- step 14 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- set comment on table public.users
COMMENT ON TABLE public.users IS 'People who can sign in.';

-- step 15 | phase: expand | transaction: yes | lock: none | lock_timeout: none | statement_timeout: 1min | hazards: none
-- set comment on column public.users.email
COMMENT ON COLUMN public.users.email IS 'Sign-in address; unique regardless of case.';
