"""The one job mechanism in this process (real database, no worker, no model): submission checks, the
attempt-fenced context, and how every way a runner can end becomes the job's state and its app's on_end."""
from __future__ import annotations

import traceback
from types import SimpleNamespace

import pytest
from django.db import OperationalError

from apps.accounts.models import AuditEvent
from apps.core.exceptions import ApplicationError
from apps.generation import registry, services
from apps.generation.jobs import JOB_TASK_OPTIONS, JobCrashed, JobFailed, JobStale, JobTimeLimit, job_dispatch
from apps.generation.models import GenerationJob

pytestmark = pytest.mark.django_db

MAX = JOB_TASK_OPTIONS["max_retries"]


@pytest.fixture
def kind(monkeypatch):
    """Register a test kind whose runner and on_end are given by the test; on_end calls are recorded."""
    ended = []

    def make(run, *, clinical=False, domain="general"):
        spec = registry.JobKind(name="tests.kind", run=run, domain=domain, clinical=clinical,
                                on_end=lambda *, job, error: ended.append((job.status, error)), uses_model=False)
        monkeypatch.setitem(registry._KINDS, spec.name, spec)
        return spec

    make.ended = ended
    return make


def _submit(user, kind="tests.kind"):
    return services.job_submit(kind=kind, owner=user, prompt="work 1", max_tokens=4, adapter=None)


def _raise(exc):
    def run(ctx):
        raise exc

    return run


def test_submit_checks_kind_and_domain_and_audits(kind, make_user):
    kind(lambda ctx: None, domain="medical")
    with pytest.raises(ApplicationError) as err:
        _submit(make_user("analyst"))  # analysts may not work in medicine
    assert err.value.status == 403 and not GenerationJob.objects.exists()
    with pytest.raises(ApplicationError):
        _submit(make_user("clinician"), kind="tests.nope")
    job = _submit(make_user("clinician"))
    assert (job.kind, job.domain, job.status) == ("tests.kind", "medical", "queued")
    event = AuditEvent.objects.get(action="generation_job.create", object_id=str(job.pk))
    assert event.detail["kind"] == "tests.kind"


def test_a_runner_that_stores_its_result_ends_the_job_succeeded(kind, make_user):
    kind(lambda ctx: ctx.finish(output=f"done by attempt {ctx.attempt}"))
    job = _submit(make_user("analyst"))
    job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.output, job.attempts) == ("succeeded", "done by attempt 1", 1)
    assert kind.ended == []
    job_dispatch(job_id=job.pk)  # a late redelivery: nothing runs again
    job.refresh_from_db()
    assert job.attempts == 1


def test_a_raising_runner_fails_the_job_with_the_error_or_only_its_type(kind, make_user):
    kind(_raise(ValueError("patient Jane Roe")))
    job = _submit(make_user("analyst"))
    with pytest.raises(ValueError):
        job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "ValueError: patient Jane Roe"
    kind(_raise(ValueError("patient Jane Roe")), clinical=True)
    job = _submit(make_user("analyst"))
    with pytest.raises(JobCrashed) as raised:  # what the task raises (and the worker logs) names the type only
        job_dispatch(job_id=job.pk)
    assert "Jane Roe" not in "".join(traceback.format_exception(raised.value))
    job.refresh_from_db()
    assert job.error == "ValueError"
    assert kind.ended == [("failed", "ValueError: patient Jane Roe"), ("failed", "ValueError")]


def test_time_limit_and_named_failures_end_failed_without_raising(kind, make_user):
    kind(_raise(JobTimeLimit()))
    job = _submit(make_user("analyst"))
    job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "the job ran past its time limit"
    kind(_raise(JobFailed("section plan: the engine refused the prompt")), clinical=True)
    job = _submit(make_user("analyst"))
    job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.error == "section plan: the engine refused the prompt"


