#!/usr/bin/env python3
"""Lock-impact benchmark: what a schema change does to live traffic, schemaplan vs naive DDL.

For each scenario (a directory under scenarios/: after.sql, naive.sql, scenario.json and
optionally before.sql / blocker.sql) the benchmark copies a prepared database (the
before-schema filled with --rows rows), starts pgbench with --clients clients at --rate
transactions/s (short transactions: workload/*.sql), and applies the change once as
`schemaplan plan` + `schemaplan apply` and once as the naive DDL (psql), each on its own fresh
copy. From pgbench's per-transaction log it reports, for the transactions that overlap the
change window, p99 and worst latency (measured from the scheduled start, so a stall also
counts for the transactions that queued behind it) and failed transactions, plus the change's
duration and the lock waits seen in pg_stat_activity. See README.md in this directory.

Only the standard library; needs psql and pgbench (PostgreSQL client tools) and, unless --db
is given, initdb/pg_ctl/postgres to start a throw-away server.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SCENARIOS_DIR = os.path.join(HERE, "scenarios")
WORKLOAD_DIR = os.path.join(HERE, "workload")
BASE_DIR = os.path.join(SCENARIOS_DIR, "_base")
DOC_BEGIN = "<!-- lock_impact results: begin (written by benches/lock_impact/run.py) -->"
DOC_END = "<!-- lock_impact results: end -->"

# Lock waits in the benchmark database, sampled by a psql \watch during every run: who waits,
# for which lock on what, for how long so far, and who blocks it (pg_blocking_pids).
MONITOR_SQL = r"""
SELECT to_char(extract(epoch FROM clock_timestamp()), 'FM9999999999.000') AS ts,
       w.pid, w.application_name,
       to_char(extract(epoch FROM clock_timestamp() - w.query_start), 'FM99990.000') AS waited,
       l.mode, coalesce(l.relation::regclass::text, l.locktype) AS obj,
       b.pid AS bpid, b.application_name AS bapp,
       left(regexp_replace(coalesce(b.query, ''), '\s+', ' ', 'g'), 200) AS bquery
FROM pg_stat_activity w
JOIN pg_locks l ON l.pid = w.pid AND NOT l.granted
LEFT JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid) ON true
LEFT JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'
\watch 0.1
"""


def log(msg):
    now = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
    print(f"[{now}] {msg}", flush=True)


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Connection strings and client tools


def with_database(url, db):
    """The URL with its database replaced (postgres:// or postgresql:// URLs only)."""
    p = urllib.parse.urlsplit(url)
    if p.scheme not in ("postgres", "postgresql"):
        die(f"--db must be a postgresql:// URL, got scheme {p.scheme!r}")
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + urllib.parse.quote(db), p.query, ""))


def redact(url):
    p = urllib.parse.urlsplit(url)
    if p.password is None:
        return url
    netloc = p.netloc.replace(":" + p.password + "@", ":***@", 1)
    return urllib.parse.urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))


class Tools:
    def __init__(self, pgbin):
        self.pgbin = pgbin

    def path(self, name):
        if self.pgbin:
            return os.path.join(self.pgbin, name)
        found = shutil.which(name)
        if found:
            return found
        for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True) if os.path.isdir(
            "/usr/lib/postgresql"
        ) else []:
            cand = os.path.join("/usr/lib/postgresql", d, "bin", name)
            if os.path.exists(cand):
                return cand
        die(f"{name} not found (pass --pgbin DIR)")


