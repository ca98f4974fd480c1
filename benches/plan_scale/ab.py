#!/usr/bin/env python3
"""A/B of two schemaplan binaries on `plan` at one table count, interleaved, for a change that
touches one stage (e.g. the proof): the same live database, the same shadow server, the binaries
alternating round by round so a load spike on a busy machine hits both. Reports wall time,
client CPU, server CPU (the throw-away server's backends) and peak RSS per run, the medians, and
the ratios B/A. Uses run.py's server, generator and measurement.

    benches/plan_scale/ab.py --a OLD_BINARY --b NEW_BINARY --tables 1000 --repeat 2

Variants measured: `one` (one new table) and, with --five, the ~5% change, each run with an
empty cache folder and the benchmark's server as shadow (`--dev-url`): a cold plan. With
--warm, also `same`: `plan` of the unchanged base files with the embedded shadow and one cache
folder per binary, primed by a first run that is not measured (a binary that keeps the loaded
desired database between runs reuses it; server CPU is not measured there: the embedded
cluster is not the benchmark's server). With --warm-edit, also `edit`: in each round, a fresh
embedded cache folder per binary is primed (unmeasured) by planning the base files, then `plan`
of the one-object change is measured with it (a binary that updates the kept database
incrementally re-runs only the new table's statements). With --warm-drift, also `drift`:
`schemaplan drift` of the unchanged base files with the same primed cache as `same` (a binary
that stores the kept database's catalog reading takes the desired schema from it). Every run
has SCHEMAPLAN_TIMINGS=1; the `shadow load` and `catalog reads` stages' wall times are
reported when the binary records them (`catalog reads` is the binary's own read of the live
database: the introspection floor the warm targets of issue 9 are ratios of, measured in the
same run). With --cold, also `cold`: the one-object change with an empty cache folder and the
embedded shadow (what run.py's "plan, cold" measures: initdb of the embedded cluster, parse,
load, reads, proof; the cache folder under --out, on disk like run.py's), and in each round the
`psql -1` load of the base files into an empty database of the benchmark's server, issue 9's
reference for the cold plan (cold wall / load is printed per binary).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402
import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="binary A (the baseline)")
    ap.add_argument("--b", required=True, help="binary B (the change)")
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--five", action="store_true", help="also the ~5%% change")
    ap.add_argument("--warm", action="store_true",
                    help="also plan the unchanged files again with a primed embedded cache")
    ap.add_argument("--warm-edit", action="store_true",
                    help="also plan the one-object change with a cache primed by the base files")
    ap.add_argument("--warm-drift", action="store_true",
                    help="also drift of the unchanged files with the primed cache of --warm")
    ap.add_argument("--cold", action="store_true",
                    help="also plan the one-object change with an empty cache and the embedded "
                         "shadow, and the psql -1 load of the base files as its reference")
    ap.add_argument("--out", help="result directory (default: a temporary one, deleted)")
    ap.add_argument("--pgbin")
    ap.add_argument("--port", type=int)
    ap.add_argument("--shared-buffers", default="512MB")
    args = ap.parse_args()
    tools = run.Tools(args.pgbin)
    out = os.path.abspath(args.out) if args.out else tempfile.mkdtemp(prefix="plan-ab-")
    os.makedirs(out, exist_ok=True)
    server = run.OwnServer(tools, args)
    admin = server.start()
    run.SERVER_PID = server.postmaster_pid()
    try:
        dbs = run.Databases(tools, admin)
        generate.generate(args.tables, args.seed, os.path.join(out, "schema"))
        _, live = dbs.create("live")
        r = run.measure(run.load_cmd(tools, live, os.path.join(out, "schema", "base")),
                        os.path.join(out, "setup_live.log"))
        if r["exit"] != 0:
            run.die(f"loading the base schema failed: {run.tail(r['log'])}")
        variants = (["one"] + (["five"] if args.five else []) + (["same"] if args.warm else [])
                    + (["edit"] if args.warm_edit else [])
                    + (["drift"] if args.warm_drift else [])
                    + (["cold"] if args.cold else []))
        loads = []
        results = {(v, w): [] for v in variants for w in "ab"}
        # The embedded shadow runs as nobody when we are root: its cache folder must be
        # reachable, so it lives in /dev/shm (0755), one per binary, kept across the rounds.
        shm = f"/dev/shm/plan-ab-{os.getpid()}"
        warm_cache = {w: os.path.join(shm, w) for w in "ab"}

        def plan(w, v, tag, cache, shadow):
            binary = args.a if w == "a" else args.b
            env = dict(os.environ, SCHEMAPLAN_CACHE_DIR=cache, SCHEMAPLAN_TIMINGS="1")
            env.pop("DATABASE_URL", None)
            env.pop("SCHEMAPLAN_DEV_URL", None)
            folder = {"same": "base", "edit": "one", "prime": "base", "drift": "base",
                      "cold": "one"}.get(v, v)
            schema = os.path.join(out, "schema", folder)
            if v == "drift":
                cmd = [binary, "drift", "--db", live, "--schema", schema]
                ok = (0, 2)
            else:
                cmd = [binary, "plan", "--db", live, "--schema", schema, "--out",
                       os.path.join(out, f"plan_{tag}")]
                ok = (0,)
            r = run.measure(cmd + shadow, os.path.join(out, f"{tag}.log"), env=env)
            if r["exit"] not in ok:
                run.die(f"{tag} failed: {run.tail(r['log'])}")
            if v in ("same", "edit", "prime", "drift", "cold"):
                r["server_cpu_s"] = None
            r["load_s"] = stage_time(r["log"], "shadow load")
            r["read_s"] = stage_time(r["log"], "catalog reads")
            return r

        def stage_time(logpath, stage):
            # A top-level stage in SCHEMAPLAN_TIMINGS's report: "  shadow load   12.345 s ...".
            with open(logpath) as f:
                for line in f:
                    m = re.match(r"^  " + re.escape(stage) + r"\s+([0-9.]+) s", line)
                    if m:
                        return float(m.group(1))
            return None

        if args.warm or args.warm_drift:
            for w in "ab":
                os.makedirs(warm_cache[w], exist_ok=True)
                os.chmod(shm, 0o755)
                os.chmod(warm_cache[w], 0o755)
                plan(w, "same", f"prime_{w}", warm_cache[w], [])
        for rnd in range(args.repeat):
            order = "ab" if rnd % 2 == 0 else "ba"
            if args.cold:
                name, url = dbs.create(f"load_{rnd + 1}")
                r = run.measure(run.load_cmd(tools, url, os.path.join(out, "schema", "base")),
                                os.path.join(out, f"load_{rnd + 1}.log"))
                if r["exit"] != 0:
                    run.die(f"psql -1 load failed: {run.tail(r['log'])}")
                loads.append(r["wall_s"])
                dbs.drop(name)
            for v in variants:
                for w in order:
                    tag = f"{v}_{w}_{rnd + 1}"
                    if v in ("same", "drift"):
                        results[(v, w)].append(plan(w, v, tag, warm_cache[w], []))
                        continue
                    if v == "cold":
                        # Under --out like run.py's cold caches (on disk), reachable by the
                        # embedded server's user when we are root.
                        os.chmod(out, 0o755)
                        cache = tempfile.mkdtemp(prefix=f"cache-{tag}-", dir=out)
                        os.chmod(cache, 0o755)
                        results[(v, w)].append(plan(w, v, tag, cache, []))
                        stop_embedded(cache)
                        shutil.rmtree(cache, ignore_errors=True)
                        continue
                    if v == "edit":
                        cache = os.path.join(shm, f"edit-{w}-{rnd + 1}")
                        os.makedirs(cache, exist_ok=True)
                        os.chmod(shm, 0o755)
                        os.chmod(cache, 0o755)
                        plan(w, "prime", f"prime_edit_{w}_{rnd + 1}", cache, [])
                        results[(v, w)].append(plan(w, v, tag, cache, []))
                        stop_embedded(cache)
                        shutil.rmtree(cache, ignore_errors=True)
                        continue
                    cache = tempfile.mkdtemp(prefix=f"cache-{tag}-", dir=out)
                    results[(v, w)].append(plan(w, v, tag, cache, ["--dev-url", admin]))
                    shutil.rmtree(cache, ignore_errors=True)
        print(f"\nN={args.tables}, {args.repeat} interleaved round(s), medians; "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print("| variant | binary | wall | client CPU | server CPU | peak RSS | shadow load | "
              "live catalog read | wall / live read |")
        print("|---|---|---|---|---|---|---|---|---|")
        for v in variants:
            med = {}
            for w in "ab":
                rs = results[(v, w)]
                med[w] = {k: run.median([x[k] for x in rs if x.get(k) is not None] or [None])
                          for k in ("wall_s", "cpu_s", "server_cpu_s", "rss_mib", "load_s",
                                    "read_s")}
                m = med[w]
                srv = "-" if m["server_cpu_s"] is None else f"{m['server_cpu_s']:.1f} s"
                load = "-" if m["load_s"] is None else f"{m['load_s']:.1f} s"
                read = "-" if m["read_s"] is None else f"{m['read_s']:.1f} s"
                per_read = "-" if not m["read_s"] else f"{m['wall_s'] / m['read_s']:.1f}x"
                print(f"| {v} | {w.upper()} | {m['wall_s']:.1f} s | {m['cpu_s']:.1f} s | "
                      f"{srv} | {m['rss_mib']:.0f} MiB | {load} | {read} | {per_read} |")
            ratio = {k: f"{med['b'][k] / med['a'][k]:.2f}" if med["a"][k] and med["b"][k] is not None
                     else "-" for k in med["a"]}
            print(f"| {v} | B/A | {ratio['wall_s']} | {ratio['cpu_s']} | "
                  f"{ratio['server_cpu_s']} | {ratio['rss_mib']} | {ratio['load_s']} | "
                  f"{ratio['read_s']} | |")
            if v == "cold" and loads:
                load = run.median(loads)
                print(f"\npsql -1 load of the base files: {load:.1f} s (median); cold plan / load: "
                      + ", ".join(f"{w.upper()} {med[w]['wall_s'] / load:.1f}x" for w in "ab"))
    finally:
        server.stop()
        for w in "ab":
            stop_embedded(os.path.join(f"/dev/shm/plan-ab-{os.getpid()}", w))
        shutil.rmtree(f"/dev/shm/plan-ab-{os.getpid()}", ignore_errors=True)
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)


def stop_embedded(cache):
    """Stops the embedded cluster of a cache folder (no schemaplan runs on it any more)."""
    tools = run.Tools(None)
    for d in (os.listdir(cache) if os.path.isdir(cache) else []):
        data = os.path.join(cache, d, "data")
        if os.path.isdir(data):
            run_as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
            subprocess.run(run_as + [tools.path("pg_ctl"), "-D", data, "-m", "fast", "-w",
                                     "stop"], capture_output=True)


if __name__ == "__main__":
    main()
