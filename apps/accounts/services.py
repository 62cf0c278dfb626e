"""Writes of the accounts app: users, API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.accounts.models import ApiToken, Team, User
from apps.accounts.roles import ADMIN, ROLES, roles_sync
from apps.core.exceptions import ApplicationError

TOKEN_PREFIX_LEN = 8
TOKEN_PREFIX_ATTEMPTS = 5  # draws of a fresh prefix before giving up (a clash is 1 in 2**32 per live token)


def token_digest(key: str) -> str:
    # The key carries 256 random bits, so an unsalted SHA-256 cannot be brute-forced back.
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def user_create(*, username: str, password: str, role: str, email: str = "", validate: bool = False) -> User:
    """Create a user holding exactly one role."""
    if role not in ROLES:
        raise ApplicationError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}", field="role")
    if User.objects.filter(username=username).exists():
        raise ApplicationError(f"user {username!r} already exists", field="username", status=409)
    user = User(username=username, email=email, is_staff=(role == ADMIN))
    if validate:
        validate_password(password, user)
    user.set_password(password)
    user.save()
    group = Group.objects.filter(name=role).first()
    if group is None:
        roles_sync()
        group = Group.objects.get(name=role)
    user.groups.add(group)
    audit_log(actor=None, action="user.create", obj=user, via="cli", detail={"role": role})
    return user


@transaction.atomic
def api_token_create(*, user: User, name: str, ttl_days: int | None = None, request=None) -> str:
    """Create a named token for an integration client and return its plaintext key (shown once)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApplicationError("name must be 1 to 100 characters", field="name")
    if ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True).exists():
        raise ApplicationError(f"a live token named {name!r} already exists", field="name", status=409)
    ttl = ttl_days if ttl_days is not None else settings.PLUMBLINE_API_TOKEN_TTL_DAYS
    if not 1 <= ttl <= 366:
        raise ApplicationError("ttl_days must be between 1 and 366", field="ttl_days")
    expires_at = timezone.now() + timedelta(days=ttl)
    # The prefix is the public, unique look-up part of the key: 32 random bits, so two tokens can draw the same
    # one. The database's unique constraint is the judge; a clash draws a new key in a savepoint and tries again.
    for _attempt in range(TOKEN_PREFIX_ATTEMPTS):
        prefix = secrets.token_hex(TOKEN_PREFIX_LEN // 2)
        key = f"plb_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user, name=name, prefix=prefix, digest=token_digest(key), expires_at=expires_at
                )
            break
        except IntegrityError:
            if not ApiToken.objects.filter(prefix=prefix).exists():
                # Not the prefix: a concurrent request made a live token of this name first.
                raise ApplicationError(
                    f"a live token named {name!r} already exists", field="name", status=409
                ) from None
    else:
        raise ApplicationError("could not draw an unused token prefix; try again", status=503, code="unavailable")
    audit_log(actor=user, action="api_token.create", obj=token, request=request)
    return key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User, request=None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_log(actor=actor, action="api_token.revoke", obj=token, request=request)
    return token


@transaction.atomic
def api_tokens_revoke_all(*, user: User, reason: str, actor=None, request=None) -> list[int]:
    """Revoke every live token of `user` (its password changed, or it was deactivated). Audited once, with the
    token ids and the reason; returns those ids."""
    now = timezone.now()
    live = list(
        ApiToken.objects.select_for_update()
        .filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
        .values_list("id", flat=True)
    )
    if live:
        ApiToken.objects.filter(pk__in=live).update(revoked_at=now)
        audit_log(actor=actor, action="api_token.revoke_all", obj=user, request=request,
                  via=None if request else "system", detail={"reason": reason, "tokens": live})
    return live


# --- teams (analysts see only their team's finance data) ---------------------------------------------
@transaction.atomic
def team_get_or_create(*, name: str) -> Team:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApplicationError("team name must be 1 to 100 characters", field="name")
    team, _ = Team.objects.get_or_create(name=name)
    return team


@transaction.atomic
def user_set_team(*, user, team: Team | None, actor=None, request=None) -> None:
    """Put the user in the team (None: in no team). Audited."""
    before = user.team_id
    user.team = team
    user.save(update_fields=["team"])
    if before != user.team_id:
        audit_log(actor=actor, action="user.set_team", obj=user, request=request,
                  detail={"from_team": before, "to_team": user.team_id})
