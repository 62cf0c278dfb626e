"""Celery tasks of the medical app. They take ids (never patient data) and call one function each.

run_triage and generate_draft run the model (queue gpu); verify_draft_version runs the knowledge-base checks
(queue default). Routes: CELERY_TASK_ROUTES in config/settings/base.py.
"""
from __future__ import annotations

from celery import shared_task

from apps.generation.job_tasks import JOB_TASK_OPTIONS, TRANSIENT, run_guarded
from apps.medical import runner, services


def _guarded(task, job_id: int, run, fail) -> None:
    # Only the exception's type reaches the job row: messages may quote the patient record.
    run_guarded(task, job_id, run, fail, error_detail=False)


@shared_task(**JOB_TASK_OPTIONS)
def run_triage(self, job_id: int) -> None:
    _guarded(self, job_id, runner.triage_run, services.triage_fail)


@shared_task(**JOB_TASK_OPTIONS)
def generate_draft(self, job_id: int) -> None:
    _guarded(self, job_id, runner.draft_run, services.draft_generation_fail)


@shared_task(**JOB_TASK_OPTIONS)
def verify_draft_version(self, draft_id: int) -> None:
    try:
        services.draft_verify(draft_id=draft_id)
    except TRANSIENT:
        raise
    except Exception as exc:  # checks that cannot run fail closed: the version cannot be approved
        services.draft_verify_fail(draft_id=draft_id, error=type(exc).__name__)
        raise
