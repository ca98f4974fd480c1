#!/usr/bin/env python3
"""Generator of synthetic but realistic N-table PostgreSQL schemas for the plan-scale benchmark.

Deterministic by seed: the same (tables, seed) gives byte-identical files. The schema is built
as a small model (tables with columns, constraints, indexes, comments; views; SQL and plpgsql
functions; triggers; enums) and rendered into several files in a realistic layout:

    01_types.sql                 enums and the shared trigger function
    02_tables/NNN_<domain>.sql   50 tables per file: CREATE TABLE, indexes, comments
    03_functions.sql             SQL and plpgsql functions over the tables
    04_views.sql                 views over ~20% of the tables
    05_triggers.sql              triggers (updated_at touch, per-table audit functions)

Files sort in load order, so `psql -1 -v ON_ERROR_STOP=1 -f ...` of the sorted list loads them.

Variants (same seed, same base):
    base   the schema
    one    base plus one new table (one changed object)
    five   ~5% of the objects changed: added and dropped columns, changed defaults, new
           indexes, changed view bodies, changed function bodies

Usage: generate.py --tables N [--seed S] [--variant base|one|five|all] --out DIR
(with --variant all, DIR/base, DIR/one and DIR/five are written). Only the standard library.
"""

import argparse
import copy
import os
import random
import shutil
import sys

NOUNS = [
    "account", "order", "invoice", "payment", "customer", "product", "shipment", "warehouse",
    "ticket", "session", "device", "contract", "supplier", "employee", "project", "task",
    "campaign", "coupon", "review", "subscription", "refund", "address", "carrier", "region",
    "ledger", "budget", "asset", "license", "report", "event",
]
DOMAINS = ["billing", "sales", "logistics", "support", "identity", "catalog", "finance", "ops",
           "marketing", "hr"]
WORDS = ["name", "code", "note", "label", "title", "status_text", "reference", "email", "city",
         "memo", "sku", "phone", "summary", "tag", "source"]

TABLES_PER_FILE = 50


class Schema:
    """The model: plain dicts and lists, deep-copied for the variants."""

    def __init__(self):
        self.enums = []       # {name, values}
        self.tables = []      # {name, domain, cols, pk, fks, checks, indexes, comment, col_comments, trigger}
        self.functions = []   # {name, kind: sql|plpgsql|trigger, sql}
        self.views = []       # {name, table, cols, where, join}
        self.triggers = []    # {name, table, func, timing}


def ident_table(i, rng):
    return f"{rng.choice(NOUNS)}_{i:05d}"


