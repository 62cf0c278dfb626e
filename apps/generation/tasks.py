"""Celery tasks of the generation app: they take ids and call one function."""
from __future__ import annotations

from celery import shared_task

from apps.generation import services
from apps.generation.job_tasks import JOB_TASK_OPTIONS, run_guarded
from apps.generation.runner import job_run


@shared_task(**JOB_TASK_OPTIONS)
def run_generation_job(self, job_id: int) -> None:
    run_guarded(self, job_id, job_run, services.job_fail)
