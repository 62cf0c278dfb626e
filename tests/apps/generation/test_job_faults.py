"""Faults of every registered kind of job, on real Celery worker processes with the real model: a worker killed
mid-job (the job is delivered again and ends once), a runner that raises (the job fails with the error visible,
only its type for medical kinds), and the time limit. Each test covers every kind: a new kind is covered by
adding its submitter below (test_every_kind_has_a_submitter fails until then)."""
from __future__ import annotations

import time

import pytest

from apps.generation.models import GenerationJob
from apps.generation.registry import kind_get, registered_kinds
from tests.apps.finance.test_reports_factories import join, make_company, make_team, write_all_sections
from tests.apps.medical.factories import encounter
from tests.conftest import wait_for_job

# Budgets small enough for a CPU worker: reports read theirs in the worker (env), medical budgets travel with the
# job (this process's settings).
WORKER_BUDGETS = {"PLUMBLINE_REPORT_SECTION_TOKENS": "8", "PLUMBLINE_REPORT_RATING_TOKENS": "64"}
LOCAL_BUDGETS = {"PLUMBLINE_MEDICAL_TRIAGE_TOKENS": 24, "PLUMBLINE_MEDICAL_SECTION_TOKENS": 2,
                 "PLUMBLINE_MEDICAL_CODES_TOKENS": 16, "PLUMBLINE_MONITORING_CONSISTENCY_SAMPLES": 2}


def _text(make_user):
    from apps.generation.services import job_create

    return job_create(owner=make_user("analyst"), prompt="1, 2, 3, 4, 5, 6,", chat=False, max_tokens=8,
                      domain="finance")


def _report(make_user):
    """A report job that writes one section (a written report's "risks" regenerated): the least model work."""
    from apps.finance.reports.services import report_create, report_section_regenerate

    analyst = join(make_user("analyst"), make_team())
    report, _ = report_create(owner=analyst, company=make_company(team=analyst.team, created_by=analyst))
    write_all_sections(report)
    return report_section_regenerate(report=report, kind="risks", actor=analyst)


def _triage(make_user):
    from apps.medical.services import triage_request

    clinician = make_user("clinician")
    return triage_request(encounter=encounter(clinician), actor=clinician).job


def _draft(make_user):
    from apps.medical.services import draft_request

    clinician = make_user("clinician")
    return draft_request(encounter=encounter(clinician), actor=clinician).job


def _consistency(make_user):
    """Monitoring's consistency sample of a finished triage (stored without the model): k=2 proposals."""
    import json

    from apps.generation.jobs import JobContext
    from apps.generation.services import job_start
    from apps.medical.services import triage_record
    from apps.monitoring.services import consistency_maybe_sample

    job = _triage(make_user)
    claimed, attempt = job_start(job_id=job.pk)
    ctx = JobContext(job=claimed, attempt=attempt, kind=kind_get(job.kind))
    triage_record(job_id=ctx.job_id, attempt=attempt, text=json.dumps({"esi_level": 3}), finish_reason="stop")
    return consistency_maybe_sample(observation=job.observation, share=1.0).job


SUBMIT = {"generation.text": _text, "finance.report": _report, "medical.triage": _triage, "medical.draft": _draft,
          "monitoring.triage_consistency": _consistency}


def app_state(job: GenerationJob) -> str:
    """The state of the app row the job feeds: it must never be left waiting on an ended job."""
    job.refresh_from_db()
    if job.kind == "finance.report":
        return job.report_run.report.status
    if job.kind == "medical.triage":
        return job.medical_triage.status
    if job.kind == "medical.draft":
        return job.medical_draft.status
    return job.status


def assert_app_settled_after_failure(job: GenerationJob) -> None:
    """A failed job leaves no app row waiting: the draft failed, the triage stands on the rules, the report's
    regenerated section failed and the report says why (it stays ready: its other sections have text)."""
    state = app_state(job)
    if job.kind == "finance.report":
        report = job.report_run.report
        assert state == "ready" and report.error == job.error
        assert report.sections.get(kind="risks").status == "failed"
    elif job.kind == "medical.triage":
        assert state == "done" and job.medical_triage.model_outcome == "failed"
    elif job.kind == "medical.draft":
        assert state == "failed" and job.medical_draft.error == job.error


