"""The one helper every app uses to write the audit log."""
from __future__ import annotations

from typing import Any

from django.db import models

from apps.accounts.models import AuditEvent


def _client(request) -> tuple[str | None, str, str]:
    if request is None:
        return None, "", ""
    meta = getattr(request, "META", {})
    ip = meta.get("REMOTE_ADDR") or None
    agent = (meta.get("HTTP_USER_AGENT") or "")[:256]
    via = "api" if request.path.startswith("/api/") else "web"
    return ip, agent, via


def audit_log(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    request=None,
    via: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. `detail` must hold ids and codes only, never free text of patient data."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    ip, agent, request_via = _client(request)
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        ip_address=ip,
        user_agent=agent,
        via=via or request_via or "worker",
        detail=detail or {},
    )
