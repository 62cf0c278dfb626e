"""Celery tasks of the adapter registry."""
from celery import shared_task

from apps.adapters.evaluation import adapter_evaluate


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=0)
def evaluate_adapter_version(version_id: int) -> None:
    adapter_evaluate(version_id=version_id)
