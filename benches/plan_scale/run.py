#!/usr/bin/env python3
"""Plan-scale benchmark: what schemaplan's drift and plan cost on big schemas, next to the floors.

For each table count N (--tables), generate.py writes a synthetic N-table schema (base, a
one-object change and a ~5% change); the runner loads the base into a live database and
measures, per stage: wall time, the client's CPU time (user + system of the child process,
from os.wait4) and its peak RSS (ru_maxrss):

    pg_dump -s            the live database's schema (the floor of reading a catalog)
    schemaplan dump       schemaplan's own catalog read of the live database (plus rendering
                          the files); its `catalog reads` stage (SCHEMAPLAN_TIMINGS=1) is the
                          catalog read alone, the floor issue 9's warm targets are ratios of
    psql -1 load          the base files into an empty database, one transaction
    migra                 diff of the live database and one with the one-object change (only
                          if `migra` is on PATH)
    drift cold / warm     `schemaplan drift`, nothing changed, with an empty cache folder, then
                          again with the same cache folder
    plan cold             `schemaplan plan` of the one-object change, empty cache folder
    plan warm             `schemaplan plan` of the base (nothing changed) in a schema folder,
                          then the one-object edit in that same folder and `plan` again with
                          the same cache folder: the second run is measured
    plan five             `schemaplan plan` of the ~5% change, empty cache folder

Stages are interleaved: with --repeat R, every round runs each stage once, in the order
above, so a load spike on the machine spreads over all stages instead of hitting one.

Only the standard library; needs psql and pg_dump (PostgreSQL client tools) and, unless --db
is given, initdb/pg_ctl/postgres to start a throw-away server. See README.md.
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import generate  # noqa: E402

DOC_BEGIN = "<!-- plan_scale results: begin (written by benches/plan_scale/run.py) -->"
DOC_END = "<!-- plan_scale results: end -->"

STAGES = [
    ("pg_dump", "pg_dump -s"),
    ("sp_dump", "schemaplan dump (catalog read + files)"),
    ("load", "psql -1 load"),
    ("migra", "migra (one new table)"),
    ("drift_cold", "drift, nothing changed, cold"),
    ("drift_warm", "drift, nothing changed, warm"),
    ("plan_cold", "plan, one new table, cold"),
    ("plan_warm", "plan, one new table, warm (after the edit)"),
    ("plan_five", "plan, ~5% changed, cold"),
]


def log(msg):
    now = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
    print(f"[{now}] {msg}", flush=True)


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Connection strings and client tools (as in benches/lock_impact/run.py)


def with_database(url, db):
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
        base = "/usr/lib/postgresql"
        for d in sorted(os.listdir(base), key=lambda v: int(v) if v.isdigit() else 0,
                        reverse=True) if os.path.isdir(base) else []:
            cand = os.path.join(base, d, "bin", name)
            if os.path.exists(cand):
                return cand
        die(f"{name} not found (pass --pgbin DIR)")


def psql(tools, url, sql, check=True):
    cmd = [tools.path("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PGAPPNAME="plan-scale"))
    if check and r.returncode != 0:
        die(f"psql -c {sql[:80]}: {r.stderr.strip()}")
    return r.stdout.strip()


# ---------------------------------------------------------------------------------------------
# Measuring one child process


SERVER_PID = None  # the throw-away server's postmaster, for the server CPU (None with --db)
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def server_cpu():
    """CPU seconds of the server's processes that have exited so far: the postmaster's own
    time plus its reaped children's (cutime + cstime), i.e. the backends of the connections
    that closed. None when the server is not ours (--db) or /proc is not there."""
    if SERVER_PID is None:
        return None
    try:
        with open(f"/proc/{SERVER_PID}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3; utime, stime, cutime, cstime are 14-17.
    return sum(int(x) for x in fields[11:15]) / TICKS


def measure(cmd, logpath, env=None, cwd=None):
    """Runs cmd with stdout+stderr to logpath; returns wall time, the child's CPU (user+sys,
    including the children it waited for) and its peak RSS, from os.wait4, and with our own
    server the CPU its backends used meanwhile (counted when they exit, so a short wait after
    the command for the postmaster to reap them)."""
    srv0 = server_cpu()
    with open(logpath, "w") as out:
        out.write("$ " + " ".join(shlex.quote(redact(c) if c.startswith("postgres") else c)
                                  for c in cmd) + "\n")
        out.flush()
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    srv = None
    if srv0 is not None:
        time.sleep(0.2)
        srv1 = server_cpu()
        srv = None if srv1 is None else round(srv1 - srv0, 2)
    log(f"  {os.path.basename(logpath)[:-4]}: {wall:.1f}s wall, "
        f"{ru.ru_utime + ru.ru_stime:.1f}s cpu, {ru.ru_maxrss / 1024.0:.0f} MiB, exit {proc.returncode}"
        + ("" if srv is None else f", server cpu {srv:.1f}s"))
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
        "user_s": round(ru.ru_utime, 3),
        "sys_s": round(ru.ru_stime, 3),
        "rss_mib": round(ru.ru_maxrss / 1024.0, 1),  # ru_maxrss is in KiB on Linux
        "server_cpu_s": srv,
        "log": logpath,
    }


def stage_time(logpath, stage):
    """A top-level stage's wall time in SCHEMAPLAN_TIMINGS's report ("  catalog reads   2.345 s
    ..."), or None when the log has none (an older binary, or the command failed first)."""
    try:
        with open(logpath) as f:
            for line in f:
                m = re.match(r"^  " + re.escape(stage) + r"\s+([0-9.]+) s", line)
                if m:
                    return float(m.group(1))
    except OSError:
        pass
    return None


def tail(path, n=5):
    try:
        with open(path) as f:
            lines = [l.rstrip() for l in f if l.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])[:400]


