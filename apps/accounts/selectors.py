"""Reads of the accounts app."""
from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import ApiToken, AuditEvent, User
from apps.accounts.services import TOKEN_PREFIX_LEN, token_digest


def api_token_lookup(key: str) -> ApiToken | None:
    """The live token for a plaintext key, or None. Compares digests in constant time."""
    import hmac

    parts = key.split("_", 2)  # the secret part may itself contain "_"
    if len(parts) != 3 or parts[0] != "plb" or len(parts[1]) != TOKEN_PREFIX_LEN:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.digest, token_digest(key)):
        return None
    if not token.is_live:
        return None
    return token


def api_tokens_for(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def audit_events_visible_to(*, user: User) -> QuerySet[AuditEvent]:
    if user.has_perm("accounts.view_auditevent"):
        return AuditEvent.objects.select_related("actor")
    return AuditEvent.objects.filter(actor=user).select_related("actor")


def token_touch(token: ApiToken) -> None:
    """Record use at most once a minute, so a busy client does not write on every request."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
