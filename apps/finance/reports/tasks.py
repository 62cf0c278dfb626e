"""Celery task of research reports (queue gpu): it takes a job id and calls the runner."""
from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from apps.finance.reports import services
from apps.finance.reports.runner import report_run

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
def generate_report_sections(self, job_id: int) -> None:
    try:
        report_run(job_id=job_id)
    except TRANSIENT:
        if self.request.retries >= self.max_retries:
            services.report_run_fail(job_id=job_id, error="gave up after repeated database/broker errors")
        raise
    except SoftTimeLimitExceeded:
        services.report_run_fail(job_id=job_id, error="the report ran past its time limit")
    except Exception as exc:  # a bug or a model failure: the report fails, visibly
        services.report_run_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
