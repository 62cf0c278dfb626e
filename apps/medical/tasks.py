"""Celery tasks of the medical app. They take ids (never patient data) and call one function each.

run_triage and generate_draft run the model (queue gpu); verify_draft_version runs the knowledge-base checks
(queue default). Routes: CELERY_TASK_ROUTES in config/settings/base.py.
"""
from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from apps.medical import runner, services

TRANSIENT = (OperationalError, InterfaceError, ConnectionError)
RETRY = {
    "bind": True, "acks_late": True, "reject_on_worker_lost": True, "autoretry_for": TRANSIENT,
    "retry_backoff": 2, "retry_backoff_max": 60, "retry_jitter": True, "max_retries": 5,
}


def _guarded(task, job_id: int, run, fail) -> None:
    try:
        run(job_id=job_id)
    except TRANSIENT:
        if task.request.retries >= task.max_retries:
            fail(job_id=job_id, error="gave up after repeated database/broker errors")
        raise
    except SoftTimeLimitExceeded:
        fail(job_id=job_id, error="the job ran past its time limit")
    except Exception as exc:  # a bug or a model failure: the job fails visibly (the message names no patient data)
        fail(job_id=job_id, error=f"{type(exc).__name__}")
        raise


@shared_task(**RETRY)
def run_triage(self, job_id: int) -> None:
    _guarded(self, job_id, runner.triage_run, services.triage_fail)


@shared_task(**RETRY)
def generate_draft(self, job_id: int) -> None:
    _guarded(self, job_id, runner.draft_run, services.draft_generation_fail)


@shared_task(**RETRY)
def verify_draft_version(self, draft_id: int) -> None:
    try:
        services.draft_verify(draft_id=draft_id)
    except TRANSIENT:
        raise
    except Exception as exc:  # checks that cannot run fail closed: the version cannot be approved
        services.draft_verify_fail(draft_id=draft_id, error=type(exc).__name__)
        raise