def psql(tools, url, sql=None, file=None, variables=None, app="lock-impact", check=True):
    cmd = [tools.path("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url]
    for k, v in (variables or {}).items():
        cmd += ["-v", f"{k}={v}"]
    if sql is not None:
        cmd += ["-c", sql]
    if file is not None:
        cmd += ["-f", file]
    env = dict(os.environ, PGAPPNAME=app)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        die(f"psql {'-c ' + sql[:80] if sql else '-f ' + str(file)}: {r.stderr.strip()}")
    return r.stdout.strip()


# ---------------------------------------------------------------------------------------------
# The server: a throw-away one in /dev/shm, or the one --db names


class OwnServer:
    """initdb + pg_ctl start on 127.0.0.1; data in /dev/shm (else the temp dir); as user
    postgres when run as root (initdb refuses root). Stopped and deleted by stop()."""

    def __init__(self, tools, args):
        self.tools = tools
        base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        self.port = args.port or free_port()
        self.datadir = os.path.join(base, f"schemaplan-lock-impact-{self.port}")
        self.as_user = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.shared_buffers = args.shared_buffers

    def start(self):
        if os.path.exists(self.datadir):
            die(f"{self.datadir} exists (a server of an earlier run? stop it and delete it)")
        os.makedirs(self.datadir, mode=0o700)
        if self.as_user:
            shutil.chown(self.datadir, "postgres", "postgres")
        run = lambda cmd: subprocess.run(self.as_user + cmd, check=True, capture_output=True, text=True)
        try:
            run([self.tools.path("initdb"), "-D", self.datadir, "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--locale=C"])
        except subprocess.CalledProcessError as e:
            die(f"initdb: {e.stderr.strip()}")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.datadir}'",
            "max_connections": "60",
            "shared_buffers": f"'{self.shared_buffers}'",
            "max_wal_size": "'2GB'",
            "checkpoint_timeout": "'30min'",
            "logging_collector": "off",
            "log_lock_waits": "on",
            "log_checkpoints": "on",
            "log_autovacuum_min_duration": "0",
        }
        with open(os.path.join(self.datadir, "postgresql.auto.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        try:
            run([self.tools.path("pg_ctl"), "-D", self.datadir, "-l",
                 os.path.join(self.datadir, "server.log"), "-w", "-t", "60", "start"])
        except subprocess.CalledProcessError as e:
            die(f"pg_ctl start: {e.stderr.strip()} (see {self.datadir}/server.log)")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self, keep_log_in=None):
        log_path = os.path.join(self.datadir, "server.log")
        if keep_log_in and os.path.exists(log_path):
            # log_lock_waits and checkpoint lines: what the server was doing during a stall.
            shutil.copy(log_path, os.path.join(keep_log_in, "server.log"))
        subprocess.run(self.as_user + [self.tools.path("pg_ctl"), "-D", self.datadir, "-m", "fast",
                                       "-w", "stop"], capture_output=True)
        shutil.rmtree(self.datadir, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------------------------
# Scenarios


def load_scenarios(selected):
    names = sorted(d for d in os.listdir(SCENARIOS_DIR) if not d.startswith("_"))
    order = [
        "create_index", "add_foreign_key", "add_check", "set_not_null", "unique_constraint",
        "add_column_volatile_default", "rename_column", "int_to_bigint",
        "ddl_behind_long_transaction", "create_index_behind_long_transaction",
    ]
    names.sort(key=lambda n: (order.index(n) if n in order else len(order), n))
    if selected:
        unknown = [s for s in selected if s not in names]
        if unknown:
            die(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in selected]
    out = []
    for n in names:
        d = os.path.join(SCENARIOS_DIR, n)
        with open(os.path.join(d, "scenario.json")) as f:
            meta = json.load(f)
        before = os.path.join(d, "before.sql")
        fill = os.path.join(d, "fill.sql")
        out.append({
            "name": n,
            "dir": d,
            "title": meta.get("title", n),
            "target_ms": meta.get("target_ms", 250),
            "apply_args": meta.get("apply_args", []),
            "blocker": os.path.join(d, meta["blocker"]) if meta.get("blocker") else None,
            "blocker_head_start_s": meta.get("blocker_head_start_s", 1.0),
            "before": before if os.path.exists(before) else os.path.join(BASE_DIR, "before.sql"),
            "fill": fill if os.path.exists(fill) else os.path.join(BASE_DIR, "fill.sql"),
            "after": os.path.join(d, "after.sql"),
            "naive": os.path.join(d, "naive.sql"),
        })
    return out


def file_text(path):
    with open(path) as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# Databases


class Databases:
    def __init__(self, tools, admin_url, rows, customers):
        self.tools = tools
        self.admin = admin_url
        self.rows = rows
        self.customers = customers
        self.templates = {}
        self.created = []
        ver = int(psql(tools, admin_url, "SHOW server_version_num"))
        self.version_num = ver
        self.version = psql(tools, admin_url, "SHOW server_version")
        self.tag = f"li{os.getpid()}"

    def template(self, sc):
        """The filled before-state database for a scenario (built once per distinct
        before.sql + fill.sql)."""
        key = hashlib.sha256(
            (file_text(sc["before"]) + "\0" + file_text(sc["fill"])).encode()
        ).hexdigest()[:10]
        if key in self.templates:
            return self.templates[key]
        name = f"{self.tag}_tpl_{key}"
        log(f"building template {name}: {self.rows} rows ({os.path.relpath(sc['before'], HERE)})")
        t = time.monotonic()
        psql(self.tools, self.admin, f'CREATE DATABASE "{name}"')
        self.created.append(name)
        url = with_database(self.admin, name)
        psql(self.tools, url, file=sc["before"])
        psql(self.tools, url, file=sc["fill"],
             variables={"rows": self.rows, "customers": self.customers})
        # Freeze and analyze once so the copies start with a clean visibility map and no
        # autovacuum work pending; the checkpoint makes the file copy below cheap.
        psql(self.tools, url, "VACUUM (FREEZE, ANALYZE)")
        size = psql(self.tools, url, "SELECT pg_size_pretty(pg_database_size(current_database()))")
        log(f"template ready in {time.monotonic() - t:.1f}s ({size})")
        self.templates[key] = name
        return name

    def fresh(self, template, label):
        name = f"{self.tag}_{label}"[:63]
        strategy = " STRATEGY FILE_COPY" if self.version_num >= 150000 else ""
        psql(self.tools, self.admin, f'DROP DATABASE IF EXISTS "{name}"')
        psql(self.tools, self.admin, f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
        self.created.append(name)
        return name, with_database(self.admin, name)

    def drop(self, name):
        force = " WITH (FORCE)" if self.version_num >= 130000 else ""
        psql(self.tools, self.admin, f'DROP DATABASE IF EXISTS "{name}"{force}', check=False)
        if name in self.created:
            self.created.remove(name)

    def drop_all(self):
        for name in list(reversed(self.created)):
            self.drop(name)


# ---------------------------------------------------------------------------------------------
# pgbench and its per-transaction log


def start_pgbench(tools, url, args, rows, customers, logdir):
    cmd = [
        tools.path("pgbench"), "-n", "-c", str(args.clients), "-j", str(args.threads),
        "-R", str(args.rate), "-T", "3600", "--log", f"--log-prefix={logdir}/tx",
        "-D", f"rows={rows}", "-D", f"customers={customers}",
    ]
    for script, weight in (("read", 5), ("update", 4), ("insert", 1)):
        cmd += ["-f", f"{os.path.join(WORKLOAD_DIR, script + '.sql')}@{weight}"]
    cmd.append(url)
    out = open(os.path.join(logdir, "pgbench.out"), "w")
    env = dict(os.environ, PGAPPNAME="pgbench")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env), out


def stop_process(proc, sig=signal.SIGINT, wait=10):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_pgbench_log(logdir):
    """Per-transaction lines: (end_epoch_s, latency_ms, failed, script_no)."""
    txs = []
    for fn in sorted(os.listdir(logdir)):
        if not fn.startswith("tx."):
            continue
        with open(os.path.join(logdir, fn)) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6:
                    continue
                # client_id transaction_no time script_no time_epoch time_us [schedule_lag ...]
                end = int(parts[4]) + int(parts[5]) / 1e6
                if parts[2] in ("failed", "skipped"):
                    txs.append((end, None, True, int(parts[3])))
                else:
                    txs.append((end, int(parts[2]) / 1000.0, False, int(parts[3])))
    txs.sort()
    return txs


def pgbench_aborts(logdir):
    """Clients pgbench aborted (an SQL error other than a retried serialization failure or
    deadlock ends a pgbench client) and the first error message."""
    text = file_text(os.path.join(logdir, "pgbench.out"))
    aborted = re.findall(r"client \d+ (?:script \d+ )?aborted.*", text)
    errors = re.findall(r"(?:ERROR|FATAL):\s+(.*)", text)
    return len(aborted), (errors[0] if errors else (aborted[0] if aborted else None))


def percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def window_stats(txs, t0, t1):
    """Transactions whose [scheduled start, end] overlaps [t0, t1]."""
    lat, failed, n = [], 0, 0
    for end, ms, fail, _ in txs:
        start = end - (ms or 0) / 1000.0
        if end < t0 or start > t1:
            continue
        n += 1
        if fail:
            failed += 1
        else:
            lat.append(ms)
    return {
        "transactions": n,
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "max_ms": max(lat) if lat else None,
        "failed": failed,
    }


# ---------------------------------------------------------------------------------------------
# Lock-wait monitor


def start_monitor(tools, url, logdir):
    path = os.path.join(logdir, "monitor.sql")
    with open(path, "w") as f:
        f.write(MONITOR_SQL)
    out = open(os.path.join(logdir, "lockwaits.txt"), "w")
    cmd = [tools.path("psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-P", "footer=off", url, "-f", path]
    env = dict(os.environ, PGAPPNAME="lock-impact-monitor")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env), out


def lock_waits(logdir, t0, t1):
    """Longest lock wait per (waiter kind, lock, blocker) seen during [t0, t1] (+1 s)."""
    worst = {}
    path = os.path.join(logdir, "lockwaits.txt")
    if not os.path.exists(path):
        return []
    for line in open(path):
        p = line.rstrip("\n").split("\t")
        if len(p) < 9:
            continue
        try:
            ts, waited = float(p[0]), float(p[3])
        except ValueError:
            continue
        if ts < t0 or ts > t1 + 1.0:
            continue
        waiter = p[2] or "?"
        key = (waiter, p[4], p[5], p[7] or "?", p[8])
        if waited > worst.get(key, (0.0,))[0]:
            worst[key] = (waited, p[6])
    rows = [
        {"waiter": k[0], "mode": k[1], "object": k[2], "blocker_app": k[3], "blocker_query": k[4],
         "blocker_pid": v[1], "max_wait_s": round(v[0], 3)}
        for k, v in worst.items()
    ]
    rows.sort(key=lambda r: -r["max_wait_s"])
    return rows


# ---------------------------------------------------------------------------------------------
# One run: one scenario in one form on a fresh copy


def run_one(ctx, sc, form):
    args, tools, dbs = ctx["args"], ctx["tools"], ctx["dbs"]
    label = f"{sc['name']}_{form}"
    rundir = os.path.join(ctx["outdir"], label)
    os.makedirs(rundir, exist_ok=True)
    template = dbs.template(sc)
    dbname, url = dbs.fresh(template, label)
    res = {"scenario": sc["name"], "form": form}
    try:
        change_cmd = None
        if form == "schemaplan":
            schema_dir = os.path.join(rundir, "schema")
            os.makedirs(schema_dir, exist_ok=True)
            shutil.copy(sc["after"], os.path.join(schema_dir, "schema.sql"))
            plan_dir = os.path.join(rundir, "plan")
            shutil.rmtree(plan_dir, ignore_errors=True)
            cmd = [ctx["schemaplan"], "plan", "--db", url, "--schema", schema_dir, "--out", plan_dir,
                   "--name", sc["name"]] + args.plan_arg
            if ctx["dev_url"]:
                cmd += ["--dev-url", ctx["dev_url"]]
            r = subprocess.run(cmd, capture_output=True, text=True)
            with open(os.path.join(rundir, "plan.out"), "w") as f:
                f.write(r.stdout + r.stderr)
            if r.returncode != 0:
                res["error"] = "plan failed: " + last_error_line(r.stdout + r.stderr)
                log(f"  {label}: {res['error']}")
                return res
            plan = json.load(open(os.path.join(plan_dir, "plan.json")))
            res["plan"] = {
                "steps": len(plan["steps"]),
                "hazards": plan.get("hazards", []),
                "phases": plan.get("phases", []),
                "summary": [
                    {"n": s["number"], "summary": s["summary"], "phase": s["phase"],
                     "lock": s.get("lock"), "lock_target": s.get("lock_target"),
                     "lock_timeout_ms": s.get("lock_timeout_ms"),
                     "transactional": s.get("transactional"), "hazards": s.get("hazards")}
                    for s in plan["steps"]
                ],
            }
            change_cmd = [ctx["schemaplan"], "apply", "--db", url, plan_dir,
                          "--allow-hazards", "all"] + sc["apply_args"] + args.apply_arg
            change_env = dict(os.environ)
        else:
            change_cmd = [tools.path("psql"), "-X", "-v", "ON_ERROR_STOP=1", url, "-f", sc["naive"]]
            change_env = dict(os.environ, PGAPPNAME="naive-ddl")

        bench, bench_out = start_pgbench(tools, url, args, dbs.rows, dbs.customers, rundir)
        mon, mon_out = start_monitor(tools, url, rundir)
        blocker = None
        try:
            time.sleep(args.warmup)
            if bench.poll() is not None:
                out = file_text(os.path.join(rundir, "pgbench.out"))
                res["error"] = "pgbench exited early: " + out[-300:]
                return res
            if sc["blocker"]:
                blocker = subprocess.Popen(
                    [tools.path("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-f", sc["blocker"]],
                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(rundir, "blocker.err"), "w"),
                    env=dict(os.environ, PGAPPNAME="long-transaction"))
                time.sleep(sc["blocker_head_start_s"])
            t0 = time.time()
            r = subprocess.run(change_cmd, capture_output=True, text=True, env=change_env)
            t1 = time.time()
            with open(os.path.join(rundir, "change.out"), "w") as f:
                f.write(f"$ {' '.join(shlex.quote(c) for c in change_cmd)}\n{r.stdout}{r.stderr}")
            res["change_exit"] = r.returncode
            if r.returncode != 0:
                res["change_error"] = last_error_line(r.stdout + r.stderr)
            if blocker:
                blocker.wait()
            time.sleep(args.cooldown)
        finally:
            # pgbench writes its log through stdio buffers and has no SIGINT handler: the last
            # buffered lines (well under a second at this rate) are lost, which is why the
            # cool-down after the change window must be longer than that.
            stop_process(bench)
            stop_process(mon, signal.SIGTERM)
            bench_out.close()
            mon_out.close()
            if blocker and blocker.poll() is None:
                blocker.kill()
        res["duration_s"] = round(t1 - t0, 3)
        txs = read_pgbench_log(rundir)
        res["window"] = window_stats(txs, t0, t1)
        first = txs[0][0] if txs else t0
        res["baseline"] = window_stats(txs, first + 1.0, t0 - 0.5)
        aborted, err = pgbench_aborts(rundir)
        res["clients_aborted"] = aborted
        res["pgbench_error"] = err
        res["failed"] = res["window"]["failed"] + aborted
        res["lock_waits"] = lock_waits(rundir, t0, t1)
        if form == "schemaplan":
            res["journal"] = journal_steps(tools, url)
            if r.returncode == 0:
                res["drift"] = drift(ctx, url, os.path.join(rundir, "schema"))
                argv = sc["apply_args"] + args.apply_arg
                phase = argv[argv.index("--phase") + 1] if "--phase" in argv[:-1] else "expand"
                if phase == "expand" and "contract" in res["plan"]["phases"]:
                    res["drift"] += " (expected: the contract phase was not run)"
        w = res["window"]
        log(f"  {label}: change {res['duration_s']:.2f}s exit {r.returncode}, "
            f"{w['transactions']} tx in window, p99 {fmt_ms(w['p99_ms'])}, worst {fmt_ms(w['max_ms'])}, "
            f"failed {res['failed']}")
        return res
    finally:
        if not args.keep:
            dbs.drop(dbname)


def last_error_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    for l in lines:
        if "error" in l.lower():
            return l.strip()[:300]
    return lines[-1].strip()[:300] if lines else "(no output)"


def journal_steps(tools, url):
    """Step durations and attempts of the last run, from schemaplan's journal table
    schemaplan.steps (docs/executor.md, "Bookkeeping")."""
    out = psql(tools, url,
               "SELECT coalesce(json_agg(json_build_object('step', step, 'summary', summary, "
               "'attempts', attempts, 'duration_secs', duration_secs, 'outcome', outcome) "
               "ORDER BY step), '[]') FROM schemaplan.steps "
               "WHERE run_id = (SELECT max(run_id) FROM schemaplan.runs)", check=False)
    try:
        steps = json.loads(out.strip())
    except ValueError:
        return None
    return [
        {"step": s.get("step"), "summary": s.get("summary"), "attempts": s.get("attempts"),
         "duration_s": s.get("duration_secs"), "outcome": s.get("outcome")}
        for s in steps
    ]


def drift(ctx, url, schema_dir):
    cmd = [ctx["schemaplan"], "drift", "--db", url, "--schema", schema_dir]
    if ctx["dev_url"]:
        cmd += ["--dev-url", ctx["dev_url"]]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return {0: "in sync", 2: "drifted"}.get(r.returncode, "error: " + last_error_line(r.stdout + r.stderr))


# ---------------------------------------------------------------------------------------------
# Report


def fmt_ms(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    return f"{v:.0f} ms"


def fmt_s(v):
    return "-" if v is None else f"{v:.2f} s"


def machine_info(dbs, load_before):
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram": mem,
        "postgresql": dbs.version,
        "load_before": load_before,
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def verdict(sc, sp, nv):
    if not sp or "window" not in sp:
        return "not run" if not sp else "error"
    w = sp["window"]
    ok = (sp.get("change_exit") == 0 and w["max_ms"] is not None and w["max_ms"] <= sc["target_ms"]
          and sp["failed"] == 0)
    return "yes" if ok else "**no**"


def cell_form(r):
    if not r:
        return ["-"] * 4
    if "window" not in r:
        return [r.get("error", "error")[:60], "-", "-", "-"]
    w = r["window"]
    dur = fmt_s(r["duration_s"])
    if r.get("change_exit"):
        dur += " (failed)"
    return [dur, fmt_ms(w["p99_ms"]), fmt_ms(w["max_ms"]), str(r["failed"])]


def markdown(ctx, scenarios, results, machine):
    a = ctx["args"]
    lines = []
    lines.append(f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['ram']} RAM, "
                 f"PostgreSQL {machine['postgresql']}; load average before the run "
                 f"{machine['load_before']}, after {machine['load_after']}; {machine['date']}; "
                 f"{ctx['version']}.")
    lines.append("")
    lines.append(f"Load: pgbench, {a.clients} clients, -R {a.rate} (read 50% / update 40% / insert "
                 f"10%), on a table of {ctx['dbs'].rows:,} rows; warm-up {a.warmup:g} s, "
                 f"cool-down {a.cooldown:g} s.")
    lines.append("")
    lines.append("Command:")
    lines.append("")
    lines.append("```sh")
    lines.append(ctx["command"])
    lines.append("```")
    lines.append("")
    lines.append("| scenario | plan (steps; hazards) | schemaplan: duration | p99 | worst | failed "
                 "| naive: duration | p99 | worst | failed | baseline p99 / worst | target (worst) | met |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for sc in scenarios:
        sp = results.get((sc["name"], "schemaplan"))
        nv = results.get((sc["name"], "naive"))
        plan = "-"
        if sp and sp.get("plan"):
            p = sp["plan"]
            hz = [h for h in p["hazards"]] or ["none"]
            plan = f"{p['steps']}; {', '.join(hz)}"
        base = [r["baseline"] for r in (sp, nv) if r and r.get("baseline")]
        base_cell = "-"
        if base:
            p99 = [b["p99_ms"] for b in base if b["p99_ms"] is not None]
            worst = [b["max_ms"] for b in base if b["max_ms"] is not None]
            if p99 and worst:
                base_cell = f"{fmt_ms(max(p99))} / {fmt_ms(max(worst))}"
        row = [sc["title"], plan] + cell_form(sp) + cell_form(nv) + [
            base_cell, f"{sc['target_ms']} ms", verdict(sc, sp, nv)]
        lines.append("| " + " | ".join(row) + " |")
    base = [r["baseline"] for r in results.values() if r.get("baseline") and r["baseline"]["transactions"]]
    if base:
        lines.append("")
        lines.append("Baseline: the warm-up before the change (both runs of the scenario; no change "
                     "running), the noise floor of the machine. Over all runs: p99 "
                     f"{fmt_ms(max(b['p99_ms'] for b in base if b['p99_ms'] is not None))} at most, "
                     f"worst {fmt_ms(max(b['max_ms'] for b in base if b['max_ms'] is not None))}.")
    lines.append("")
    lines.append("Per scenario: the steps schemaplan planned (lock, lock_timeout), the journal's "
                 "step durations and attempts, and the longest lock waits seen during the change "
                 "window (pg_stat_activity sampled every 100 ms).")
    lines.append("")
    for sc in scenarios:
        lines.append(f"- **{sc['title']}** (`{sc['name']}`)")
        for form in ("schemaplan", "naive"):
            r = results.get((sc["name"], form))
            if not r:
                continue
            bits = []
            if r.get("error"):
                bits.append(r["error"])
            if r.get("change_error"):
                bits.append(f"change failed: `{r['change_error']}`")
            if r.get("clients_aborted"):
                bits.append(f"{r['clients_aborted']} pgbench clients aborted: `{r['pgbench_error']}`")
            if form == "schemaplan" and r.get("plan"):
                steps = []
                journal = {j["step"]: j for j in (r.get("journal") or [])}
                for s in r["plan"]["summary"]:
                    j = journal.get(s["n"])
                    lock = s["lock"] or "none"
                    lt = f", lock_timeout {s['lock_timeout_ms']} ms" if s.get("lock_timeout_ms") else ""
                    jt = ""
                    if j:
                        jt = f", {fmt_s(j['duration_s'])}"
                        if (j.get("attempts") or 1) > 1:
                            jt += f", {j['attempts']} attempts"
                    steps.append(f"{s['n']}. {s['summary']} [{s['phase']}, {lock}{lt}{jt}]")
                bits.append("steps: " + "; ".join(steps))
                if r.get("drift"):
                    bits.append(f"drift after apply: {r['drift']}")
            waits = [w for w in r.get("lock_waits", []) if w["max_wait_s"] >= 0.05]
            if waits:
                ws = []
                for w in waits[:3]:
                    ws.append(f"{w['waiter']} waited {w['max_wait_s']:.2f} s for {w['mode']} on "
                              f"{w['object']} behind {w['blocker_app']} (`{w['blocker_query'][:90]}`)")
                bits.append("lock waits: " + "; ".join(ws))
            lines.append(f"  - {form}: " + (" · ".join(bits) if bits else "no lock waits over 50 ms"))
    return "\n".join(lines) + "\n"


def write_docs(path, body):
    text = file_text(path) if os.path.exists(path) else ""
    block = f"{DOC_BEGIN}\n{body}{DOC_END}\n"
    if DOC_BEGIN in text and DOC_END in text:
        head, rest = text.split(DOC_BEGIN, 1)
        tail = rest.split(DOC_END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000, help="rows in public.orders (default 5000000)")
    ap.add_argument("--customers", type=int, default=None,
                    help="rows in public.customers (default rows/50, at least 10)")
    ap.add_argument("--scenario", action="append", default=[],
                    help="run only this scenario (repeatable; default: all)")
    ap.add_argument("--form", choices=["schemaplan", "naive", "both"], default="both")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="pgbench -j")
    ap.add_argument("--rate", type=float, default=200, help="pgbench -R, transactions/s in total")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the change")
    ap.add_argument("--cooldown", type=float, default=4.0, help="seconds of load after the change")
    ap.add_argument("--seconds", type=float, default=None,
                    help="shorthand: warm-up and cool-down of this many seconds each")
    ap.add_argument("--db", help="postgresql:// URL of an existing server (a role that may create "
                    "databases); default: start a throw-away server")
    ap.add_argument("--dev-url", help="shadow server for schemaplan plan/drift (default: the "
                    "benchmark's own server; with --db, schemaplan's embedded shadow)")
    ap.add_argument("--port", type=int, help="port of the throw-away server (default: a free one)")
    ap.add_argument("--shared-buffers", default="1GB", help="of the throw-away server")
    ap.add_argument("--pgbin", help="directory of psql/pgbench/initdb/pg_ctl (default: PATH, "
                    "then the newest /usr/lib/postgresql/*/bin)")
    ap.add_argument("--schemaplan", default=os.path.join(REPO, "target", "release", "schemaplan"),
                    help="the binary (default target/release/schemaplan: cargo build --release)")
    ap.add_argument("--plan-arg", action="append", default=[], help="extra argument for schemaplan plan")
    ap.add_argument("--apply-arg", action="append", default=[], help="extra argument for schemaplan apply")
    ap.add_argument("--out", help="result directory (default target/lock_impact/<UTC timestamp>)")
    ap.add_argument("--docs", help="write the results table into this markdown file, between "
                    "marker comments (e.g. docs/benchmarks.md)")
    ap.add_argument("--keep", action="store_true", help="keep the databases (and the server)")
    args = ap.parse_args()
    if args.seconds is not None:
        args.warmup = args.cooldown = args.seconds
    if args.cooldown < 2:
        die("--cooldown must be at least 2 s (pgbench's last buffered log lines are lost at stop)")
    customers = args.customers or max(10, args.rows // 50)

    if not os.access(args.schemaplan, os.X_OK):
        die(f"{args.schemaplan} not found: run `cargo build --release` (or pass --schemaplan)")
    version = subprocess.run([args.schemaplan, "--version"], capture_output=True,
                             text=True).stdout.strip().split("\n")[0]
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    tools = Tools(args.pgbin)
    scenarios = load_scenarios(args.scenario)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    outdir = os.path.abspath(args.out or os.path.join(REPO, "target", "lock_impact", stamp))
    os.makedirs(outdir, exist_ok=True)
    command = "benches/lock_impact/run.py " + " ".join(
        shlex.quote(redact(a) if a.startswith("postgres") else a) for a in sys.argv[1:])

    server = None
    if args.db:
        admin = args.db
        dev_url = args.dev_url
    else:
        server = OwnServer(tools, args)
        log(f"starting a throw-away PostgreSQL server in {server.datadir} (port {server.port})")
        admin = server.start()
        dev_url = args.dev_url or admin
    dbs = None
    try:
        dbs = Databases(tools, admin, args.rows, customers)
        ctx = {"args": args, "tools": tools, "dbs": dbs, "outdir": outdir, "dev_url": dev_url,
               "schemaplan": os.path.abspath(args.schemaplan),
               "version": f"{version} (commit {commit})" if commit else version,
               "command": command}
        log(f"{len(scenarios)} scenario(s), {args.rows} rows, pgbench -c {args.clients} -R {args.rate}; "
            f"results in {outdir}")
        forms = ["schemaplan", "naive"] if args.form == "both" else [args.form]
        results = {}
        for sc in scenarios:
            log(f"scenario {sc['name']}: {sc['title']}")
            for form in forms:
                results[(sc["name"], form)] = run_one(ctx, sc, form)
        machine = machine_info(dbs, load_before)
        md = markdown(ctx, scenarios, results, machine)
        with open(os.path.join(outdir, "results.json"), "w") as f:
            json.dump({"machine": machine, "command": command, "rows": args.rows,
                       "results": [results[k] for k in results]}, f, indent=2)
        with open(os.path.join(outdir, "results.md"), "w") as f:
            f.write(md)
        if args.docs:
            write_docs(args.docs, md)
            log(f"wrote {args.docs}")
        print()
        print(md)
    finally:
        if dbs and not args.keep:
            dbs.drop_all()
        if server and not args.keep:
            server.stop(keep_log_in=outdir)


if __name__ == "__main__":
    main()