# ---------------------------------------------------------------------------------------------
# The server: a throw-away one in /dev/shm, or the one --db names


class OwnServer:
    """initdb + pg_ctl start on 127.0.0.1; data in /dev/shm (else the temp dir); as user
    postgres when run as root (initdb refuses root). Stopped and deleted by stop()."""

    def __init__(self, tools, args):
        self.tools = tools
        base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        self.port = args.port or free_port()
        self.datadir = os.path.join(base, f"schemaplan-plan-scale-{self.port}")
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

        def run(cmd):
            return subprocess.run(self.as_user + cmd, check=True, capture_output=True, text=True)

        try:
            run([self.tools.path("initdb"), "-D", self.datadir, "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--locale=C"])
        except subprocess.CalledProcessError as e:
            die(f"initdb: {e.stderr.strip()}")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.datadir}'",
            "max_connections": "100",
            "shared_buffers": f"'{self.shared_buffers}'",
            # Loading thousands of tables in one transaction takes a lock per relation.
            "max_locks_per_transaction": "1024",
            "max_wal_size": "'4GB'",
            "checkpoint_timeout": "'30min'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
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

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self, keep_log_in=None):
        log_path = os.path.join(self.datadir, "server.log")
        if keep_log_in and os.path.exists(log_path):
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


class Databases:
    def __init__(self, tools, admin_url):
        self.tools = tools
        self.admin = admin_url
        self.created = []
        self.version_num = int(psql(tools, admin_url, "SHOW server_version_num"))
        self.version = psql(tools, admin_url, "SHOW server_version")
        self.tag = f"ps{os.getpid()}"

    def create(self, label):
        name = f"{self.tag}_{label}"[:63]
        psql(self.tools, self.admin, f'DROP DATABASE IF EXISTS "{name}"')
        psql(self.tools, self.admin, f'CREATE DATABASE "{name}" TEMPLATE template0')
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
# One table count