def test_transient_errors_are_retried_and_fail_the_job_only_on_the_last_retry(kind, make_user):
    kind(_raise(OperationalError("db down")))
    job = _submit(make_user("analyst"))
    with pytest.raises(OperationalError):
        job_dispatch(job_id=job.pk, retries=0, max_retries=MAX)
    job.refresh_from_db()
    assert job.status == "running" and kind.ended == []
    with pytest.raises(OperationalError):
        job_dispatch(job_id=job.pk, retries=MAX, max_retries=MAX)
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "gave up after repeated database/broker errors"
    assert job.attempts == 2


def test_cancel_mid_run_and_a_runner_without_a_result(kind, make_user):
    def cancelled_run(ctx):
        GenerationJob.objects.filter(pk=ctx.job_id).update(cancel_requested=True)
        assert ctx.progress()("some text") is False  # the progress writer says stop
        raise JobStale

    kind(cancelled_run)
    job = _submit(make_user("analyst"))
    job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "cancelled" and kind.ended == [("cancelled", "")]
    kind(lambda ctx: None)
    job = _submit(make_user("analyst"))
    job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "without storing a result" in job.error


def test_cancel_while_queued_settles_the_app_at_once(kind, make_user):
    kind(_raise(AssertionError("must not run")))
    user = make_user("analyst")
    job = _submit(user)
    services.job_cancel(job=job, actor=user)
    job.refresh_from_db()
    assert job.status == "cancelled" and kind.ended == [("cancelled", "")]
    job_dispatch(job_id=job.pk)  # the delivery finds it ended
    assert GenerationJob.objects.get(pk=job.pk).attempts == 0


def test_a_stale_attempt_cannot_write_progress_or_end_the_job(kind, make_user):
    seen = SimpleNamespace(ctx=None)

    def run(ctx):
        seen.ctx = ctx
        services.job_start(job_id=ctx.job_id)  # the broker delivered the job again meanwhile
        assert ctx.progress()("late") is False
        assert ctx.finish(output="stale") is None
        raise JobStale

    kind(run)
    job = _submit(make_user("analyst"))
    job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 2 and job.output == "" and kind.ended == []


def test_unknown_kind_fails_visibly(make_user):
    job = services.job_create(owner=make_user("analyst"), prompt="hello", domain="finance")
    GenerationJob.objects.filter(pk=job.pk).update(kind="tests.gone")
    job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "tests.gone" in job.error


def test_every_app_registers_its_kinds():
    assert registry.registered_kinds() == ["finance.report", "generation.text", "medical.draft", "medical.triage",
                                           "monitoring.triage_consistency"]
    assert registry.kind_get("medical.draft").clinical is True
    assert registry.kind_get("medical.triage").clinical is True
    assert registry.kind_get("monitoring.triage_consistency").clinical is True  # it reads an encounter


def test_a_clinical_kind_writes_counts_not_text_to_the_job_row(kind, make_user):
    seen = SimpleNamespace(finish=None)

    def run(ctx):
        assert ctx.progress(label="plan")("patient Jane Roe, 58") is True
        row = GenerationJob.objects.get(pk=ctx.job_id)
        assert (row.output, row.completion_tokens) == ("", 1)  # progress as a count
        with pytest.raises(ValueError, match="clinical kind"):
            ctx.finish(output="patient Jane Roe")
        seen.finish = ctx.finish(output="")

    kind(run, clinical=True, domain="medical")
    job = _submit(make_user("clinician"))
    job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.output) == ("succeeded", "") and seen.finish is not None


def test_progress_shows_the_text_as_show_presents_it(kind, make_user):
    """A report's grounded prose streams as `{{fact.key}}` references: the job row and the app's live view get
    the rendered figures, never the raw references."""
    live = []

    def run(ctx):
        render = lambda text: text.replace("{{revenue.2024}}", "$1.2bn")  # noqa: E731
        assert ctx.progress(label="summary", also=live.append, show=render)("Revenue was {{revenue.2024}}.")
        row = GenerationJob.objects.get(pk=ctx.job_id)
        assert row.output == "[summary] Revenue was $1.2bn."
        ctx.finish(output="done")

    kind(run)
    job = _submit(make_user("analyst"))
    job_dispatch(job_id=job.pk)
    assert live == ["Revenue was $1.2bn."]
