"""Celery task of the medical app that is not a generation job: verification of a draft version (queue default,
knowledge-base checks, CPU only). It takes an id (never patient data) and calls one service. Triage and drafts
are jobs: apps.generation's one task runs them (apps.medical.runner, registered in MedicalConfig.ready)."""
from __future__ import annotations

from celery import shared_task

from apps.generation.jobs import JOB_TASK_OPTIONS, TRANSIENT
from apps.medical import services


@shared_task(**JOB_TASK_OPTIONS)
def verify_draft_version(self, draft_id: int) -> None:
    try:
        services.draft_verify(draft_id=draft_id)
    except TRANSIENT:
        raise
    except Exception as exc:  # checks that cannot run fail closed: the version cannot be approved
        services.draft_verify_fail(draft_id=draft_id, error=type(exc).__name__)
        raise
