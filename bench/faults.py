"""Jobs under faults, on real processes (not a test): gpu workers SIGKILLed mid-job, the broker restarted with
every message lost, and the worker's PostgreSQL connections terminated mid-job.

1. Kills and a broker restart: `--jobs` text jobs (max_tokens 8) are submitted at once to one gpu worker
   (Celery thread pool, concurrency 4). Five times, 0-1 s after a job of that worker's incarnation has streamed
   its first token (mid-generation), its process is SIGKILLed and started again (as a supervisor would). After the third kill the bench's
   redis-server (no persistence) is restarted: every queued message and every unacknowledged one is gone.
   Then the bench waits until every job is terminal. Recovery: a killed delivery's message comes back after
   the broker's visibility timeout (acks_late); a message the broker lost comes back through beat's sweep
   (apps.generation.tasks.requeue_stale_jobs on the default queue, run by a cpu worker). Checked: 0 lost (every
   job ends succeeded, or failed with its error recorded) and 0 run twice to completion (per job, the audit
   log holds at most one generation_job.succeeded event and one terminal event; completion is attempt-fenced).
2. PostgreSQL connection drop: one longer job (max_tokens 32); once it has streamed output, every PostgreSQL
   backend of the gpu worker (application_name bench-gpu-worker) is ended with pg_terminate_backend (the
   server keeps running). Checked: the job still ends succeeded.

Timings are shortened for the bench so it ends in minutes (the defaults are minutes-long): task time limit
45 s (the runner's own deadline 40 s after the model is loaded; visibility timeout 91 s, restore sweep every
second), stale jobs without a broker message requeued after 60 s without a row write, the sweep every 5 s.
The gpu worker runs torch on one thread (OMP_NUM_THREADS=1): on this shared, oversubscribed 2-core machine
two threads were 4-6x slower (4 requests x 8 tokens: 4.5 s on one thread, 18-32 s on two, load average 13).

    .venv/bin/python bench/faults.py            # 50 jobs
    .venv/bin/python bench/faults.py --quick    # 20 jobs
Writes bench/results/faults.json. Own database (dropped and created: --db, default plumbline_bench_faults), own
redis-server on a free port; the model from var/test-cache.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import (  # noqa: E402
    Redis,
    Stack,
    free_port,
    fresh_database,
    git_commit,
    log_of,
    machine,
    make_clients,
    pg_admin,
    write_result,
)

FAST = {
    "CELERY_TASK_TIME_LIMIT": "45",
    "CELERY_VISIBILITY_TIMEOUT": "91",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    "PLUMBLINE_JOB_REQUEUE_AFTER_S": "60",
    "PLUMBLINE_JOB_REQUEUE_EVERY_S": "5",
}
GPU_APP = "bench-gpu-worker"
TERMINAL = ("succeeded", "failed", "cancelled")


def start_gpu(stack: Stack):
    return stack.worker("gpu", "gpu", concurrency=4, dbapp=GPU_APP, env={"OMP_NUM_THREADS": "1"})


def wait_terminal(ids: list[int], timeout: float) -> float:
    from apps.generation.models import GenerationJob

    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        counts = Counter(GenerationJob.objects.filter(pk__in=ids).values_list("status", flat=True))
        if counts != last:
            print(f"  {time.monotonic() - t0:6.1f}s {dict(counts)}", flush=True)
            last = counts
        if sum(counts[s] for s in TERMINAL) == len(ids):
            return time.monotonic() - t0
        time.sleep(1)
    return float("nan")


def kills_and_restart(stack: Stack, owner, n_jobs: int, kills: int, rng: random.Random) -> dict:
    from django.utils import timezone

    from apps.accounts.models import AuditEvent
    from apps.generation.models import GenerationJob
    from apps.generation.services import job_create

    since = timezone.now()  # the current incarnation's start: the jobs it takes started after it
    gpu = start_gpu(stack)
    t0 = time.monotonic()
    ids = [job_create(owner=owner, prompt=f"{i}, {i + 1}, {i + 2},", chat=False, max_tokens=8,
                      domain="finance").pk for i in range(n_jobs)]
    events = []
    for k in range(1, kills + 1):
        end = time.monotonic() + 120
        while time.monotonic() < end:  # a job of this incarnation is generating
            if GenerationJob.objects.filter(pk__in=ids, status="running", first_token_at__gte=since).exists():
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"no job streamed within 120 s of kill {k}:\n{log_of(gpu)[-3000:]}")
        time.sleep(rng.uniform(0.0, 1.0))
        taken = list(GenerationJob.objects.filter(pk__in=ids, status="running", started_at__gte=since)
                     .values_list("pk", flat=True))
        stack.kill(gpu)
        event = {"kill": k, "at_s": round(time.monotonic() - t0, 1), "jobs_killed_mid_run": sorted(taken),
                 "done_at_kill": GenerationJob.objects.filter(pk__in=ids, status__in=TERMINAL).count()}
        if k == 3:
            event["redis_restart"] = {
                "queued_jobs": GenerationJob.objects.filter(pk__in=ids, status="queued").count(),
                "running_jobs": GenerationJob.objects.filter(pk__in=ids, status="running").count(),
            }
            stack.redis.restart()
            print(f"  redis restarted at {time.monotonic() - t0:.1f}s: {event['redis_restart']}", flush=True)
        print(f"  kill {k} at {event['at_s']}s: jobs killed mid-run {sorted(taken)}", flush=True)
        events.append(event)
        since = timezone.now()
        gpu = start_gpu(stack)
    waited = wait_terminal(ids, timeout=420)
    total_s = time.monotonic() - t0

    jobs = list(GenerationJob.objects.filter(pk__in=ids).values("pk", "status", "attempts", "error"))
    audit = AuditEvent.objects.filter(object_type="generation.generationjob", object_id__in=[str(i) for i in ids])
    succeeded_events = Counter(audit.filter(action="generation_job.succeeded").values_list("object_id", flat=True))
    terminal_events = Counter(audit.filter(action__in=[f"generation_job.{s}" for s in TERMINAL])
                              .values_list("object_id", flat=True))
    status = Counter(j["status"] for j in jobs)
    lost = [j["pk"] for j in jobs if j["status"] not in TERMINAL or (j["status"] == "failed" and not j["error"])]
    twice = sorted(int(i) for i, n in succeeded_events.items() if n > 1)
    ended_twice = sorted(int(i) for i, n in terminal_events.items() if n > 1)
    requeue_lines = [ln for ln in _logs(stack, "cpu") if "requeued" in ln and "stale job" in ln]
    return {
        "jobs": n_jobs, "kills": events, "seconds_total": round(total_s, 1),
        "seconds_after_last_kill_until_all_terminal": round(waited, 1),
        "status": dict(status), "lost": lost, "completed_twice": twice, "ended_twice": ended_twice,
        "attempts": dict(sorted(Counter(j["attempts"] for j in jobs).items())),
        "failed_errors": dict(Counter(j["error"][:120] for j in jobs if j["status"] == "failed")),
        "sweep_requeues": requeue_lines[-10:],
    }


def _logs(stack: Stack, name: str) -> list[str]:
    path = stack.log_dir / f"{name}.log"
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def pg_drop(stack: Stack, owner) -> dict:
    from apps.generation.services import job_create

    job = job_create(owner=owner, prompt="Count from one to one hundred: 1, 2, 3,", chat=False, max_tokens=32,
                     domain="finance")
    end = time.monotonic() + 180
    while time.monotonic() < end:
        job.refresh_from_db()
        if job.status == "running" and job.output:
            break
        if job.status in TERMINAL:
            raise RuntimeError(f"job {job.pk} ended before the drop: {job.status}; raise max_tokens")
        time.sleep(0.05)
    tokens_before = job.completion_tokens
    terminated = pg_admin(
        f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = '{stack.db_name}' AND application_name = '{GPU_APP}'"
    )
    t0 = time.monotonic()
    while time.monotonic() - t0 < 180:
        job.refresh_from_db()
        if job.status in TERMINAL:
            break
        time.sleep(0.2)
    return {"job": job.pk, "backends_terminated": int(terminated), "tokens_before_drop": tokens_before,
            "status": job.status, "attempts": job.attempts, "error": job.error,
            "completion_tokens": job.completion_tokens, "seconds_after_drop": round(time.monotonic() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="20 jobs")
    ap.add_argument("--db", default="plumbline_bench_faults")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    n_jobs = 20 if args.quick else args.jobs

    load_before = machine()
    fresh_database(args.db)
    redis = Redis(free_port(), Path("/tmp"))
    redis.start()
    stack = Stack(db_name=args.db, redis=redis, extra_env=FAST)
    ok = False
    try:
        stack.migrate()
        stack.use_here()
        make_clients(1, 1)
        from apps.accounts.models import User

        owner = User.objects.get(username="bench-analyst-0")
        stack.worker("cpu", "default", concurrency=2)
        stack.beat()
        print(f"kills and a broker restart: {n_jobs} jobs, {args.kills} kills", flush=True)
        faults = kills_and_restart(stack, owner, n_jobs, args.kills, random.Random(args.seed))
        print("PostgreSQL connection drop", flush=True)
        drop = pg_drop(stack, owner)
        ok = True
    finally:
        stack.stop_all()
        print(f"logs: {stack.log_dir}" if (args.keep_logs or not ok) else "", flush=True)
        stack.cleanup(args.keep_logs or not ok)

    result = {
        "bench": "faults", "commit": git_commit(), "machine_before": load_before, "machine_after": machine(),
        "settings": {"django": "config.settings.production", "timings": FAST,
                     "gpu_worker": "celery -Q gpu --pool threads --concurrency 4, OMP_NUM_THREADS=1 (SIGKILLed, restarted)",
                     "cpu_worker": "celery -Q default --pool threads --concurrency 2", "beat": "celery beat",
                     "broker": "private redis-server, --save '' --appendonly no", "job": "text, max_tokens 8"},
        "kills_and_broker_restart": faults, "pg_connection_drop": drop,
    }
    path = write_result("faults", result)
    f = faults
    print(f"\n{'scenario':<34} {'jobs':>5} {'ok':>5} {'failed':>6} {'lost':>5} {'twice':>5} {'seconds':>8}")
    print(f"{'5 SIGKILLs + 1 Redis restart':<34} {f['jobs']:>5} {f['status'].get('succeeded', 0):>5} "
          f"{f['status'].get('failed', 0):>6} {len(f['lost']):>5} {len(f['completed_twice']):>5} "
          f"{f['seconds_total']:>8}")
    print(f"{'PostgreSQL backends terminated':<34} {1:>5} {int(drop['status'] == 'succeeded'):>5} "
          f"{int(drop['status'] == 'failed'):>6} {int(drop['status'] not in TERMINAL):>5} {0:>5} "
          f"{drop['seconds_after_drop']:>8}")
    print(f"attempts per job: {f['attempts']}; failed: {f['failed_errors']}")
    print(f"pg drop: {drop}")
    print(f"load average before {load_before['loadavg']}, after {result['machine_after']['loadavg']}")
    print(f"wrote {path.relative_to(Path(__file__).resolve().parents[1])}")
    if f["lost"] or f["completed_twice"] or f["ended_twice"] or drop["status"] != "succeeded":
        sys.exit("FAILED: a job was lost, completed twice, or the job did not survive the connection drop")


if __name__ == "__main__":
    main()
