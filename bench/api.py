"""Load benchmark of the claim service: a real HTTP load generator against `claimlens serve` on loopback.

Starts the server (uvicorn subprocess, analysis queued but not run) on SQLite and on PostgreSQL, posts claims
with a photo each (every upload distinct) with wrk when installed (else an async httpx client) at bounded
concurrency, and prints claims accepted per second (counted in the database) and latency percentiles, then the
CPU per claim of the server, the load generator, PostgreSQL and other programs on the same cores, and the rate
the server's own CPU would allow. Bounded in requests and in time; loopback only.

    python -m bench.api [--requests 2000] [--concurrency 32] [--seconds 60] [--workers 2] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("CLAIMLENS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL = 200.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photos(n: int = 16) -> list[bytes]:
    from PIL import Image
    from skimage import data

    out = []
    for i in range(n):
        img = (data.coffee() if i % 2 else data.chelsea())
        y, x = (i * 5) % 100, (i * 11) % 150
        buf = io.BytesIO()
        Image.fromarray(img[y:y + 300, x:x + 400]).save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def seed(url: str, data_dir: Path, buyers: int) -> dict:
    from claimlens.cases.workflow import SYSTEM
    from claimlens.store import Settings, Store

    st = Store(Settings.from_env(data_dir=data_dir, database_url=url), upgrade=True, job_workers=0)
    svc = st.service
    m = svc.create_merchant(SYSTEM, "Bench shop")
    admin = svc.actor_for_token(svc.issue_token(SYSTEM, svc.create_user(SYSTEM, "bench-admin", None, "admin")))
    product = svc.create_product(admin, "SKU-1", "Bench mug", merchant_id=m)
    tokens = []
    for i in range(buyers):
        b = svc.create_buyer(SYSTEM, f"buyer {i}", phone=f"+44 7700 9{i:05d}")
        tokens.append(svc.issue_token(SYSTEM, svc.create_user(SYSTEM, f"bench-buyer-{i}", None, "buyer", buyer_id=b)))
    st.close()
    return {"product": product, "tokens": tokens}


def start_server(url: str, data_dir: Path, workers: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "CLAIMLENS_JOB_WORKERS": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "claimlens.api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--database-url", url, "--workers", str(workers), "--no-access-log",
         "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    with httpx.Client() as c:
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("server exited: " + proc.stdout.read().decode()[-2000:])
            try:
                if c.get(base + "/api/healthz", timeout=2).status_code == 200:
                    return proc, base
            except httpx.HTTPError:
                time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start in 90 s")


async def load(base: str, world: dict, pics: list[bytes], requests: int, concurrency: int, seconds: float) -> dict:
    import httpx

    lat, status = [], {}
    counter = iter(range(requests))
    stop_at = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:6]

    async def one(client, i):
        token = world["tokens"][i % len(world["tokens"])]
        body = pics[i % len(pics)] + secrets.token_bytes(16)  # bytes after the JPEG end: a distinct file
        t = time.perf_counter()
        try:
            r = await client.post(base + "/api/claims", headers={"Authorization": f"Bearer {token}",
                                                                 "Idempotency-Key": f"{run}-{i}"},
                                  data={"order_id": f"B-{run}-{i}", "product_id": str(world["product"]),
                                        "type": "refund_only", "amount": "12.50", "reason": "bench"},
                                  files=[("files", (f"c{i}.jpg", body, "image/jpeg"))])
            code = r.status_code
        except httpx.HTTPError as exc:
            code = type(exc).__name__
        dt = time.perf_counter() - t
        status[code] = status.get(code, 0) + 1
        if code == 201:
            lat.append(dt)

    async def worker(client):
        for i in counter:
            if time.perf_counter() > stop_at:
                return
            await one(client, i)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        # warm-up (not counted)
        await asyncio.gather(*(one(client, 10**9 + k) for k in range(min(concurrency, 20))))
        lat.clear(), status.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed, client_cpu = time.perf_counter() - t0, time.process_time() - c0
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {"accepted": len(lat), "seconds": elapsed, "per_s": len(lat) / elapsed, "p50": pct(0.50),
            "p95": pct(0.95), "p99": pct(0.99), "client_cpu_s": client_cpu, "status": status}


WRK_SCRIPT = r"""
local tokens, product, run, photo_path = {}, PRODUCT, RUN, PHOTO
for t in string.gmatch(TOKENS, "[^,]+") do tokens[#tokens + 1] = t end
local f = io.open(photo_path, "rb"); local photo = f:read("*a"); f:close()
local boundary = "claimlensbench" .. run
local counter = 0
tid = 0  -- global: setup() numbers the threads through thread:set
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function init(args) counter = 0 end
local function field(name, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name .. "\"\r\n\r\n" .. value .. "\r\n"
end
function request()
  counter = counter + 1
  local id = tid .. "-" .. counter
  local body = field("order_id", "W-" .. run .. "-" .. id) .. field("product_id", product) ..
    field("type", "refund_only") .. field("amount", "12.50") .. field("reason", "bench") ..
    "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"files\"; filename=\"c.jpg\"\r\n" ..
    "Content-Type: image/jpeg\r\n\r\n" .. photo .. id .. "\r\n--" .. boundary .. "--\r\n"
  local headers = {["Authorization"] = "Bearer " .. tokens[(counter + tid) % #tokens + 1],
                   ["Content-Type"] = "multipart/form-data; boundary=" .. boundary,
                   ["Idempotency-Key"] = run .. "-" .. id}
  return wrk.format("POST", "/api/claims", headers, body)
end
function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %.1f %.1f %.1f\n", summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def load_wrk(base: str, world: dict, pics: list[bytes], concurrency: int, seconds: float, tmp: Path) -> dict:
    """wrk (C load generator, Lua script): every request a new order, a distinct file, its own idempotency key."""
    photo = tmp / "photo.jpg"
    photo.write_bytes(pics[0])
    script = tmp / "claims.lua"
    script.write_text(WRK_SCRIPT.replace("PRODUCT", repr(str(world["product"]))).replace(
        "RUN", repr(uuid.uuid4().hex[:6])).replace("PHOTO", repr(str(photo))).replace(
        "TOKENS", repr(",".join(world["tokens"]))))
    import resource

    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{int(seconds)}s", "--timeout", "30s",
                          "-s", str(script), base], capture_output=True, text=True, timeout=seconds + 60)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError("wrk failed: " + out.stdout[-1000:] + out.stderr[-1000:])
    n, dur_us, bad_status, sock_err, p50, p95, p99 = line.split()[1:]
    n, bad = int(n), int(bad_status) + int(sock_err)
    secs = int(dur_us) / 1e6
    return {"accepted": n - bad, "seconds": secs, "per_s": (n - bad) / secs, "p50": float(p50), "p95": float(p95),
            "p99": float(p99), "client_cpu_s": client_cpu, "status": {201: n - int(bad_status)} | ({"non-2xx": int(bad_status)} if int(bad_status)
                                                                          else {}) | ({"socket": int(sock_err)} if int(sock_err) else {})}


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its children (Linux /proc; 0 elsewhere)."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        stats = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
                    stats[int(d)] = (int(f[1]), (int(f[11]) + int(f[12])) / tick)
                except OSError:
                    pass
        todo, total = [pid], 0.0
        while todo:
            p = todo.pop()
            total += stats.get(p, (0, 0.0))[1]
            todo += [c for c, (pp, _) in stats.items() if pp == p]
        return total
    except (OSError, ValueError, AttributeError):
        return 0.0


def postgres_cpu_seconds() -> float:
    """CPU of the local PostgreSQL server processes (Linux /proc; 0 when there are none)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return 0.0
    for d in pids:
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() not in ("postgres", "postmaster"):
                    continue
            with open(f"/proc/{d}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            total += (int(st[11]) + int(st[12])) / tick
        except (OSError, ValueError, IndexError):
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (Linux /proc/stat; 0 elsewhere)."""
    try:
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    except (OSError, ValueError):
        return 0.0


def pg_database():
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(PG_URL)
    admin = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                            dbname=u.database, autocommit=True, connect_timeout=3)
    name = f"claimlens_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return admin, name, u.set(database=name).render_as_string(hide_password=False)


