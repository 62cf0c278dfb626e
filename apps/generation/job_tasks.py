"""The one guarded body of every job-running Celery task (generation, reports, medical jobs).

Options (`JOB_TASK_OPTIONS`): acks_late + reject_on_worker_lost (a killed worker's job is delivered again;
completion is idempotent per attempt), automatic retries with backoff for transient database/broker errors.
`run_guarded` turns every way a job can end badly into a failed job the user can see:
- transient errors are retried; the last retry marks the job failed;
- the soft time limit marks it failed;
- anything else (a bug, a model failure) marks it failed and re-raises so the worker logs it.
`error_detail=False` stores only the exception's type name: jobs over patient data must not copy message
text (which may quote the record) into the job row.
"""
from __future__ import annotations

from collections.abc import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

TRANSIENT = (OperationalError, InterfaceError, ConnectionError)

JOB_TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


def run_guarded(
    task,
    job_id: int,
    run: Callable[..., object],
    fail: Callable[..., object],
    *,
    error_detail: bool = True,
    what: str = "job",
) -> None:
    """`run(job_id=job_id)`; on failure `fail(job_id=job_id, error=...)` as described in the module doc."""
    try:
        run(job_id=job_id)
    except TRANSIENT:
        if task.request.retries >= task.max_retries:
            fail(job_id=job_id, error="gave up after repeated database/broker errors")
        raise
    except SoftTimeLimitExceeded:
        fail(job_id=job_id, error=f"the {what} ran past its time limit")
    except Exception as exc:  # a bug or a model failure: the job fails, visibly
        fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}" if error_detail else type(exc).__name__)
        raise
