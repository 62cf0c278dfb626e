"""Reads of generation jobs. Every query is scoped to what the caller may see."""
from __future__ import annotations

from django.db.models import Count, QuerySet

from apps.accounts.roles import ADMIN
from apps.generation.models import GenerationJob


def jobs_visible_to(*, user) -> QuerySet[GenerationJob]:
    """A user sees the jobs they own; an admin sees all. Reviewers see medical jobs once review lands."""
    qs = GenerationJob.objects.select_related("owner")
    if not user.is_authenticated:
        return qs.none()
    if user.role == ADMIN:
        return qs
    return qs.filter(owner=user)


def job_counts_for(*, user) -> dict[str, int]:
    rows = jobs_visible_to(user=user).order_by().values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}