def load_cmd(tools, url, schema_dir):
    cmd = [tools.path("psql"), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", url]
    for f in generate.schema_files(schema_dir):
        cmd += ["-f", f]
    return cmd


def run_size(ctx, n):
    args, tools, dbs = ctx["args"], ctx["tools"], ctx["dbs"]
    root = os.path.join(ctx["outdir"], f"n{n}")
    os.makedirs(root, exist_ok=True)
    logs = os.path.join(root, "logs")
    os.makedirs(logs, exist_ok=True)
    t = time.monotonic()
    counts = generate.generate(n, args.seed, os.path.join(root, "schema"))
    log(f"N={n}: generated in {time.monotonic() - t:.1f}s: " +
        ", ".join(f"{k} {v}" for k, v in counts["base"].items()))
    base = os.path.join(root, "schema", "base")
    one = os.path.join(root, "schema", "one")
    five = os.path.join(root, "schema", "five")

    # The live database (base) and, for migra, one with the one-object change.
    live_name, live = dbs.create(f"n{n}_live")
    r = measure(load_cmd(tools, live, base), os.path.join(logs, "setup_live.log"))
    if r["exit"] != 0:
        die(f"loading the base schema failed: {tail(r['log'])}")
    log(f"N={n}: live database loaded in {r['wall_s']:.1f}s")
    migra = shutil.which("migra")
    target_url = None
    if migra:
        _, target_url = dbs.create(f"n{n}_one")
        r = measure(load_cmd(tools, target_url, one), os.path.join(logs, "setup_one.log"))
        if r["exit"] != 0:
            die(f"loading the one-object variant failed: {tail(r['log'])}")
    sp = ctx["schemaplan"]
    dev = ["--dev-url", ctx["dev_url"]] if ctx["dev_url"] else []
    runs = {k: [] for k, _ in STAGES}
    notes = []
    if not migra:
        notes.append("migra: not installed (not on PATH), skipped")

    def env_with_cache(cache):
        # A fresh SCHEMAPLAN_CACHE_DIR is an empty cache: the binary has no --no-cache option
        # (yet); "warm" reuses the folder of the run before.
        # SCHEMAPLAN_TIMINGS=1: each stage's wall time at the end of the log, for the catalog
        # read alone (`catalog reads`), measured inside the same commands.
        e = dict(os.environ, SCHEMAPLAN_CACHE_DIR=cache, SCHEMAPLAN_TIMINGS="1")
        e.pop("DATABASE_URL", None)
        e.pop("SCHEMAPLAN_DEV_URL", None)
        return e

    def fresh_cache(label):
        d = tempfile.mkdtemp(prefix=f"cache-{label}-", dir=root)
        # mkdtemp makes it 0700; the embedded shadow's server runs as an unprivileged user
        # when we are root and must reach its socket in there.
        os.chmod(d, 0o755)
        return d

    for rnd in range(args.repeat):
        sfx = f"_{rnd + 1}"
        r = measure([tools.path("pg_dump"), "-s", "-f", os.path.join(root, f"pg_dump{sfx}.sql"), live],
                    os.path.join(logs, f"pg_dump{sfx}.log"))
        runs["pg_dump"].append(r)
        dump_out = os.path.join(root, f"sp_dump{sfx}")
        shutil.rmtree(dump_out, ignore_errors=True)
        r = measure([sp, "dump", "--db", live, "--out", dump_out] + dev,
                    os.path.join(logs, f"sp_dump{sfx}.log"), env=env_with_cache(fresh_cache("dump")))
        r["files"] = len(generate.schema_files(dump_out)) if os.path.isdir(dump_out) else 0
        r["read_s"] = stage_time(r["log"], "catalog reads")
        runs["sp_dump"].append(r)
        name, url = dbs.create(f"n{n}_load{sfx}")
        r = measure(load_cmd(tools, url, base), os.path.join(logs, f"load{sfx}.log"))
        r["tables"] = int(psql(tools, url, "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
                               "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'"))
        runs["load"].append(r)
        if not args.keep:
            dbs.drop(name)
        if migra:
            r = measure([migra, "--unsafe", live, target_url], os.path.join(logs, f"migra{sfx}.log"))
            # migra exits 2 when there are differences (expected: one new table).
            runs["migra"].append(r)
        cache = fresh_cache("drift")
        for stage in ("drift_cold", "drift_warm"):
            r = measure([sp, "drift", "--db", live, "--schema", base] + dev,
                        os.path.join(logs, f"{stage}{sfx}.log"), env=env_with_cache(cache))
            runs[stage].append(r)
        r = measure([sp, "plan", "--db", live, "--schema", one, "--out",
                     os.path.join(root, f"plan_cold{sfx}")] + dev,
                    os.path.join(logs, f"plan_cold{sfx}.log"), env=env_with_cache(fresh_cache("plan")))
        runs["plan_cold"].append(r)
        # Warm: the same schema folder and cache folder, first the base (nothing to do), then
        # the one-object edit in place.
        work = os.path.join(root, f"work{sfx}")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work)
        cache = fresh_cache("warm")
        r0 = measure([sp, "plan", "--db", live, "--schema", work, "--out",
                      os.path.join(root, f"plan_prime{sfx}")] + dev,
                     os.path.join(logs, f"plan_prime{sfx}.log"), env=env_with_cache(cache))
        shutil.rmtree(work)
        shutil.copytree(one, work)
        r = measure([sp, "plan", "--db", live, "--schema", work, "--out",
                     os.path.join(root, f"plan_warm{sfx}")] + dev,
                    os.path.join(logs, f"plan_warm{sfx}.log"), env=env_with_cache(cache))
        r["prime"] = r0
        runs["plan_warm"].append(r)
        r = measure([sp, "plan", "--db", live, "--schema", five, "--out",
                     os.path.join(root, f"plan_five{sfx}")] + dev,
                    os.path.join(logs, f"plan_five{sfx}.log"), env=env_with_cache(fresh_cache("five")))
        runs["plan_five"].append(r)
        log(f"N={n} round {rnd + 1}: " + ", ".join(
            f"{k} {v[-1]['wall_s']:.1f}s" for k, v in runs.items() if v))

    # What each stage produced (checked by the smoke test; reported in the notes).
    for stage, rs in runs.items():
        for r in rs:
            ok = r["exit"] == 0
            if stage == "migra":
                ok = r["exit"] in (0, 2)
            if stage.startswith("drift"):
                r["outcome"] = {0: "in sync", 2: "drifted"}.get(r["exit"], "error")
                ok = r["exit"] in (0, 2)
            if stage.startswith("plan"):
                d = r["log"].replace(os.path.join("logs", ""), "").replace(".log", "")
                r["plan_files"] = sorted(os.listdir(d)) if os.path.isdir(d) else []
            if stage == "sp_dump":
                ok = ok and r.get("files", 0) > 0
            r["ok"] = ok
            if not ok:
                r["error"] = tail(r["log"])
    for r in runs["drift_cold"] + runs["drift_warm"]:
        if r.get("outcome") == "drifted":
            notes.append(f"drift reported differences on an unchanged schema: see {r['log']}")
            break
    if not args.keep:
        for d in os.listdir(root):
            if d.startswith("cache-"):
                shutil.rmtree(os.path.join(root, d), ignore_errors=True)
        dbs.drop_all()
    return {"tables": n, "objects": counts, "stages": runs, "notes": notes}


