"""Service metrics: the token-guarded /metrics, job latency recorded where a job ends, queue depths read from the
real Redis broker, a real worker's metrics port, the engine's state, multiprocess aggregation and the Grafana
dashboard's queries."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from apps.monitoring import metrics
from tests.conftest import REPO, wait_for_job

TOKEN = "a-metrics-token-of-some-length"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition (parsing it checks its format)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(client, token: str = TOKEN):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


# --- the endpoint's guard ---------------------------------------------------------------------------------------
def test_metrics_do_not_exist_without_a_configured_token(client, settings):
    settings.PLUMBLINE_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert scrape(client, "anything").status_code == 404


def test_metrics_refuse_a_missing_or_wrong_token(client, settings):
    settings.PLUMBLINE_METRICS_TOKEN = TOKEN
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401  # not a bearer token
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    for wrong in ("nope", TOKEN[:-1], TOKEN + "x", TOKEN.upper()):
        response = scrape(client, wrong)
        assert response.status_code == 403 and b"plumbline_" not in response.content
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- events: recorded where they happen --------------------------------------------------------------------------
def test_a_finished_job_shows_in_the_latency_histograms(client, settings, make_user, django_capture_on_commit_callbacks):
    from apps.generation import services
    from apps.generation.models import TEXT_KIND, GenerationJob

    settings.PLUMBLINE_METRICS_TOKEN = TOKEN
    labels = (("kind", TEXT_KIND), ("status", "succeeded"))
    before = samples(scrape(client).content.decode())
    job = GenerationJob.objects.create(kind=TEXT_KIND, owner=make_user("analyst"), prompt="hello")
    with django_capture_on_commit_callbacks(execute=True):
        _, attempt = services.job_start(job_id=job.pk)
        services.job_finish(job_id=job.pk, attempt=attempt, output="hi", finish_reason="stop", prompt_tokens=3,
                            completion_tokens=1)
    response = scrape(client)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=")
    after = samples(response.content.decode())
    for name in ("plumbline_job_run_seconds_count", "plumbline_job_queue_wait_seconds_count",
                 "plumbline_jobs_finished_total"):
        assert after[(name, labels)] == before.get((name, labels), 0) + 1, name
    assert after[("plumbline_job_run_seconds_bucket", tuple(sorted((*labels, ("le", "+Inf")))))] >= 1
    job.refresh_from_db()
    run_s = (job.finished_at - job.started_at).total_seconds()
    assert after[("plumbline_job_run_seconds_sum", labels)] - before.get(
        ("plumbline_job_run_seconds_sum", labels), 0) == pytest.approx(run_s, abs=1e-6)


def test_a_job_ending_that_is_rolled_back_is_not_counted(make_user, django_capture_on_commit_callbacks):
    from django.db import transaction

    from apps.generation import services
    from apps.generation.models import TEXT_KIND, GenerationJob

    labels = {"kind": TEXT_KIND, "status": "failed"}
    before = REGISTRY.get_sample_value("plumbline_jobs_finished_total", labels) or 0
    job = GenerationJob.objects.create(kind=TEXT_KIND, owner=make_user("analyst"), prompt="hello")
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                services.job_fail(job_id=job.pk, error="boom")
                raise RuntimeError("the surrounding work failed")
        except RuntimeError:
            pass
    assert (REGISTRY.get_sample_value("plumbline_jobs_finished_total", labels) or 0) == before
    with django_capture_on_commit_callbacks(execute=True):
        services.job_fail(job_id=job.pk, error="boom")
    assert REGISTRY.get_sample_value("plumbline_jobs_finished_total", labels) == before + 1


def test_grounding_counts_grounded_and_flagged_sections():
    from apps.finance.analytics import DcfInputs, FinancialPeriod, compute_facts
    from apps.finance.reports.grounding_store import ground
    from tests.apps.finance.test_reports_factories import STATEMENTS

    periods = [FinancialPeriod(fiscal_year=y, currency="USD", values=v) for y, v in STATEMENTS.items()]
    facts = compute_facts(periods, price_per_share=25.0, dcf=DcfInputs(wacc=0.09, terminal_growth=0.025))

    def count(outcome):
        return REGISTRY.get_sample_value("plumbline_verification_outcomes_total",
                                         {"domain": "finance", "outcome": outcome}) or 0

    grounded, flagged = count("grounded"), count("flagged")
    gm = facts.get("gross_margin.2024").display
    assert ground(f"Gross margin reached {gm} in FY2024.", facts.to_json())[1] == []
    assert ground("Gross margin reached 97.3% in FY2024.", facts.to_json())[1]
    assert (count("grounded"), count("flagged")) == (grounded + 1, flagged + 1)


def test_draft_verification_counts_its_outcome_once_committed(make_user, django_capture_on_commit_callbacks):
    from apps.medical import services
    from apps.medical.models import Draft
    from tests.apps.medical.factories import CLEAN_CONTENT, PLANTED_CONTENT, encounter

    def count(outcome):
        return REGISTRY.get_sample_value("plumbline_verification_outcomes_total",
                                         {"domain": "medical", "outcome": outcome}) or 0

    clinician = make_user("clinician")
    before = {o: count(o) for o in ("passed", "failed")}
    for content in (CLEAN_CONTENT, PLANTED_CONTENT, PLANTED_CONTENT):
        draft = Draft.objects.create(encounter=encounter(clinician), version=1, author=clinician, source="edit",
                                     status="verifying", **content)
        with django_capture_on_commit_callbacks(execute=True):
            services.draft_verify(draft_id=draft.pk)
            services.draft_verify(draft_id=draft.pk)  # verified already: nothing stored, nothing counted
    crashed = Draft.objects.create(encounter=encounter(clinician), version=1, author=clinician, source="edit",
                                   status="verifying", **CLEAN_CONTENT)
    with django_capture_on_commit_callbacks(execute=True):
        services.draft_verify_fail(draft_id=crashed.pk, error="KeyError")  # checks that could not run: failed
    assert {o: count(o) - before[o] for o in before} == {"passed": 1, "failed": 3}


def test_generation_metrics_count_tokens_and_decode_speed():
    before_tokens = REGISTRY.get_sample_value("plumbline_tokens_generated_total")
    before_speed = REGISTRY.get_sample_value("plumbline_generation_tokens_per_second_count")
    metrics.generation_ended(completion_tokens=11, timings={"queue_s": 0.01, "ttft_s": 0.5, "total_s": 1.5})
    metrics.generation_ended(completion_tokens=1, timings={"ttft_s": 0.2, "total_s": 0.2})  # no decode speed
    assert REGISTRY.get_sample_value("plumbline_tokens_generated_total") == before_tokens + 12
    assert REGISTRY.get_sample_value("plumbline_generation_tokens_per_second_count") == before_speed + 1
    assert REGISTRY.get_sample_value("plumbline_generation_tokens_per_second_bucket", {"le": "10.0"}) >= 1


# --- states: read at scrape time -------------------------------------------------------------------------------------
def test_queue_depth_reflects_the_messages_in_redis(client, settings):
    import redis
    from kombu import Queue

    from apps.generation.tasks import run_job
    from config.celery import app

    queue = f"metrics-test-{time.monotonic_ns()}"  # a queue no worker consumes
    settings.PLUMBLINE_METRICS_TOKEN = TOKEN
    settings.CELERY_TASK_QUEUES = (*settings.CELERY_TASK_QUEUES, Queue(queue))
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        with app.connection_for_write() as conn:
            for priority in (None, None, 3, 9):  # kombu keeps one Redis list per priority step: all are counted
                run_job.apply_async(args=[0], queue=queue, priority=priority, connection=conn)
        after = samples(scrape(client).content.decode())
        assert after[("plumbline_queue_depth", (("queue", queue),))] == 4
        assert after[("plumbline_broker_up", ())] == 1
        assert {("plumbline_queue_depth", (("queue", q),)) for q in ("default", "gpu")} <= set(after)
        assert ("plumbline_queue_unacked", ()) in after
    finally:
        broker.delete(*broker.keys(f"*{queue}*"))
    assert samples(scrape(client).content.decode())[("plumbline_queue_depth", (("queue", queue),))] == 0


def test_a_broker_that_cannot_be_read_reads_as_down_not_as_an_error(client, settings):
    settings.PLUMBLINE_METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = "memory://"  # not a broker whose queues can be read this way
    after = samples(scrape(client).content.decode())
    assert after[("plumbline_broker_up", ())] == 0
    assert not any(name == "plumbline_queue_depth" for name, _ in after)


def test_the_engine_collector_reports_this_process_engine(monkeypatch):
    import modelcore
    from apps.generation import runtime
    from modelcore.checkpoint import load_model

    registry = metrics.metrics_registry(engine=True)
    monkeypatch.setattr(runtime._holder, "_engine", None)  # an earlier test may have built this process's engine
    assert not any(name.startswith("plumbline_engine") for name, _ in samples(_text(registry)))  # no engine built
    engine = modelcore.Engine(load_model("tiny-gqa"), None, max_batch_size=4, max_seq_len=32)
    monkeypatch.setattr(runtime._holder, "_engine", engine)
    engine.submit([5, 6, 7], modelcore.SamplingParams(temperature=0, max_tokens=4, ignore_eos=True))
    engine.step()
    got = samples(_text(registry))
    assert got[("plumbline_engine_running_requests", ())] == 1
    assert got[("plumbline_engine_batch_occupancy", ())] == 0.25
    assert got[("plumbline_engine_kv_cache_capacity_tokens", ())] == 128
    assert 3 <= got[("plumbline_engine_kv_cache_tokens", ())] <= 5
    assert got[("plumbline_adapter_loads_total", (("result", "ok"),))] == 0
    collected = {name.removesuffix("_total") for name, _ in got if name.startswith(("plumbline_engine", "plumbline_adapter"))}
    from modelcore.metrics import ENGINE_METRIC_NAMES

    assert collected == ENGINE_METRIC_NAMES <= metrics.COLLECTED_NAMES  # the literal list here agrees with modelcore
    engine.run_until_idle()


def _text(registry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


# --- across processes ----------------------------------------------------------------------------------------------
def test_processes_sharing_a_multiprocess_dir_add_up(tmp_path, monkeypatch):
    """gunicorn workers and a prefork worker's children: each writes its own files, the served registry adds them
    up."""
    script = ("from apps.monitoring import metrics; "
              "metrics.JOBS_FINISHED.labels('finance.report', 'succeeded').inc(); "
              "metrics.JOB_RUN.labels('finance.report', 'succeeded').observe(2.0)")
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=60,
                       env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    got = samples(_text(metrics.metrics_registry()))
    labels = (("kind", "finance.report"), ("status", "succeeded"))
    assert got[("plumbline_jobs_finished_total", labels)] == 2
    assert got[("plumbline_job_run_seconds_count", labels)] == 2
    assert got[("plumbline_job_run_seconds_sum", labels)] == 4.0


@pytest.mark.worker
def test_a_worker_serves_its_own_metrics_on_its_port(celery_worker, make_user, transactional_db):
    """A job ended in the worker process (cancelled before it started: no model needed) is counted on the
    worker's metrics port (127.0.0.1, PLUMBLINE_METRICS_PORT set by the worker fixture)."""
    from django.db import transaction

    from apps.generation import services
    from apps.generation.models import TEXT_KIND, GenerationJob

    labels = (("kind", TEXT_KIND), ("status", "cancelled"))
    url = f"http://127.0.0.1:{celery_worker.metrics_port}/metrics"
    before = samples(_get(url)).get(("plumbline_jobs_finished_total", labels), 0)
    with transaction.atomic():  # cancelled before the worker gets the message: the worker's job_start ends it
        job = services.job_submit(kind=TEXT_KIND, owner=make_user("analyst"), prompt="never run",
                                   domain="finance", adapter=None)
        GenerationJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    assert wait_for_job(job.pk, worker=celery_worker).status == "cancelled"
    deadline = time.monotonic() + 10
    while (got := samples(_get(url))).get(("plumbline_jobs_finished_total", labels), 0) < before + 1:
        assert time.monotonic() < deadline, celery_worker.log()[-2000:]
        time.sleep(0.1)
    assert got[("plumbline_jobs_finished_total", labels)] == before + 1
    assert got[("plumbline_job_queue_wait_seconds_count", labels)] >= 1