def run_backend(backend: str, args, pics) -> dict | None:
    admin = name = None
    with tempfile.TemporaryDirectory(prefix="claimlens-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        if backend == "sqlite":
            url = f"sqlite:///{data_dir / 'claimlens.db'}"
        else:
            try:
                admin, name, url = pg_database()
            except Exception as exc:
                print(f"postgresql: skipped, server unreachable at {PG_URL} ({exc})")
                return None
        proc = None
        try:
            world = seed(url, data_dir, buyers=args.buyers)
            workers = args.workers or min(2, os.cpu_count() or 1)
            proc, base = start_server(url, data_dir, workers)
            cpu0, busy0, pg0 = tree_cpu_seconds(proc.pid), machine_busy_seconds(), postgres_cpu_seconds()
            if args.client == "wrk":
                res = load_wrk(base, world, pics, args.concurrency, args.seconds, Path(tmp))
            else:
                res = asyncio.run(load(base, world, pics, args.requests, args.concurrency, args.seconds))
            answered = max(1, sum(v for k, v in res["status"].items() if isinstance(k, int)))
            res["server_cpu_ms"] = (tree_cpu_seconds(proc.pid) - cpu0) * 1000 / answered
            res["client_cpu_ms"] = res["client_cpu_s"] * 1000 / answered
            res["db_cpu_ms"] = (postgres_cpu_seconds() - pg0) * 1000 / answered
            # CPU the machine spent on anything else meanwhile (other programs on the same cores)
            res["other_cpu_ms"] = max(0.0, (machine_busy_seconds() - busy0) * 1000 / answered - res["server_cpu_ms"]
                                      - res["client_cpu_ms"] - res["db_cpu_ms"])
            from claimlens.store import Settings, Store

            st = Store(Settings.from_env(data_dir=data_dir, database_url=url), job_workers=0)
            res["queued_jobs"] = st.service.stats().get("submitted", 0)
            if args.client == "wrk":  # count what was stored, not what the client saw
                res["accepted"] = res["queued_jobs"]
                res["per_s"] = res["accepted"] / res["seconds"]
            st.close()
            res["workers"] = workers
            return res
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if admin is not None:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000, help="claims to post per backend (default 2000)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60, help="stop posting after this long")
    ap.add_argument("--workers", type=int, default=0,
                    help="server processes (default: 2, or 1 on a one-core machine)")
    ap.add_argument("--buyers", type=int, default=20)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto",
                    help="load generator: wrk (Debian package, time-bounded) when installed, else httpx")
    args = ap.parse_args(argv)
    if args.client == "auto":
        import shutil

        args.client = "wrk" if shutil.which("wrk") else "httpx"
        if args.client == "wrk":
            args.seconds = min(args.seconds, 20)
    pics = photos()
    bound = f"{args.seconds:.0f} s" if args.client == "wrk" else f"{args.requests} claims or {args.seconds:.0f} s"
    print(f"claimlens API load with {args.client}: {bound}, photo {len(pics[0]) // 1024} KB each (distinct), "
          f"concurrency {args.concurrency}, analysis queued; cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    ok = True
    for backend in args.backends.split(","):
        res = run_backend(backend.strip(), args, pics)
        if res is None:
            continue
        errors = {k: v for k, v in res["status"].items() if k != 201}
        cores = os.cpu_count() or 1
        print(f"{backend:<11} accepted {res['accepted']:>5} in {res['seconds']:5.1f} s = {res['per_s']:7.1f} claims/s "
              f"| p50 {res['p50']:6.1f} ms  p95 {res['p95']:6.1f} ms  p99 {res['p99']:6.1f} ms "
              f"| {res['workers']} proc | queued {res['queued_jobs']} | errors {errors or 0} "
              f"| goal {'met' if res['per_s'] >= GOAL else 'MISSED'}")
        db = f", PostgreSQL {res['db_cpu_ms']:.1f} ms" if backend != "sqlite" else ""
        print(f"{'':<11} CPU per claim: server {res['server_cpu_ms']:.1f} ms, load generator {res['client_cpu_ms']:.1f} ms"
              f"{db}, other programs {res['other_cpu_ms']:.1f} ms | the server alone on {cores} core(s) would take "
              f"{cores * 1000 / max(res['server_cpu_ms'], 1e-3):.0f} claims/s")
        ok = ok and not errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
