"""Service metrics for operators: the one module that defines every Prometheus metric Plumbline exposes.

Events are recorded where they happen, with one call each: a job's end (apps.generation.services._end), a
generation request's end (apps.generation.model_api), a draft's verification (apps.medical.services.verification),
a report section's grounding (apps.finance.reports.grounding_store). What is a state rather than an event is read
at scrape time by a collector: the broker's queue depths (web /metrics) and the engine's batch, KV cache and
adapter loads (the gpu worker's metrics port).

Where the numbers are served:
- web: GET /metrics (apps.monitoring.metrics_views), bearer token PLUMBLINE_METRICS_TOKEN; + queue depths.
- workers: with PLUMBLINE_METRICS_PORT > 0 each worker's main process serves http://ADDR:PORT/metrics
  (PLUMBLINE_METRICS_ADDR, default 127.0.0.1) once it is ready (config/celery.py); + the engine's numbers.
  gpu workers run the thread pool, so the engine lives in that main process.
- Processes of one host or container (gunicorn workers, a prefork worker's children) add up through
  prometheus-client's multiprocess mode: set PROMETHEUS_MULTIPROC_DIR to an empty directory private to that
  host/container (compose: a tmpfs) in the environment of every process there, before any of them starts.
  Without it each process serves its own numbers (one process: `make run`, the tests).

Labels are bounded: job kinds are the registered ones ("unknown" otherwise), statuses and outcomes come from
their model choices, queues from CELERY_TASK_QUEUES. Never a user, a prompt or a patient.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the value files are created as metrics are; the dir must exist
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# Seconds: from a cpu verification (tens of ms) to a long report on a busy gpu queue (many minutes).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
TOKENS_PER_SECOND_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# --- events (recorded where they happen) --------------------------------------------------------------------
JOB_QUEUE_WAIT = Histogram(
    "plumbline_job_queue_wait_seconds",
    "Jobs: seconds from submission to the start of the last attempt (to the end, for a job that never started).",
    ["kind", "status"], buckets=LATENCY_BUCKETS,
)
JOB_RUN = Histogram(
    "plumbline_job_run_seconds", "Jobs: seconds from the start of the last attempt to the end.",
    ["kind", "status"], buckets=LATENCY_BUCKETS,
)
JOBS_FINISHED = Counter("plumbline_jobs_finished", "Jobs that ended, by kind and status.", ["kind", "status"])
TOKENS_GENERATED = Counter("plumbline_tokens_generated", "Completion tokens generated (every engine request).")
TOKENS_PER_SECOND = Histogram(
    "plumbline_generation_tokens_per_second",
    "Decode speed of one engine request: tokens after the first / seconds after the first token.",
    buckets=TOKENS_PER_SECOND_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "plumbline_generation_ttft_seconds", "Seconds from an engine request's submission to its first token.",
    buckets=TTFT_BUCKETS,
)
VERIFICATION_OUTCOMES = Counter(
    "plumbline_verification_outcomes",
    "Automatic checks of generated text: medical drafts (passed / unverifiable / failed) and finance sections "
    "(grounded / flagged).",
    ["domain", "outcome"],
)


def job_ended(*, kind: str, status: str, created_at: datetime, started_at: datetime | None,
              finished_at: datetime) -> None:
    """A job ended with `status`: counted, its queue wait and run time observed, once its transaction commits
    (an ending that is rolled back did not happen)."""
    from django.db import transaction

    from apps.generation.registry import kind_get

    kind = kind if kind_get(kind) is not None else "unknown"
    queue_wait = ((started_at or finished_at) - created_at).total_seconds()
    run = (finished_at - started_at).total_seconds() if started_at is not None else None

    def record() -> None:
        JOBS_FINISHED.labels(kind, status).inc()
        JOB_QUEUE_WAIT.labels(kind, status).observe(max(0.0, queue_wait))
        if run is not None:
            JOB_RUN.labels(kind, status).observe(max(0.0, run))

    transaction.on_commit(record)


def generation_ended(*, completion_tokens: int, timings: dict[str, float]) -> None:
    """An engine request ended (modelcore Completion's tokens and timings)."""
    TOKENS_GENERATED.inc(completion_tokens)
    ttft, total = timings.get("ttft_s"), timings.get("total_s")
    if ttft is not None:
        TIME_TO_FIRST_TOKEN.observe(ttft)
        if completion_tokens > 1 and total is not None and total > ttft:
            TOKENS_PER_SECOND.observe((completion_tokens - 1) / (total - ttft))


def verification_outcome(*, domain: str, outcome: str) -> None:
    """One automatic check of generated text ended with `outcome`."""
    VERIFICATION_OUTCOMES.labels(domain, outcome).inc()


# --- states (read at scrape time) ---------------------------------------------------------------------------
class QueueDepthCollector:
    """Messages waiting in each Celery queue and delivered-but-unacknowledged, read from the broker at scrape
    time (one pipelined round trip of LLEN/HLEN). plumbline_broker_up is 0 when the broker could not be read."""

    def describe(self):
        return []

    def collect(self):
        from django.conf import settings

        from apps.generation.broker import queue_depths

        queues = [q.name for q in settings.CELERY_TASK_QUEUES]
        read = queue_depths(queues)
        up = GaugeMetricFamily("plumbline_broker_up", "1 when the broker's queues could be read at this scrape.")
        up.add_metric([], 0 if read is None else 1)
        yield up
        if read is None:
            return
        per_queue, unacked = read
        depth = GaugeMetricFamily("plumbline_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
        for queue, n in per_queue.items():
            depth.add_metric([queue], n)
        yield depth
        yield GaugeMetricFamily(
            "plumbline_queue_unacked", "Messages delivered to a worker and not yet acknowledged (running tasks).",
            value=unacked,
        )


class EngineCollector:
    """This process's engine, read at scrape time (apps.generation.runtime.engine_stats); nothing until the
    process has built an engine."""

    def describe(self):
        return []

    def collect(self):
        from apps.generation.runtime import engine_metric_families

        yield from engine_metric_families()


class _Registered:
    """The metrics defined above as this one process holds them (no multiprocess directory)."""

    def collect(self):
        return REGISTRY.collect()


def metrics_registry(*, queues: bool = False, engine: bool = False) -> CollectorRegistry:
    """What a process serves: the event metrics (added up over PROMETHEUS_MULTIPROC_DIR when set, else this
    process's own), plus the queue depths (`queues`, the web) and the engine's state (`engine`, workers)."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_Registered())
    if queues:
        registry.register(QueueDepthCollector())
    if engine:
        registry.register(EngineCollector())
    return registry


def worker_metrics_serve() -> tuple[str, int] | None:
    """Serve this worker's metrics on PLUMBLINE_METRICS_ADDR:PLUMBLINE_METRICS_PORT (called once, in the worker's
    main process, when it is ready). Returns the address, or None when no port is configured. A port already in
    use is logged and the worker runs on without metrics: metrics never stop work."""
    from django.conf import settings
    from prometheus_client import start_http_server

    port, addr = settings.PLUMBLINE_METRICS_PORT, settings.PLUMBLINE_METRICS_ADDR
    if not port:
        return None
    try:
        start_http_server(port, addr=addr, registry=metrics_registry(engine=True))
    except OSError as exc:
        log.error("worker metrics: cannot listen on %s:%s (%s)", addr, port, exc.strerror or exc)
        return None
    log.info("worker metrics on http://%s:%s/metrics", addr, port)
    return addr, port


def metric_names() -> set[str]:
    """Every metric name served (histogram/counter base names, as in `name_bucket`, `name_total`)."""
    names = {m._name for m in (JOB_QUEUE_WAIT, JOB_RUN, JOBS_FINISHED, TOKENS_GENERATED, TOKENS_PER_SECOND,
                               TIME_TO_FIRST_TOKEN, VERIFICATION_OUTCOMES)}
    return names | COLLECTED_NAMES


# The engine's names are modelcore.metrics.ENGINE_METRIC_NAMES (not imported here: that loads torch, and the web
# process serves /metrics without it); tests/apps/monitoring/test_metrics.py checks the two agree.
COLLECTED_NAMES = {
    "plumbline_broker_up", "plumbline_queue_depth", "plumbline_queue_unacked",
    "plumbline_engine_running_requests", "plumbline_engine_waiting_requests", "plumbline_engine_max_batch_size",
    "plumbline_engine_batch_occupancy", "plumbline_engine_kv_cache_tokens",
    "plumbline_engine_kv_cache_capacity_tokens", "plumbline_engine_kv_cache_usage", "plumbline_engine_kv_cache_bytes",
    "plumbline_engine_adapters_resident", "plumbline_engine_max_adapters", "plumbline_adapter_loads",
    "plumbline_engine_prefix_cache_bytes", "plumbline_engine_prefix_cache_hit_tokens",
}
