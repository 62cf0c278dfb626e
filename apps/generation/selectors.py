"""Reads of generation jobs. Every query is scoped to what the caller may see."""
from __future__ import annotations

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet

from apps.accounts.roles import ADMIN
from apps.core.domains import Domain
from apps.generation.models import GenerationJob


def _jobs_scope(*, user) -> QuerySet[GenerationJob]:
    qs = GenerationJob.objects.select_related("owner")
    if not user.is_authenticated:
        return qs.none()
    if user.role == ADMIN:
        return qs
    return qs.filter(owner=user)


def jobs_visible_to(*, user) -> QuerySet[GenerationJob]:
    """A user sees the jobs they own; an admin sees every job, for operations.

    Each job is annotated `content_visible`: whether the caller may read its prompt, output and error. A medical
    job's are its owner's alone (a clinician's prompt may hold patient data), so an admin sees a medical job's
    metadata only: id, kind, status, domain, owner, adapter, token counts, timings. Pages and the API show the
    content only where the annotation says so, and treat a job without it as withheld."""
    may_read = Q(owner=user) | ~Q(domain=Domain.MEDICAL) if user.is_authenticated else Q(pk__in=[])
    return _jobs_scope(user=user).annotate(
        content_visible=ExpressionWrapper(may_read, output_field=BooleanField()))


def job_counts_for(*, user) -> dict[str, int]:
    rows = _jobs_scope(user=user).order_by().values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}
