"""API tokens: hashed at rest, named per client, revocable, expiring."""
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken, AuditEvent
from apps.accounts.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_token_is_stored_hashed_and_authenticates(make_user):
    user = make_user("analyst")
    key = api_token_create(user=user, name="ci-integration")
    token = ApiToken.objects.get(user=user)
    assert key not in {token.digest, token.prefix}
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    assert token.name == "ci-integration"
    resp = token_client(key).get("/api/v1/jobs/")
    assert resp.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_wrong_revoked_and_expired_tokens_are_refused(make_user):
    user = make_user("analyst")
    key = api_token_create(user=user, name="a")
    prefix = key.split("_")[1]
    assert token_client(key[:-2] + "xx").get("/api/v1/jobs/").status_code == 401
    token = ApiToken.objects.get(prefix=prefix)
    api_token_revoke(token=token, actor=user)
    resp = token_client(key).get("/api/v1/jobs/")
    assert resp.status_code == 401
    assert "revoked" in resp.json()["detail"]

    key2 = api_token_create(user=user, name="b")
    ApiToken.objects.filter(prefix=key2.split("_")[1]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert token_client(key2).get("/api/v1/jobs/").status_code == 401


def test_token_api_creates_lists_and_revokes_own_tokens_only(api_client_for):
    alice, bob = api_client_for("analyst"), api_client_for("clinician")
    alice_session = APIClient()  # tokens are created with a session only (test_token_limits.py)
    alice_session.force_login(alice.user)
    created = alice_session.post("/api/v1/auth/tokens/", {"name": "reporting-bot"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("plb_") and body["name"] == "reporting-bot"
    listed = alice.get("/api/v1/auth/tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"tests", "reporting-bot"}
    assert all("key" not in t and "digest" not in t for t in listed)
    # Bob can neither see nor revoke Alice's token.
    assert {t["name"] for t in bob.get("/api/v1/auth/tokens/").json()["results"]} == {"tests"}
    assert bob.post(f"/api/v1/auth/tokens/{body['id']}/revoke/").status_code == 404
    revoked = alice.post(f"/api/v1/auth/tokens/{body['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["is_live"] is False
    assert token_client(body["key"]).get("/api/v1/jobs/").status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoke", object_id=str(body["id"])).count() == 1


def test_duplicate_live_token_name_is_a_conflict(api_client_for):
    client = APIClient()
    client.force_login(api_client_for("analyst").user)
    resp = client.post("/api/v1/auth/tokens/", {"name": "tests"}, format="json")
    assert resp.status_code == 409
    assert "name" in resp.json()["errors"]
