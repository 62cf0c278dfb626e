"""The one Celery task of every kind of job (queue gpu): it takes a job id and dispatches to the runner that
the job's app registered for its kind (apps.generation.registry). And the periodic sweep (queue default, run by
beat) that enqueues it again for jobs whose message the broker lost."""
from __future__ import annotations

from celery import shared_task

from apps.generation import services
from apps.generation.broker import job_ids_held
from apps.generation.jobs import JOB_TASK_OPTIONS, job_dispatch


@shared_task(**JOB_TASK_OPTIONS)
def run_job(self, job_id: int) -> None:
    job_dispatch(job_id=job_id, retries=self.request.retries, max_retries=self.max_retries)


@shared_task(ignore_result=True)
def requeue_stale_jobs() -> list[int]:
    # Read before the rows. A message caught between the queue and the unacked hash at that instant is missed:
    # its job may get one more message, which the attempt fencing makes harmless.
    held = job_ids_held()
    return services.jobs_requeue_stale(held=held)