@pytest.fixture
def submit(make_user, settings):
    for name, value in LOCAL_BUDGETS.items():
        setattr(settings, name, value)

    def do(kind: str) -> GenerationJob:
        job = SUBMIT[kind](make_user)
        assert job.kind == kind
        return job

    return do


def test_every_kind_has_a_submitter():
    assert sorted(SUBMIT) == registered_kinds()


# Each fault runs every kind's job on one worker (or one pair), not one worker per kind: a worker start, its model
# load and, for the killed worker, the visibility timeout are paid once per fault. The assertions are per kind.
@pytest.mark.worker
@pytest.mark.slow
def test_a_raising_runner_ends_the_job_failed_with_the_error_visible(start_worker, submit, transactional_db):
    # A configuration the engine refuses: loading the model raises inside the guarded job body.
    jobs = [submit(kind) for kind in registered_kinds()]  # before the worker starts: no job runs meanwhile
    worker = start_worker(**WORKER_BUDGETS, PLUMBLINE_LAYER_ATTENTION="not json")
    for job in jobs:
        kind = job.kind
        job = wait_for_job(job.pk, timeout=120, worker=worker)
        assert job.status == "failed", (kind, worker.log()[-2000:])
        if not kind_get(kind).clinical:
            assert job.error.startswith("ImproperlyConfigured: PLUMBLINE_LAYER_ATTENTION is not JSON"), kind
        else:  # medical: the exception's type only, never its message
            assert job.error == "ImproperlyConfigured", kind
        assert_app_settled_after_failure(job)
        if kind == "medical.triage":
            assert job.medical_triage.model_outcome == "failed" and job.medical_triage.final_level is not None


@pytest.mark.worker
@pytest.mark.slow
def test_the_time_limit_ends_the_job_failed(start_worker, submit, transactional_db):
    # A soft limit of 0 s: the runner's deadline has passed by the first token.
    jobs = [submit(kind) for kind in registered_kinds()]
    worker = start_worker(**WORKER_BUDGETS, CELERY_TASK_SOFT_TIME_LIMIT="0")
    for job in jobs:
        kind = job.kind
        job = wait_for_job(job.pk, timeout=180, worker=worker)
        assert job.status == "failed", (kind, worker.log()[-2000:])
        assert job.error == f"the {kind_get(kind).what} ran past its time limit"
        assert_app_settled_after_failure(job)


@pytest.mark.worker
@pytest.mark.slow
def test_a_worker_killed_mid_job_the_job_is_delivered_again_and_ends_once(start_worker, submit, transactional_db):
    # A short visibility timeout (still above twice the time limit) so the test need not wait an hour; the
    # restore sweep runs every second. 60 s leaves the small budgets time on a loaded CPU (a draft took 45 s on one
    # thread beside the other xdist process).
    # The first worker has a thread per kind, so it has taken every kind's job when it is killed; the second runs
    # them one at a time, as a lone job runs (each delivery's visibility timeout counts from when it is taken).
    kinds = registered_kinds()
    fast_restore = {
        **WORKER_BUDGETS,
        "CELERY_VISIBILITY_TIMEOUT": "121",
        "CELERY_TASK_TIME_LIMIT": "60",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    job_ids = [submit(kind).pk for kind in kinds]
    first = start_worker(concurrency=len(kinds), **fast_restore)
    end = time.monotonic() + 120
    while time.monotonic() < end:  # the first delivery has taken every job (it is loading or running the model)
        statuses = list(GenerationJob.objects.filter(pk__in=job_ids).values_list("status", flat=True))
        if "queued" not in statuses:
            break
        time.sleep(0.05)
    assert statuses == ["running"] * len(kinds), (statuses, first.log()[-2000:])
    first.kill()
    assert set(GenerationJob.objects.filter(pk__in=job_ids).values_list("status", flat=True)) == {"running"}

    second = start_worker(concurrency=1, **fast_restore)
    for job_id, kind in zip(job_ids, kinds, strict=True):
        job = wait_for_job(job_id, timeout=300 * len(kinds), worker=second)  # one after another
        assert job.status == "succeeded", f"{kind}: {job.error}\n{second.log()[-1500:]}"
        assert job.attempts == 2, kind
        state = app_state(job)
        assert state in {"succeeded", "ready", "done", "verifying", "in_review"}, (kind, state)
        if kind == "finance.report":  # the regenerated section has exactly one version by this job
            section = job.report_run.report.sections.get(kind="risks")
            assert section.versions.filter(job=job).count() == 1 and section.versions.count() == 2