# ---------------------------------------------------------------------------------------------
# Report


def median(vals):
    v = sorted(x for x in vals if x is not None)
    if not v:
        return None
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def summary(rs):
    """Median wall / cpu / rss over the rounds; None when not run or failed."""
    good = [r for r in rs if r.get("ok")]
    if not good:
        return None
    return {k: median([r.get(k) for r in good]) for k in ("wall_s", "cpu_s", "rss_mib", "server_cpu_s")}


def cell(s, what):
    if s is None:
        return "-"
    if what == "wall":
        return f"{s['wall_s']:.1f} s"
    if what == "server":
        return "-" if s["server_cpu_s"] is None else f"{s['server_cpu_s']:.1f} s"
    return f"{s['cpu_s']:.1f} s, {s['rss_mib']:.0f} MiB"


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


def markdown(ctx, sizes, machine):
    lines = []
    lines.append(f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['ram']} RAM, "
                 f"PostgreSQL {machine['postgresql']}; load average before the run "
                 f"{machine['load_before']}, after {machine['load_after']}; {machine['date']}; "
                 f"{ctx['version']}.")
    lines.append("")
    lines.append("Command:")
    lines.append("")
    lines.append("```sh")
    lines.append(ctx["command"])
    lines.append("```")
    lines.append("")
    stages = [(k, t) for k, t in STAGES]
    lines.append("Wall time (median of " + str(ctx["args"].repeat) + " interleaved round(s)):")
    lines.append("")
    lines.append("| tables (objects) | " + " | ".join(t for _, t in stages) + " |")
    lines.append("|---" * (len(stages) + 1) + "|")
    for s in sizes:
        o = s["objects"]["base"]
        label = (f"{s['tables']:,} ({o['views']} views, {o['functions']} functions, "
                 f"{o['indexes']} indexes)")
        lines.append(f"| {label} | " + " | ".join(cell(summary(s["stages"][k]), "wall")
                                                for k, _ in stages) + " |")
    lines.append("")
    lines.append("Client CPU (user + system of the process) and peak RSS:")
    lines.append("")
    lines.append("| tables | " + " | ".join(t for _, t in stages) + " |")
    lines.append("|---" * (len(stages) + 1) + "|")
    for s in sizes:
        lines.append(f"| {s['tables']:,} | " + " | ".join(cell(summary(s["stages"][k]), "cpu")
                                                      for k, _ in stages) + " |")
    if any(summary(s["stages"][k]) and summary(s["stages"][k])["server_cpu_s"] is not None
           for s in sizes for k, _ in stages):
        lines.append("")
        lines.append("Server CPU (the backends of the stage's connections, schemaplan's shadow "
                     "included when it is the benchmark's own server):")
        lines.append("")
        lines.append("| tables | " + " | ".join(t for _, t in stages) + " |")
        lines.append("|---" * (len(stages) + 1) + "|")
        for s in sizes:
            lines.append(f"| {s['tables']:,} | " + " | ".join(cell(summary(s["stages"][k]), "server")
                                                          for k, _ in stages) + " |")
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        growth = []
        for k, t in stages:
            sa, sb = summary(a["stages"][k]), summary(b["stages"][k])
            if sa and sb and sa["wall_s"] > 0:
                growth.append(f"{t} {sb['wall_s'] / sa['wall_s']:.1f}x")
        lines.append("")
        lines.append(f"Growth of the wall time from {a['tables']:,} to {b['tables']:,} tables: "
                     + "; ".join(growth) + ".")
    lines.extend(targets(sizes))
    notes = []
    for s in sizes:
        for note in s["notes"]:
            notes.append(f"N={s['tables']}: {note}")
        for k, t in stages:
            for r in s["stages"][k]:
                if not r.get("ok"):
                    notes.append(f"N={s['tables']}: {t} failed (exit {r['exit']}): `{r.get('error', '')[:200]}`")
                    break
    notes.append("Client CPU and RSS are schemaplan's (or psql's, pg_dump's, migra's) own and "
                 "those of the processes it waited for: with the embedded shadow, its server and "
                 "backends, which schemaplan starts and stops (the peak RSS is the largest of "
                 "them; a backend's counts the shared buffers it touched). The "
                 "server's work is in the wall time and, with the throw-away server, in the server "
                 "CPU (its backends' time, counted when they exit; with `--db` it is not "
                 "measured). `schemaplan dump` also renders and writes the files: the catalog read "
                 "alone is its `catalog reads` stage (SCHEMAPLAN_TIMINGS=1), which the targets "
                 "above are ratios of.")
    lines.append("")
    for n in notes:
        lines.append(f"- {n}")
    return "\n".join(lines) + "\n"


