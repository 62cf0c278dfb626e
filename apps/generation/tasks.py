"""Celery tasks of the generation app: they take ids and call one function."""
from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from apps.generation import services
from apps.generation.runner import job_run

TRANSIENT = (OperationalError, InterfaceError, ConnectionError)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def run_generation_job(self, job_id: int) -> None:
    try:
        job_run(job_id=job_id)
    except TRANSIENT:
        if self.request.retries >= self.max_retries:
            services.job_fail(job_id=job_id, error="gave up after repeated database/broker errors")
        raise
    except SoftTimeLimitExceeded:
        services.job_fail(job_id=job_id, error="the job ran past its time limit")
    except Exception as exc:  # anything else is a bug or a model failure: the job fails, visibly
        services.job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