def make_column(rng, t, k, enums):
    """One column: (name, type, not_null, default, kind). kind drives checks/indexes."""
    choice = rng.randrange(16)
    word = WORDS[k % len(WORDS)]
    if choice == 0:
        return {"name": f"qty_{k}", "type": "integer", "not_null": True, "default": "0", "kind": "int"}
    if choice == 1:
        return {"name": f"total_{k}", "type": "bigint", "not_null": False, "default": None, "kind": "int"}
    if choice == 2:
        return {"name": f"{word}_{k}", "type": "text", "not_null": rng.random() < 0.4,
                "default": "''" if rng.random() < 0.5 else None, "kind": "text"}
    if choice == 3:
        n = rng.choice([40, 80, 120, 255])
        return {"name": f"{word}_{k}", "type": f"varchar({n})", "not_null": False, "default": None,
                "kind": "text"}
    if choice == 4:
        return {"name": f"amount_{k}", "type": "numeric(12,2)", "not_null": True, "default": "0",
                "kind": "num"}
    if choice == 5:
        return {"name": f"is_flag_{k}", "type": "boolean", "not_null": True,
                "default": rng.choice(["false", "true"]), "kind": "bool"}
    if choice == 6:
        return {"name": f"happened_{k}", "type": "timestamp with time zone", "not_null": False,
                "default": None, "kind": "ts"}
    if choice == 7:
        return {"name": f"day_{k}", "type": "date", "not_null": False,
                "default": "CURRENT_DATE" if rng.random() < 0.3 else None, "kind": "date"}
    if choice == 8:
        return {"name": f"attrs_{k}", "type": "jsonb", "not_null": True, "default": "'{}'::jsonb",
                "kind": "json"}
    if choice == 9:
        return {"name": f"token_{k}", "type": "uuid", "not_null": False,
                "default": "gen_random_uuid()" if rng.random() < 0.5 else None, "kind": "uuid"}
    if choice == 10 and enums:
        e = rng.choice(enums)
        return {"name": f"state_{k}", "type": e["name"], "not_null": True,
                "default": f"'{e['values'][0]}'::{e['name']}", "kind": "enum"}
    if choice == 11:
        return {"name": f"rank_{k}", "type": "smallint", "not_null": False, "default": None, "kind": "int"}
    if choice == 12:
        return {"name": f"score_{k}", "type": "double precision", "not_null": False, "default": None,
                "kind": "num"}
    if choice == 13:
        return {"name": f"blob_{k}", "type": "bytea", "not_null": False, "default": None, "kind": "other"}
    if choice == 14:
        return {"name": f"ip_{k}", "type": "inet", "not_null": False, "default": None, "kind": "other"}
    return {"name": f"tags_{k}", "type": "text[]", "not_null": True, "default": "'{}'::text[]",
            "kind": "other"}


