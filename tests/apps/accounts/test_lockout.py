"""Login lockout (django-axes): five wrong passwords lock that username at that address for the cool-off, even
against the right password; the lockout is audited and ends after the cool-off."""
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client

from apps.accounts.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


def log_in(client: Client, username: str, password: str, ip: str = "10.9.8.7", path: str = "/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def lock_out(client: Client, username: str, ip: str = "10.9.8.7"):
    for attempt in range(4):
        resp = log_in(client, username, f"wrong-{attempt}", ip)
        assert resp.status_code == 200 and b"didn't match" in resp.content
    return log_in(client, username, "wrong-4", ip)


def test_five_failures_lock_out_even_the_right_password_until_the_cooloff_ends(make_user):
    user = make_user("analyst")
    client = Client()
    fifth = lock_out(client, user.username)
    assert fifth.status_code == 429
    assert b"Too many failed log-ins" in fifth.content and b"15 minutes" in fifth.content
    assert fifth["Retry-After"] == str(15 * 60)

    right = log_in(client, user.username, PASSWORD)
    assert right.status_code == 429 and not logged_in(client)
    events = AuditEvent.objects.filter(action="auth.lockout")
    assert [(e.object_id, e.ip_address, e.detail["failures"]) for e in events] == [(str(user.pk), "10.9.8.7", 5)]

    # The cool-off passes: the failures are 16 minutes old.
    from axes.models import AccessAttempt

    assert AccessAttempt.objects.filter(username=user.username).update(
        attempt_time=F("attempt_time") - timedelta(minutes=16)) == 1
    after = log_in(client, user.username, PASSWORD)
    assert after.status_code == 302 and logged_in(client)
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 1  # the retry during lockout added none


def test_the_lockout_holds_only_that_username_at_that_address(make_user):
    victim, colleague = make_user("clinician"), make_user("clinician")
    assert lock_out(Client(), victim.username, ip="10.0.0.66").status_code == 429
    # The owner, from their own address, still logs in: an attacker cannot lock anyone out from elsewhere.
    owner = Client()
    assert log_in(owner, victim.username, PASSWORD, ip="10.0.0.1").status_code == 302 and logged_in(owner)
    # Another user at the attacker's address (one office behind a NAT) still logs in.
    other = Client()
    assert log_in(other, colleague.username, PASSWORD, ip="10.0.0.66").status_code == 302 and logged_in(other)


def test_the_admin_login_shares_the_lockout(make_user):
    admin = make_user("admin")
    assert lock_out(Client(), admin.username).status_code == 429
    client = Client()
    resp = log_in(client, admin.username, PASSWORD, path="/admin/login/")
    assert resp.status_code == 429 and not logged_in(client)
