"""GET/POST /api/v1/finance/companies/ and GET /api/v1/finance/companies/{id}/ across two teams."""
from __future__ import annotations

import pytest

from apps.accounts.models import AuditEvent
from apps.finance.models import Company
from tests.apps.finance.test_companies_factories import analyst, company, team, token_client

pytestmark = pytest.mark.django_db
LIST = "/api/v1/finance/companies/"


def test_create_company_in_own_team_with_peers_and_audit(make_user):
    t = team("alpha")
    user = analyst(make_user, t)
    client = token_client(user)
    peer = company(user, name="Peer Co")
    r = client.post(LIST, {"name": "Fictional Widgets", "ticker": "fwid", "currency": "eur", "price_per_share": "12.5",
                           "fictional": True, "peers": [peer.pk]}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["team"] == "alpha" and body["ticker"] == "FWID" and body["currency"] == "EUR"
    assert body["price_per_share"] == 12.5 and body["peers"] == [{"id": peer.pk, "name": "Peer Co"}]
    created = Company.objects.get(pk=body["id"])
    assert created.team == t and created.created_by == user
    assert list(peer.peers.all()) == [created]  # peers are symmetrical
    event = AuditEvent.objects.get(action="finance.company_create", object_id=str(created.pk))
    assert event.actor == user and event.detail["peers"] == [peer.pk]


def test_user_without_team_cannot_create(make_user):
    client = token_client(analyst(make_user, None))
    r = client.post(LIST, {"name": "Orphan Co"}, format="json")
    assert r.status_code == 403 and r.json()["code"] == "no_team" and "not in a team" in r.json()["detail"]
    assert not Company.objects.exists()
    assert client.get(LIST).json()["results"] == []


@pytest.mark.parametrize("payload,field,code", [
    ({"name": ""}, "name", 400),
    ({"name": "X", "currency": "E1R"}, "currency", 400),
    ({"name": "X", "colour": "red"}, "colour", 400),
    ({"name": "X", "price_per_share": "-1"}, "price_per_share", 400),
    ({"name": "X", "peers": [999999]}, "peers", 400),
    ({"name": "Taken Co"}, "name", 409),
])
def test_create_refusals_name_the_field(make_user, payload, field, code):
    user = analyst(make_user, team())
    company(user, name="Taken Co")
    r = token_client(user).post(LIST, payload, format="json")
    assert r.status_code == code and field in r.json()["errors"], r.json()
    assert Company.objects.count() == 1


def test_peer_from_another_team_is_refused(make_user):
    other = company(analyst(make_user, team()), name="Elsewhere")
    r = token_client(analyst(make_user, team())).post(LIST, {"name": "Mine", "peers": [other.pk]}, format="json")
    assert r.status_code == 400 and "peers" in r.json()["errors"]
    assert not Company.objects.filter(name="Mine").exists()


def test_list_and_detail_are_team_scoped(make_user):
    a, b = team(), team()
    ua, ub = analyst(make_user, a), analyst(make_user, b)
    ca, cb = company(ua, name="A Co"), company(ub, name="B Co")
    client_a = token_client(ua)
    assert [c["name"] for c in client_a.get(LIST).json()["results"]] == ["A Co"]
    assert client_a.get(f"{LIST}{ca.pk}/").status_code == 200
    assert client_a.get(f"{LIST}{cb.pk}/").status_code == 404
    assert client_a.get(f"{LIST}999999/").status_code == 404
    admin = token_client(make_user("admin"))
    assert {c["name"] for c in admin.get(LIST).json()["results"]} == {"A Co", "B Co"}


def test_detail_lists_statements(make_user):
    user = analyst(make_user, team())
    c = company(user)
    client = token_client(user)
    client.post(f"{LIST}{c.pk}/statements/", {"periods": [{"fiscal_year": 2024, "revenue": 10, "period_end": "2024-12-31"}]},
                format="json")
    body = client.get(f"{LIST}{c.pk}/").json()
    assert body["fiscal_years"] == [2024]
    assert body["statements"][0]["values"]["revenue"] == 10.0 and body["statements"][0]["values"]["cash"] is None
    assert body["statements"][0]["period_end"] == "2024-12-31"


def test_roles_without_finance_permissions_are_refused(make_user):
    for role in ("clinician", "reviewer"):
        client = token_client(make_user(role))
        assert client.get(LIST).status_code == 403
        assert client.post(LIST, {"name": "X"}, format="json").status_code == 403
    assert not Company.objects.exists()


def test_patch_price_and_peers(make_user):
    t = team()
    user = analyst(make_user, t)
    c, p1, p2 = company(user, name="Main"), company(user, name="P1"), company(user, name="P2")
    client = token_client(user)
    r = client.patch(f"{LIST}{c.pk}/", {"price_per_share": "17.5", "peers": [p1.pk, p2.pk]}, format="json")
    assert r.status_code == 200 and r.json()["price_per_share"] == 17.5
    assert [p["name"] for p in r.json()["peers"]] == ["P1", "P2"]
    event = AuditEvent.objects.get(action="finance.company_update", object_id=str(c.pk))
    assert event.detail == {"fields": ["price_per_share", "peers"]}
    r = client.patch(f"{LIST}{c.pk}/", {"price_per_share": None, "peers": [c.pk]}, format="json")
    assert r.status_code == 400 and "own peer" in r.json()["detail"]
    c.refresh_from_db()
    assert c.price_per_share == 17.5  # the refused change left everything as it was
    assert client.patch(f"{LIST}{c.pk}/", {"name": "Renamed"}, format="json").status_code == 400
    outsider = token_client(analyst(make_user, team()))
    assert outsider.patch(f"{LIST}{c.pk}/", {"price_per_share": "1"}, format="json").status_code == 404
    c.refresh_from_db()
    assert c.price_per_share == 17.5 and c.name == "Main"


def test_openapi_schema_lists_the_company_endpoints(client):
    text = client.get("/api/schema/").content.decode()
    for path in ("/api/v1/finance/companies/:", "/api/v1/finance/companies/{company_id}/:",
                 "/api/v1/finance/companies/{company_id}/statements/:"):
        assert path in text
    assert "created_years" in text and "replaced_years" in text  # the import answer is described