def targets(sizes):
    """Issue 9's targets as ratios within this run, at the largest table count: the warm ones
    against schemaplan's own catalog read alone (the `catalog reads` stage of `schemaplan
    dump`), the cold plan against `psql -1`; growth against the smallest count."""
    big = sizes[-1]
    st = {k: summary(big["stages"][k]) for k, _ in STAGES}
    read = median([r.get("read_s") for r in big["stages"]["sp_dump"] if r.get("ok")])
    rows = []

    def row(what, value, limit, fmt, better="low"):
        if value is None:
            rows.append(f"| {what} | - | {limit} | not measured |")
            return
        ok = value <= limit if better == "low" else value >= limit
        rows.append(f"| {what} | {fmt.format(value)} | {fmt.format(limit)} | {'yes' if ok else 'no'} |")

    def ratio(k, base):
        return None if st.get(k) is None or not base else st[k]["wall_s"] / base

    row("warm `plan` (one new table) / catalog read alone", ratio("plan_warm", read), 2.0, "{:.1f}x")
    if st.get("migra") and st.get("plan_warm"):
        row("migra / warm `plan` (faster than migra by)",
            st["migra"]["wall_s"] / st["plan_warm"]["wall_s"], 5.0, "{:.1f}x", better="high")
    row("warm `drift` (nothing changed) / catalog read alone", ratio("drift_warm", read), 1.5, "{:.1f}x")
    row("cold `plan` (one new table) / `psql -1` load",
        ratio("plan_cold", st["load"]["wall_s"] if st.get("load") else None), 1.2, "{:.1f}x")
    if len(sizes) >= 2:
        small = sizes[0]
        worst = None
        for k, _ in STAGES:
            if not (k.startswith("drift") or k.startswith("plan")):
                continue
            a, b = summary(small["stages"][k]), summary(big["stages"][k])
            if a and b and a["wall_s"] > 0:
                worst = max(worst or 0, b["wall_s"] / a["wall_s"])
        row(f"worst growth of a schemaplan command, {small['tables']:,} -> {big['tables']:,} tables",
            worst, 5.5, "{:.1f}x")
    rss = [st[k]["rss_mib"] for k, _ in STAGES
           if (k.startswith("drift") or k.startswith("plan")) and st.get(k)]
    row("peak RSS of a schemaplan command (MiB)", max(rss) if rss else None, 150, "{:.0f}")
    head = [
        "",
        f"Issue 9's targets at {big['tables']:,} tables, as ratios within this run (catalog read "
        "alone: the `catalog reads` stage of `schemaplan dump`, "
        + ("-" if read is None else f"{read:.1f} s") + "):",
        "",
        "| target | measured | limit | met |",
        "|---|---|---|---|",
    ]
    return head + rows


