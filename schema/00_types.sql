-- Types shared by the tables below.
CREATE TYPE public.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');
