"""Celery tasks of the adapter registry."""
from celery import shared_task

from apps.adapters.evaluation import adapter_evaluate


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=0)
def evaluate_adapter_version(version_id: int) -> None:
    adapter_evaluate(version_id=version_id)


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=2, retry_backoff_max=60, max_retries=5)
def push_adapter_to_backend(version_id: int) -> None:
    """Load an activated adapter version into the model server (PLUMBLINE_BACKEND=openai); retried while the server
    is unreachable."""
    from apps.adapters.models import AdapterVersion
    from apps.generation.model_api import adapter_push

    version = AdapterVersion.objects.filter(pk=version_id).first()
    if version is not None:
        adapter_push(version)