def make_table(rng, i, schema):
    name = ident_table(i, rng)
    domain = DOMAINS[(i // TABLES_PER_FILE) % len(DOMAINS)]
    cols = [{"name": "id", "type": "bigint", "identity": True, "not_null": True, "default": None,
             "kind": "pk"}]
    fks = []
    earlier = schema.tables
    nfk = 0 if not earlier else rng.choice([0, 0, 1, 1, 1, 2])
    for parent in rng.sample(earlier, min(nfk, len(earlier))):
        col = {"name": f"{parent['name']}_id", "type": "bigint", "not_null": rng.random() < 0.5,
               "default": None, "kind": "fk"}
        cols.append(col)
        fks.append({"name": f"{name}_{col['name']}_fkey", "col": col["name"], "ref": parent["name"],
                    "on_delete": rng.choice(["NO ACTION", "CASCADE", "SET NULL"])
                    if not col["not_null"] else rng.choice(["NO ACTION", "CASCADE"])})
    # 8-15 columns in all, counting id, the FK columns and the timestamps.
    total = rng.randint(8, 15)
    k = 1
    while len(cols) < total - 2:
        cols.append(make_column(rng, name, k, schema.enums))
        k += 1
    cols.append({"name": "created_at", "type": "timestamp with time zone", "not_null": True,
                 "default": "now()", "kind": "ts"})
    cols.append({"name": "updated_at", "type": "timestamp with time zone", "not_null": False,
                 "default": None, "kind": "ts"})
    checks = []
    numeric = [c for c in cols if c["kind"] in ("int", "num")]
    texts = [c for c in cols if c["kind"] == "text"]
    if numeric and (not texts or rng.random() < 0.6):
        c = rng.choice(numeric)
        checks.append({"name": f"{name}_{c['name']}_check", "expr": f"{c['name']} >= 0",
                       "cols": [c["name"]]})
    elif texts:
        c = rng.choice(texts)
        checks.append({"name": f"{name}_{c['name']}_check", "expr": f"length({c['name']}) <= 500",
                       "cols": [c["name"]]})
    else:
        checks.append({"name": f"{name}_created_check",
                       "expr": "updated_at IS NULL OR updated_at >= created_at",
                       "cols": ["created_at", "updated_at"]})
    indexes = []
    nidx = rng.randint(1, 3)
    candidates = []
    for fk in fks:
        candidates.append(("plain", [fk["col"]]))
    candidates.append(("plain", ["created_at"]))
    if texts:
        candidates.append(("expr", [rng.choice(texts)["name"]]))
    bools = [c for c in cols if c["kind"] == "bool"]
    candidates.append(("partial", ["created_at"], bools[0]["name"] if bools else None))
    rng.shuffle(candidates)
    for cand in candidates[:nidx]:
        idx = make_index(name, len(indexes), cand)
        indexes.append(idx)
    table = {
        "name": name, "domain": domain, "cols": cols, "fks": fks, "checks": checks,
        "indexes": indexes,
        "comment": f"{name.split('_')[0].capitalize()} records of the {domain} domain.",
        "col_comments": {c["name"]: f"The {c['name'].replace('_', ' ')}." for c in cols
                         if c["kind"] not in ("pk", "ts") and rng.random() < 0.25},
    }
    return table


def make_index(table, n, cand):
    kind = cand[0]
    col = cand[1][0]
    name = f"{table}_{col}_{kind}_idx"[:63]
    if kind == "plain":
        return {"name": name, "sql": f"CREATE INDEX {name} ON {table} ({col});", "cols": [col]}
    if kind == "expr":
        return {"name": name, "sql": f"CREATE INDEX {name} ON {table} (lower({col}));", "cols": [col]}
    flag = cand[2]
    where = f"WHERE {flag}" if flag else "WHERE updated_at IS NULL"
    used = [col] + ([flag] if flag else ["updated_at"])
    return {"name": name, "sql": f"CREATE INDEX {name} ON {table} ({col}) {where};", "cols": used}


def make_view(rng, t, by_name, body_variant=0):
    cols = [c for c in t["cols"] if c["kind"] not in ("json", "other")]
    picked = ["id"] + [c["name"] for c in rng.sample(cols[1:], min(len(cols) - 1, rng.randint(2, 5)))]
    view = {"name": f"v_{t['name']}", "table": t["name"], "cols": picked, "join": None,
            "where": "updated_at IS NULL" if rng.random() < 0.5 else None, "variant": body_variant}
    if t["fks"] and rng.random() < 0.5:
        view["join"] = t["fks"][0]
    return view


def used_columns(schema):
    """Per table, the columns something else depends on (not to be dropped by a variant)."""
    used = {}
    for t in schema.tables:
        u = used.setdefault(t["name"], set(["id", "created_at", "updated_at"]))
        for fk in t["fks"]:
            u.add(fk["col"])
        for ck in t["checks"]:
            u.update(ck["cols"])
        for ix in t["indexes"]:
            u.update(ix["cols"])
    for v in schema.views:
        used[v["table"]].update(v["cols"])
        if v["join"]:
            used[v["table"]].add(v["join"]["col"])
    for f in schema.functions:
        if f.get("table"):
            used[f["table"]].update(f.get("cols", []))
    return used


def build(n, seed):
    rng = random.Random(seed)
    s = Schema()
    for e in range(max(3, n // 40)):
        vals = rng.sample(["new", "open", "pending", "active", "paused", "closed", "archived",
                           "failed", "done", "draft", "review"], rng.randint(3, 6))
        s.enums.append({"name": f"{rng.choice(NOUNS)}_state_{e:03d}", "values": vals})
    for i in range(n):
        s.tables.append(make_table(rng, i, s))
    by_name = {t["name"]: t for t in s.tables}
    # Views over ~20% of the tables.
    for t in s.tables:
        if rng.random() < 0.2:
            s.views.append(make_view(rng, t, by_name))
    # Functions: one SQL function per ~8 tables, a plpgsql function per ~12, plus audit
    # trigger functions per ~20; the shared touch function is in 01_types.sql.
    for t in s.tables:
        r = rng.random()
        if r < 0.125:
            s.functions.append({"name": f"count_{t['name']}", "kind": "sql", "table": t["name"],
                                "cols": ["created_at"], "variant": 0})
        elif r < 0.21:
            s.functions.append({"name": f"stale_{t['name']}", "kind": "plpgsql", "table": t["name"],
                                "cols": ["updated_at"], "variant": 0})
        elif r < 0.26:
            s.functions.append({"name": f"audit_{t['name']}", "kind": "trigger", "table": t["name"],
                                "cols": ["updated_at"], "variant": 0})
            s.triggers.append({"name": f"{t['name']}_audit", "table": t["name"],
                               "func": f"audit_{t['name']}", "timing": "BEFORE INSERT"})
        if rng.random() < 0.3:
            s.triggers.append({"name": f"{t['name']}_touch", "table": t["name"],
                               "func": "touch_updated_at", "timing": "BEFORE UPDATE"})
    return s


# ---------------------------------------------------------------------------------------------
# Variants


def variant_one(s, n, seed):
    """One new table at the end (references an early table), in the last tables file."""
    rng = random.Random(seed * 7919 + 1)
    v = copy.deepcopy(s)
    t = make_table(rng, n, v)
    t["name"] = f"added_{n:05d}"
    # Rebuild the names that embed the table name.
    for fk in t["fks"]:
        fk["name"] = f"{t['name']}_{fk['col']}_fkey"
    for ck in t["checks"]:
        ck["name"] = f"{t['name']}_{ck['cols'][0]}_check"
    t["indexes"] = [make_index(t["name"], i, ("plain", ix["cols"][:1])) for i, ix in
                    enumerate(t["indexes"][:1])]
    t["domain"] = s.tables[-1]["domain"] if s.tables else DOMAINS[0]
    t["file_of"] = s.tables[-1]["name"] if s.tables else None
    v.tables.append(t)
    return v


def variant_five(s, n, seed):
    """~5% of the objects (tables, views, functions) changed, spread over the change kinds."""
    rng = random.Random(seed * 7919 + 5)
    v = copy.deepcopy(s)
    objects = len(v.tables) + len(v.views) + len(v.functions)
    k = max(6, round(objects * 0.05))
    used = used_columns(v)
    kinds = ["add_column", "drop_column", "change_default", "new_index", "view_body", "function_body"]
    counts = {kd: k // len(kinds) + (1 if i < k % len(kinds) else 0) for i, kd in enumerate(kinds)}
    touched = set()

    def pick_table(pred):
        for _ in range(200):
            t = rng.choice(v.tables)
            if t["name"] not in touched and pred(t):
                touched.add(t["name"])
                return t
        return None

    for _ in range(counts["add_column"]):
        t = pick_table(lambda t: True)
        if t:
            t["cols"].insert(len(t["cols"]) - 2, {"name": "extra_note", "type": "text",
                                                  "not_null": False, "default": None, "kind": "text"})
    for _ in range(counts["drop_column"]):
        t = pick_table(lambda t: any(c["name"] not in used[t["name"]] for c in t["cols"]))
        if t:
            c = next(c for c in t["cols"] if c["name"] not in used[t["name"]])
            t["cols"].remove(c)
            t["col_comments"].pop(c["name"], None)
    for _ in range(counts["change_default"]):
        t = pick_table(lambda t: any(c["kind"] in ("int", "num", "bool", "text") and c["name"] not in
                                     used[t["name"]] for c in t["cols"]))
        if t:
            c = next(c for c in t["cols"] if c["kind"] in ("int", "num", "bool", "text")
                     and c["name"] not in used[t["name"]])
            c["default"] = {"int": "1", "num": "1", "bool": "true", "text": "'n/a'"}[c["kind"]] \
                if c["default"] in (None, "0", "false", "''") else None
    for _ in range(counts["new_index"]):
        t = pick_table(lambda t: True)
        if t:
            t["indexes"].append({"name": f"{t['name']}_updated_at_new_idx"[:63],
                                 "sql": f"CREATE INDEX {t['name']}_updated_at_new_idx ON {t['name']} "
                                        f"(updated_at) WHERE updated_at IS NOT NULL;",
                                 "cols": ["updated_at"]})
    views = list(v.views)
    rng.shuffle(views)
    for view in views[:counts["view_body"]]:
        view["variant"] = 1
    funcs = [f for f in v.functions if f["kind"] != "trigger"] or list(v.functions)
    rng.shuffle(funcs)
    for f in funcs[:counts["function_body"]]:
        f["variant"] = 1
    return v


# ---------------------------------------------------------------------------------------------
# Rendering


def render_table(t):
    out = []
    lines = []
    for c in t["cols"]:
        if c.get("identity"):
            lines.append(f"    {c['name']} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
            continue
        line = f"    {c['name']} {c['type']}"
        if c["not_null"]:
            line += " NOT NULL"
        if c["default"] is not None:
            line += f" DEFAULT {c['default']}"
        lines.append(line)
    for fk in t["fks"]:
        od = "" if fk["on_delete"] == "NO ACTION" else f" ON DELETE {fk['on_delete']}"
        lines.append(f"    CONSTRAINT {fk['name']} FOREIGN KEY ({fk['col']}) REFERENCES "
                     f"{fk['ref']} (id){od}")
    for ck in t["checks"]:
        lines.append(f"    CONSTRAINT {ck['name']} CHECK ({ck['expr']})")
    out.append(f"CREATE TABLE {t['name']} (\n" + ",\n".join(lines) + "\n);")
    for ix in t["indexes"]:
        out.append(ix["sql"])
    out.append(f"COMMENT ON TABLE {t['name']} IS '{t['comment']}';")
    for col, text in sorted(t["col_comments"].items()):
        out.append(f"COMMENT ON COLUMN {t['name']}.{col} IS '{text}';")
    return "\n".join(out) + "\n"


def render_view(v):
    cols = ", ".join(f"t.{c}" for c in v["cols"])
    src = f"{v['table']} t"
    if v["join"]:
        fk = v["join"]
        cols += f", p.created_at AS {fk['ref'][:40]}_created_at"
        src += f"\n    LEFT JOIN {fk['ref']} p ON p.id = t.{fk['col']}"
    where = v["where"]
    if v["variant"]:
        where = "t.created_at > now() - interval '90 days'" + (f" AND t.{where}" if where else "")
    elif where:
        where = f"t.{where}"
    body = f"SELECT {cols}\n    FROM {src}" + (f"\n    WHERE {where}" if where else "")
    return f"CREATE VIEW {v['name']} AS\n    {body};\nCOMMENT ON VIEW {v['name']} IS " \
           f"'Current rows of {v['table']}.';\n"


def render_function(f):
    t = f["table"]
    if f["kind"] == "sql":
        days = 30 if not f["variant"] else 7
        return (f"CREATE FUNCTION {f['name']}(p_days integer DEFAULT {days}) RETURNS bigint\n"
                f"    LANGUAGE sql STABLE\n"
                f"    AS $$ SELECT count(*) FROM {t} WHERE created_at > now() - make_interval(days => p_days) $$;\n")
    if f["kind"] == "plpgsql":
        extra = "" if not f["variant"] else "\n    IF n > 1000 THEN\n        RAISE NOTICE 'many stale rows in %', TG_NAME;\n    END IF;"
        extra = extra.replace("TG_NAME", f"'{t}'")
        return (f"CREATE FUNCTION {f['name']}(p_limit integer) RETURNS integer\n"
                f"    LANGUAGE plpgsql\n"
                f"    AS $$\nDECLARE\n    n integer;\nBEGIN\n"
                f"    SELECT count(*) INTO n FROM {t} WHERE updated_at IS NULL;{extra}\n"
                f"    RETURN least(n, p_limit);\nEND\n$$;\n")
    return (f"CREATE FUNCTION {f['name']}() RETURNS trigger\n"
            f"    LANGUAGE plpgsql\n"
            f"    AS $$\nBEGIN\n    NEW.updated_at := NULL;\n    RETURN NEW;\nEND\n$$;\n"
            f"COMMENT ON FUNCTION {f['name']}() IS 'Audit hook of {t}.';\n")


def write(schema, out):
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "02_tables"))
    with open(os.path.join(out, "01_types.sql"), "w") as f:
        f.write("-- Enumerated types and shared helpers.\n\n")
        for e in schema.enums:
            vals = ", ".join(f"'{x}'" for x in e["values"])
            f.write(f"CREATE TYPE {e['name']} AS ENUM ({vals});\n")
        f.write("\nCREATE FUNCTION touch_updated_at() RETURNS trigger\n    LANGUAGE plpgsql\n"
                "    AS $$\nBEGIN\n    NEW.updated_at := now();\n    RETURN NEW;\nEND\n$$;\n")
    # Tables in files of TABLES_PER_FILE, in creation order (FKs point to earlier tables);
    # a table with file_of goes into the file of that table (the one-object edit).
    files = []
    where = {}
    for t in schema.tables:
        if t.get("file_of"):
            files[where[t["file_of"]]][1].append(t)
            where[t["name"]] = where[t["file_of"]]
            continue
        if not files or len(files[-1][1]) >= TABLES_PER_FILE:
            files.append((f"{len(files):03d}_{t['domain']}.sql", []))
        files[-1][1].append(t)
        where[t["name"]] = len(files) - 1
    for fname, tables in files:
        with open(os.path.join(out, "02_tables", fname), "w") as f:
            f.write(f"-- Tables of the {tables[0]['domain']} domain.\n")
            for t in tables:
                f.write("\n" + render_table(t))
    with open(os.path.join(out, "03_functions.sql"), "w") as f:
        f.write("-- Reporting and maintenance functions.\n")
        for fn in schema.functions:
            f.write("\n" + render_function(fn))
    with open(os.path.join(out, "04_views.sql"), "w") as f:
        f.write("-- Views for the reporting layer.\n")
        for v in schema.views:
            f.write("\n" + render_view(v))
    with open(os.path.join(out, "05_triggers.sql"), "w") as f:
        f.write("-- Triggers.\n\n")
        for tr in schema.triggers:
            f.write(f"CREATE TRIGGER {tr['name']} {tr['timing']} ON {tr['table']}\n"
                    f"    FOR EACH ROW EXECUTE FUNCTION {tr['func']}();\n")


def schema_files(d):
    """The .sql files under d in load order."""
    out = []
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for fn in sorted(files):
            if fn.endswith(".sql"):
                out.append(os.path.join(root, fn))
    return sorted(out)


def counts(schema):
    return {"tables": len(schema.tables), "views": len(schema.views),
            "functions": len(schema.functions) + 1, "triggers": len(schema.triggers),
            "enums": len(schema.enums),
            "indexes": sum(len(t["indexes"]) for t in schema.tables),
            "foreign_keys": sum(len(t["fks"]) for t in schema.tables)}


def generate(n, seed, out, variants=("base", "one", "five")):
    """Writes out/<variant>/ for each variant; returns {variant: counts}."""
    base = build(n, seed)
    made = {"base": base}
    if "one" in variants:
        made["one"] = variant_one(base, n, seed)
    if "five" in variants:
        made["five"] = variant_five(base, n, seed)
    result = {}
    for name in variants:
        write(made[name], os.path.join(out, name))
        result[name] = counts(made[name])
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant", choices=["base", "one", "five", "all"], default="all")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.tables < 2:
        sys.exit("--tables must be at least 2")
    if args.variant == "all":
        res = generate(args.tables, args.seed, args.out)
    else:
        res = generate(args.tables, args.seed, args.out, (args.variant,))
    for k, v in res.items():
        print(k, " ".join(f"{a}={b}" for a, b in v.items()))


if __name__ == "__main__":
    main()
