"""Job submission under load: POST /api/v1/jobs/ from concurrent API clients against gunicorn (2 workers,
platform/gunicorn.conf.py: gthread, 4 threads each) on PostgreSQL and Redis, production settings (not a test).

Clients: `--clients` asyncio tasks (aiohttp, one connection each, keep-alive), each with its own API token
(10 users of role analyst, tokens split among them), running a closed loop: send one submission, wait for the
answer, then wait the think time, then send the next. Two phases of `--seconds` each:
  1. think time uniform in [0.5, 1.5] s (mean 1 s): the goal's configuration (p95 < 150 ms, 0 errors);
  2. no think time: saturation, the most the stack answers on this machine, and its latency then.
The body is a tiny job (max_tokens 1, a 4-token non-chat prompt, domain finance). No worker runs: the metric
is submission latency; every job the API accepted must be in the database (queued) and its message in the
broker's gpu queue afterwards. An error is any answer other than 202, or a connection error/timeout.
The client runs on the same machine as the server (it competes for the same CPUs); the machine's load average
is recorded before and after.

    .venv/bin/python bench/load.py                  # 50 clients, 60 s per phase
    .venv/bin/python bench/load.py --quick          # 50 clients, 15 s per phase
Writes bench/results/load.json. Uses its own database (dropped and created: --db, default plumbline_bench) and
its own redis-server on a free port.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import (  # noqa: E402
    FORWARDED_HTTPS,
    Redis,
    Stack,
    free_port,
    fresh_database,
    git_commit,
    machine,
    make_clients,
    percentile,
    write_result,
)

BODY = {"prompt": "1, 2, 3,", "domain": "finance", "max_tokens": 1, "chat": False}


async def phase(url: str, keys: list[str], *, seconds: float, think: tuple[float, float] | None,
                seed: int) -> dict:
    import aiohttp

    rng = random.Random(seed)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    ids: list[int] = []
    end = time.monotonic() + seconds

    async def client(key: str, first_wait: float) -> None:
        headers = {"Authorization": f"Token {key}", **FORWARDED_HTTPS}
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(base_url=url, headers=headers, timeout=timeout,
                                         connector=aiohttp.TCPConnector(limit=1)) as session:
            await asyncio.sleep(first_wait)  # clients start spread over one think time, not all at once
            while time.monotonic() < end:
                t0 = time.perf_counter()
                try:
                    async with session.post("/api/v1/jobs/", json=BODY) as resp:
                        body = await resp.json(content_type=None)
                        if resp.status == 202:
                            latencies.append(time.perf_counter() - t0)
                            ids.append(body["id"])
                        else:
                            errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                except (TimeoutError, aiohttp.ClientError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if think:
                    await asyncio.sleep(rng.uniform(*think))

    t0 = time.monotonic()
    spread = think[1] if think else 0.0
    await asyncio.gather(*(client(k, rng.uniform(0, spread)) for k in keys))
    elapsed = time.monotonic() - t0
    ms = [x * 1000 for x in latencies]
    return {
        "clients": len(keys), "seconds": round(elapsed, 1),
        "think_time_s": f"uniform {think[0]}-{think[1]}" if think else "0",
        "ok": len(latencies), "errors": sum(errors.values()), "errors_by_kind": errors,
        "rate_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(ms, 0.50), 1), "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1), "max_ms": round(max(ms), 1) if ms else None,
        "ids": ids,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--quick", action="store_true", help="15 s per phase")
    ap.add_argument("--db", default="plumbline_bench")
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    seconds = 15 if args.quick else args.seconds

    load_before = machine()
    fresh_database(args.db)
    redis = Redis(free_port(), Path("/tmp"))
    redis.start()
    stack = Stack(db_name=args.db, redis=redis)
    try:
        stack.migrate()
        stack.use_here()
        keys = make_clients(10, -(-args.clients // 10))[: args.clients]
        port = free_port()
        stack.gunicorn(port, workers=2)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(phase(url, keys[:5], seconds=3, think=None, seed=0))  # warm up both workers' connections
        from apps.generation.models import GenerationJob

        warm = GenerationJob.objects.count()
        phases = {
            "think_1s": asyncio.run(phase(url, keys, seconds=seconds, think=(0.5, 1.5), seed=1)),
            "no_think": asyncio.run(phase(url, keys, seconds=seconds, think=None, seed=2)),
        }
        import redis as redis_client

        accepted = [i for p in phases.values() for i in p.pop("ids")]
        in_db = GenerationJob.objects.filter(pk__in=accepted, status="queued").count()
        queued_msgs = redis_client.Redis.from_url(redis.url).llen("gpu")
        jobs = {"accepted_202": len(accepted), "queued_in_db": in_db, "warm_up_jobs": warm,
                "messages_in_gpu_queue": queued_msgs, "total_jobs_in_db": GenerationJob.objects.count()}
    finally:
        stack.stop_all()
        stack.cleanup(args.keep_logs)

    result = {
        "bench": "load", "commit": git_commit(), "machine_before": load_before, "machine_after": machine(),
        "settings": {
            "django": "config.settings.production (X-Forwarded-Proto: https from the client)",
            "gunicorn": "platform/gunicorn.conf.py, 2 workers x 4 threads (gthread), access log on",
            "database": "PostgreSQL 127.0.0.1, CONN_MAX_AGE 60, health checks on",
            "broker": "private redis-server, no persistence", "workers": "none (submission only)",
            "body": BODY, "client": "aiohttp closed loop, one connection per client, one token per client",
        },
        "phases": phases, "jobs": jobs,
        "goal": {"p95_ms_below": 150, "errors": 0, "phase": "think_1s"},
    }
    path = write_result("load", result)
    print(f"{'phase':<10} {'clients':>7} {'think':>14} {'req/s':>7} {'ok':>6} {'err':>4} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for name, p in phases.items():
        print(f"{name:<10} {p['clients']:>7} {p['think_time_s']:>14} {p['rate_per_s']:>7} {p['ok']:>6} "
              f"{p['errors']:>4} {p['p50_ms']:>7} {p['p95_ms']:>7} {p['p99_ms']:>7} {p['max_ms']:>7}")
    print(f"jobs: {jobs}")
    print(f"load average before {load_before['loadavg']}, after {result['machine_after']['loadavg']}")
    print(f"wrote {path.relative_to(Path(__file__).resolve().parents[1])}")
    lost = jobs["accepted_202"] - jobs["queued_in_db"]
    if lost or jobs["messages_in_gpu_queue"] != jobs["total_jobs_in_db"]:
        sys.exit(f"LOST: {lost} accepted jobs missing from the database, or messages missing from the queue")


if __name__ == "__main__":
    main()
