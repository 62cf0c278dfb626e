"""Limits on API tokens: a token cannot mint tokens; a password change or a deactivation ends every live token of
the user (whichever path made it, audited); a clash of the public prefix draws a new key instead of a 500."""
from datetime import timedelta

import pytest
from django.contrib.auth.management.commands import changepassword
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken, AuditEvent
from apps.accounts.services import api_token_create

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-passphrase-42"


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_cannot_create_tokens_but_a_session_can(make_user):
    user = make_user("analyst")
    key = api_token_create(user=user, name="integration")
    resp = token_client(key).post("/api/v1/auth/tokens/", {"name": "minted"}, format="json")
    assert resp.status_code == 403
    assert resp.json()["code"] == "session_required" and "cannot create API tokens" in resp.json()["detail"]
    assert list(ApiToken.objects.filter(user=user).values_list("name", flat=True)) == ["integration"]
    # The token still reads its own list; a signed-in session creates.
    assert token_client(key).get("/api/v1/auth/tokens/").status_code == 200
    session = APIClient()
    session.force_login(user)
    assert session.post("/api/v1/auth/tokens/", {"name": "minted"}, format="json").status_code == 201


def live_tokens(user) -> tuple[list[str], ApiToken]:
    """Two live tokens, and an expired one that must stay as it is."""
    keys = [api_token_create(user=user, name=n) for n in ("one", "two")]
    expired = ApiToken.objects.get(prefix=api_token_create(user=user, name="old").split("_")[1])
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    for key in keys:
        assert token_client(key).get("/api/v1/jobs/").status_code == 200
    return keys, expired


def assert_all_revoked(user, keys, expired, reason: str) -> None:
    for key in keys:
        assert token_client(key).get("/api/v1/jobs/").status_code == 401
    assert not ApiToken.objects.filter(user=user, revoked_at__isnull=True).exclude(pk=expired.pk).exists()
    assert ApiToken.objects.get(pk=expired.pk).revoked_at is None
    event = AuditEvent.objects.get(action="api_token.revoke_all", object_id=str(user.pk))
    assert event.detail["reason"] == reason and len(event.detail["tokens"]) == 2


def test_set_password_revokes_live_tokens(make_user):
    user = make_user("analyst")
    keys, expired = live_tokens(user)
    user.set_password(NEW_PASSWORD)
    user.save()
    assert_all_revoked(user, keys, expired, "password_change")


def test_the_password_change_forms_revoke_live_tokens(make_user):
    """Django's password forms (the change-password page's, the admin's set-password form) save through
    set_password, like every other path."""
    from django.contrib.auth.forms import AdminPasswordChangeForm, PasswordChangeForm

    user = make_user("clinician")
    keys, expired = live_tokens(user)
    form = PasswordChangeForm(user, {"old_password": "a-long-test-password", "new_password1": NEW_PASSWORD,
                                     "new_password2": NEW_PASSWORD})
    assert form.is_valid(), form.errors
    form.save()
    assert_all_revoked(user, keys, expired, "password_change")

    other = make_user("analyst")
    keys, expired = live_tokens(other)
    form = AdminPasswordChangeForm(other, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
                                           "usable_password": "true"})
    assert form.is_valid(), form.errors
    form.save()
    assert_all_revoked(other, keys, expired, "password_change")


def test_manage_py_changepassword_revokes_live_tokens(make_user, monkeypatch):
    user = make_user("reviewer")
    keys, expired = live_tokens(user)
    # The command reads the new password twice from the terminal; this is the terminal.
    monkeypatch.setattr(changepassword.Command, "_get_pass", lambda self, prompt="": NEW_PASSWORD)
    call_command("changepassword", user.username)
    assert_all_revoked(user, keys, expired, "password_change")


def test_deactivation_revokes_live_tokens_and_other_saves_do_not(make_user):
    user = make_user("analyst")
    keys, expired = live_tokens(user)
    user.first_name = "Renamed"
    user.save()  # neither password nor is_active changed
    assert token_client(keys[0]).get("/api/v1/jobs/").status_code == 200
    user.is_active = False
    user.save()
    assert_all_revoked(user, keys, expired, "deactivation")


def test_a_prefix_clash_draws_a_new_key(make_user, monkeypatch):
    from apps.accounts import services

    user = make_user("analyst")
    first = api_token_create(user=user, name="first")
    taken = first.split("_")[1]
    real = services.secrets.token_hex
    draws = iter([taken, "0badc0de"])
    # The next prefix drawn is the one already taken, then a free one; the clash is PostgreSQL's unique index.
    monkeypatch.setattr(services.secrets, "token_hex", lambda n=None: next(draws, None) or real(n))
    session = APIClient()
    session.force_login(user)
    resp = session.post("/api/v1/auth/tokens/", {"name": "second"}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["prefix"] == "0badc0de"
    assert token_client(resp.json()["key"]).get("/api/v1/jobs/").status_code == 200
    assert token_client(first).get("/api/v1/jobs/").status_code == 200
    assert AuditEvent.objects.filter(action="api_token.create", actor=user).count() == 2
