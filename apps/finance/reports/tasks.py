"""Celery task of research reports (queue gpu): it takes a job id and calls the runner."""
from __future__ import annotations

from celery import shared_task

from apps.finance.reports import services
from apps.finance.reports.runner import report_run
from apps.generation.job_tasks import JOB_TASK_OPTIONS, run_guarded


@shared_task(**JOB_TASK_OPTIONS)
def generate_report_sections(self, job_id: int) -> None:
    run_guarded(self, job_id, report_run, services.report_run_fail, what="report")
