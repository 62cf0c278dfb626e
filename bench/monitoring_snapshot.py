"""Snapshot benchmark (not a test): how long the periodic monitoring snapshot takes over 100k logged requests.

A scratch PostgreSQL database (plumbline_bench_monitoring, dropped and created on every run, migrated) gets
`--requests` observations bulk-created in four groups (finance base model, finance adapter, general base model,
medical base model), each like a real request: prompt and output token counts, time to first token, tokens/s,
~300 token ids drawn Zipf-like from a 49,152-token vocabulary and a 384-wide float32 embedding (the medical group's in the
medical app's MonitoringInput table, as the platform keeps them), outcomes (grounding flags, verification, triage
levels). Input features are present, so the timing is the snapshot itself: windows_close + every statistic of
every closed window + the alerts, i.e. apps.monitoring.services.snapshots_compute(). Each window size is timed from
a clean state (windows reopened, snapshots and alerts deleted). Traffic is same-distribution: the alerts counted are
false alarms at the fixed 0.15 threshold.

    .venv/bin/python bench/monitoring_snapshot.py                    # 100k requests, windows 200 and 50
    .venv/bin/python bench/monitoring_snapshot.py --requests 20000   # quicker
Writes bench/results/monitoring_snapshot.json. Goal: under 10 s for 100k requests on this CPU. Wall time counts the
PostgreSQL server's work too; the CPU time is this process's alone (the machine is shared: the load average is
recorded).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "1")
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
BENCH_DB = "plumbline_bench_monitoring"
VOCAB = 49152  # SmolLM2's vocabulary
BASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plumbline").rsplit("/", 1)[0]
os.environ["DATABASE_URL"] = f"{BASE_URL}/{BENCH_DB}"


def git_commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{BASE_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def populate(n: int, seed: int = 0) -> dict:
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.adapters.models import AdapterVersion
    from apps.generation.models import GenerationJob
    from apps.medical.models import MonitoringInput
    from apps.monitoring.models import Observation, ObservationInput
    from apps.monitoring.windows import unigrams_pack

    rng = np.random.default_rng(seed)
    owner = User.objects.create(username="bench")
    adapter = AdapterVersion.objects.create(
        name="fin-bench", version=1, domain="finance", base_model="smollm2-135m-instruct", rank=4, alpha=8.0,
        target_modules=["q_proj"], size_bytes=1, sha256="w", config_sha256="c", uploaded_by=owner, eval_status="done")
    groups = [("finance", adapter, "finance.report"), ("finance", None, "finance.report"),
              ("general", None, "generation.text"), ("medical", None, "medical.triage")]
    # token ids of a prompt: Zipf-like over the vocabulary (rank r with probability ~ 1/r^1.1), a fixed random
    # permutation mapping ranks to ids
    ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
    zipf = ranks**-1.1
    zipf /= zipf.sum()
    rank_to_id = rng.permutation(VOCAB)
    now = timezone.now()
    started = time.perf_counter()
    batch = 5000
    for g, (domain, version, kind) in enumerate(groups):
        count = n // len(groups) + (1 if g < n % len(groups) else 0)
        for lo in range(0, count, batch):
            size = min(batch, count - lo)
            jobs = GenerationJob.objects.bulk_create(
                GenerationJob(kind=kind, owner=owner, domain=domain, adapter=version, prompt="bench",
                              status="succeeded", finished_at=now) for _ in range(size))
            emb = rng.normal(0, 1, (size, 384)).astype(np.float32)
            lengths = np.maximum(rng.normal(300, 40, size).astype(int), 20)
            tokens = rank_to_id[rng.choice(VOCAB, size=int(lengths.sum()), p=zipf)]
            offsets = np.r_[0, np.cumsum(lengths)]
            rows, features = [], []
            medical = domain == "medical"
            for i, job in enumerate(jobs):
                rows.append(Observation(
                    job=job, domain=domain, kind=kind, adapter=version, created_at=now,
                    prompt_tokens=int(lengths[i]), output_tokens=int(rng.normal(120, 20)),
                    ttft_s=float(rng.uniform(0.05, 0.3)), tokens_per_s=float(rng.uniform(20, 60)),
                    grounding_flags=int(rng.random() < 0.1) if kind == "finance.report" else None,
                    triage_level=int(rng.integers(1, 6)) if kind == "medical.triage" else None, features_at=now))
                features.append((unigrams_pack(tokens[offsets[i]:offsets[i + 1]]), emb[i].tobytes()))
            rows = Observation.objects.bulk_create(rows)
            if medical:  # as the platform keeps them: in the medical app
                MonitoringInput.objects.bulk_create(MonitoringInput(job=o.job, unigrams=u, embedding=e)
                                                    for o, (u, e) in zip(rows, features, strict=True))
            else:
                ObservationInput.objects.bulk_create(
                    ObservationInput(observation_id=o.pk, domain=domain, unigrams=u, embedding=e)
                    for o, (u, e) in zip(rows, features, strict=True))
    return {"populate_s": time.perf_counter() - started, "groups": len(groups)}


def reset() -> None:
    from apps.monitoring.models import Alert, Snapshot, Window

    Alert.objects.all().delete()
    Snapshot.objects.all().delete()
    Window.objects.all().delete()


def time_snapshot(window_size: int, reference_windows: int) -> dict:
    from django.test.utils import override_settings

    from apps.monitoring import services
    from apps.monitoring.models import Alert, Snapshot

    reset()
    # the production reference (the test settings, which this script borrows for its database, use one window)
    with override_settings(PLUMBLINE_MONITORING_WINDOW_SIZE=window_size,
                           PLUMBLINE_MONITORING_REFERENCE_WINDOWS=reference_windows):
        started, cpu = time.perf_counter(), time.process_time()
        counts = services.snapshots_compute()
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        again_started = time.perf_counter()
        again = services.snapshots_compute()  # idempotent: nothing new
        again_s = time.perf_counter() - again_started
    by_stat = {}
    for statistic, feature in Alert.objects.values_list("statistic", "feature"):
        by_stat[f"{statistic}:{feature}"] = by_stat.get(f"{statistic}:{feature}", 0) + 1
    return {"window_size": window_size, "reference_windows": reference_windows, "snapshot_s": total, "snapshot_cpu_s": cpu, **counts, "rerun_s": again_s, "rerun": again,
            "snapshot_rows": Snapshot.objects.count(), "false_alarms_by_statistic": by_stat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--windows", type=int, nargs="+", default=[200, 50])
    parser.add_argument("--reference-windows", type=int, default=5,
                        help="windows joined as the reference (production default PLUMBLINE_MONITORING_REFERENCE_WINDOWS)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "monitoring_snapshot.json")
    args = parser.parse_args()

    fresh_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    load_before = os.getloadavg()
    populated = populate(args.requests)
    logging.getLogger("apps.monitoring").setLevel(logging.ERROR)  # one warning per alert otherwise
    runs = [time_snapshot(w, args.reference_windows) for w in args.windows]
    load_after = os.getloadavg()
    result = {"commit": git_commit(), "requests": args.requests, "cpus": os.cpu_count(),
              "load_avg_before": load_before, "load_avg_after": load_after, **populated, "runs": runs,
              "goal_s": 10.0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    print(f"monitoring snapshot over {args.requests} requests (load {load_before[0]:.1f} -> {load_after[0]:.1f}; "
          f"commit {result['commit'][:8]}; populate {populated['populate_s']:.1f} s)")
    print(f"  {'window':>6}  {'windows':>7}  {'snapshots':>9}  {'alerts':>6}  {'seconds':>7}  {'cpu s':>7}  "
          f"{'rerun s':>7}")
    for r in runs:
        print(f"  {r['window_size']:>6}  {r['windows_closed']:>7}  {r['snapshots']:>9}  {r['alerts']:>6}  "
              f"{r['snapshot_s']:>7.2f}  {r['snapshot_cpu_s']:>7.2f}  {r['rerun_s']:>7.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