def write_docs(path, body):
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{DOC_BEGIN}\n{body}{DOC_END}\n"
    if DOC_BEGIN in text and DOC_END in text:
        head, rest = text.split(DOC_BEGIN, 1)
        tail_ = rest.split(DOC_END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail_ if tail_ else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default="1000,5000",
                    help="comma-separated table counts (default 1000,5000)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="interleaved rounds per table count (default 2; 1 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="one round, for a smoke test (e.g. --tables 30 --quick)")
    ap.add_argument("--db", help="postgresql:// URL of an existing server (a role that may create "
                    "databases); default: start a throw-away server")
    ap.add_argument("--dev-url", help="shadow server for schemaplan plan/drift (default: schemaplan's "
                    "embedded shadow; see --shadow)")
    ap.add_argument("--shadow", choices=["embedded", "server"], default="embedded",
                    help="without --dev-url: schemaplan's embedded shadow in each stage's cache "
                    "folder (default; the only one with warm runs), or the benchmark's own server")
    ap.add_argument("--port", type=int, help="port of the throw-away server (default: a free one)")
    ap.add_argument("--shared-buffers", default="512MB", help="of the throw-away server")
    ap.add_argument("--pgbin", help="directory of psql/pg_dump/initdb/pg_ctl (default: PATH, "
                    "then the newest /usr/lib/postgresql/*/bin)")
    ap.add_argument("--schemaplan", default=os.path.join(REPO, "target", "release", "schemaplan"),
                    help="the binary (default target/release/schemaplan: cargo build --release)")
    ap.add_argument("--out", help="result directory (default target/plan_scale/<UTC timestamp>)")
    ap.add_argument("--docs", help="write the results into this markdown file, between marker "
                    "comments (e.g. docs/benchmarks.md)")
    ap.add_argument("--keep", action="store_true", help="keep the databases, caches (and the server)")
    args = ap.parse_args()
    try:
        sizes = [int(x) for x in args.tables.split(",") if x.strip()]
    except ValueError:
        die(f"--tables: comma-separated integers, got {args.tables!r}")
    if not sizes or min(sizes) < 2:
        die("--tables: at least 2 tables")
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2

    if not os.access(args.schemaplan, os.X_OK):
        die(f"{args.schemaplan} not found: run `cargo build --release` (or pass --schemaplan)")
    version = subprocess.run([args.schemaplan, "--version"], capture_output=True,
                             text=True).stdout.strip().split("\n")[0]
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    tools = Tools(args.pgbin)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    outdir = os.path.abspath(args.out or os.path.join(REPO, "target", "plan_scale", stamp))
    os.makedirs(outdir, exist_ok=True)
    command = "benches/plan_scale/run.py " + " ".join(
        shlex.quote(redact(a) if a.startswith("postgres") else a) for a in sys.argv[1:])

    server = None
    if args.db:
        admin = args.db
        dev_url = args.dev_url
    else:
        server = OwnServer(tools, args)
        log(f"starting a throw-away PostgreSQL server in {server.datadir} (port {server.port})")
        admin = server.start()
        # The embedded shadow (the default a user gets) unless --shadow server: the warm stages
        # only exist there (a --dev-url server is the user's and keeps nothing between runs).
        dev_url = args.dev_url or (admin if args.shadow == "server" else None)
        global SERVER_PID
        SERVER_PID = server.postmaster_pid()
    dbs = None
    try:
        dbs = Databases(tools, admin)
        ctx = {"args": args, "tools": tools, "dbs": dbs, "outdir": outdir, "dev_url": dev_url,
               "schemaplan": os.path.abspath(args.schemaplan),
               "version": f"{version} (commit {commit})" if commit else version,
               "command": command}
        log(f"table counts {sizes}, {args.repeat} round(s) each; results in {outdir}")
        results = []
        for n in sizes:
            results.append(run_size(ctx, n))
        machine = machine_info(dbs, load_before)
        md = markdown(ctx, results, machine)
        with open(os.path.join(outdir, "results.json"), "w") as f:
            json.dump({"machine": machine, "command": command, "version": ctx["version"],
                       "sizes": results}, f, indent=2)
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