def test_a_worker_metrics_port_that_is_off_or_taken_never_stops_the_worker(settings, caplog):
    import socket

    settings.PLUMBLINE_METRICS_PORT = 0
    assert metrics.worker_metrics_serve() is None  # off by default
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings.PLUMBLINE_METRICS_PORT = taken.getsockname()[1]
        assert metrics.worker_metrics_serve() is None
    assert f"cannot listen on 127.0.0.1:{settings.PLUMBLINE_METRICS_PORT}" in caplog.text


def _get(url: str) -> str:
    deadline = time.monotonic() + 10  # the port opens when the worker is ready, just after it says so
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --- the dashboard ------------------------------------------------------------------------------------------------
DASHBOARD = Path(REPO, "platform", "grafana", "plumbline.json")
SUFFIXES = re.compile(r"_(bucket|sum|count|total)$")


def _panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels inside a collapsed row


def test_the_dashboard_queries_only_metrics_that_exist_and_shows_each_one():
    dashboard = json.loads(DASHBOARD.read_text())
    assert 36 <= dashboard["schemaVersion"] <= 41 and dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    defined, shown = metrics.metric_names(), set()
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\bplumbline_\w+", target["expr"]))
            assert names, (panel["title"], target["expr"])
            for name in names:
                base = name if name in defined else SUFFIXES.sub("", name)
                assert base in defined, f"{panel['title']}: {name} is not defined in apps/monitoring/metrics.py"
                shown.add(base)
    assert shown == defined, f"metrics without a panel: {sorted(defined - shown)}"
