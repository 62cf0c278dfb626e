"""The periodic snapshot (beat -> queue default): thin, it calls the one service."""
from __future__ import annotations

from celery import shared_task

from apps.monitoring import services


@shared_task(ignore_result=True)
def compute_snapshots() -> dict[str, int]:
    return services.snapshots_compute()
