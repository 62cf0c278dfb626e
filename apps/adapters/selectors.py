"""Reads of the adapter registry."""
from __future__ import annotations

from django.db.models import QuerySet

from apps.adapters.models import AdapterActivation, AdapterVersion
from apps.core.domains import Domain


def adapter_versions() -> QuerySet[AdapterVersion]:
    return AdapterVersion.objects.select_related("uploaded_by")


def active_activation(*, domain: str) -> AdapterActivation | None:
    return AdapterActivation.objects.filter(domain=domain).select_related("adapter").first()


def active_adapter(*, domain: str) -> AdapterVersion | None:
    activation = active_activation(domain=domain)
    return activation.adapter if activation else None


def active_adapters() -> dict[str, AdapterVersion | None]:
    return {domain: active_adapter(domain=domain) for domain in Domain.values}


def adapter_by_label(label: str) -> AdapterVersion | None:
    """`name@N` is that version; a bare `name` is its newest evaluated version."""
    name, _, number = label.partition("@")
    qs = AdapterVersion.objects.filter(name=name)
    if number:
        return qs.filter(version=int(number)).first() if number.isdigit() else None
    return qs.filter(eval_status=AdapterVersion.EvalStatus.DONE).order_by("-version").first()
