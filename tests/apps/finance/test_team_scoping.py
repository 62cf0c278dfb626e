"""Teams: selectors see only the user's team (admins all), analytics inputs from stored rows, admin sets a team."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import AuditEvent, User
from apps.finance import selectors, services
from tests.apps.finance.test_companies_factories import analyst, company, team

pytestmark = pytest.mark.django_db


def test_companies_for_user_by_team(make_user):
    a, b = team(), team()
    ua, ub, nobody = analyst(make_user, a), analyst(make_user, b), analyst(make_user, None)
    ca, cb = company(ua), company(ub)
    assert list(selectors.companies_for_user(ua)) == [ca]
    assert list(selectors.companies_for_user(ub)) == [cb]
    assert list(selectors.companies_for_user(nobody)) == []
    assert set(selectors.companies_for_user(make_user("admin"))) == {ca, cb}
    from django.http import Http404

    with pytest.raises(Http404):
        selectors.company_for_user(ua, cb.pk)
    # moving a user to another team moves what they see
    services.user_set_team(user=ua, team=b, actor=None)
    assert list(selectors.companies_for_user(ua)) == [cb]


def test_periods_and_peers_for_the_analytics(make_user):
    from apps.finance.analytics import FinancialPeriod, Peer, compute_facts

    user = analyst(make_user, team())
    c = company(user, price_per_share=20)
    p1 = company(user, name="Peer Priced", price_per_share=10)
    p2 = company(user, name="Peer Unpriced")  # no price: cannot give multiples
    p3 = company(user, name="Peer Euro", currency="EUR", price_per_share=5)  # other currency: left out
    services.company_set_peers(user=user, company=c, peers=[p1, p2, p3])
    services.statements_import_data(user=user, company=c, data={"periods": [
        {"fiscal_year": 2024, "revenue": 1200, "net_income": 120, "shares_diluted": 10},
        {"fiscal_year": 2023, "revenue": 1000, "net_income": -5, "shares_diluted": 10},
    ]})
    for peer in (p1, p2):
        services.statements_import_data(user=user, company=peer, data={"periods": [
            {"fiscal_year": 2023, "revenue": 50, "net_income": 4, "shares_diluted": 2},
            {"fiscal_year": 2024, "revenue": 60, "net_income": 5, "shares_diluted": 2},
        ]})
    services.statements_import_data(user=user, company=p3, data={"periods": [{"fiscal_year": 2024, "revenue": 1}]})
    periods = selectors.periods_for_company(c)
    assert [p.fiscal_year for p in periods] == [2023, 2024] and all(isinstance(p, FinancialPeriod) for p in periods)
    assert periods[1].get("revenue") == 1200.0 and periods[0].get("net_income") == -5.0
    assert periods[1].get("cash") is None and periods[1].currency == "USD"
    peers = selectors.peers_for_company(c)
    assert [(p.name, p.price_per_share, p.period.fiscal_year) for p in peers] == [("Peer Priced", 10.0, 2024)]
    assert isinstance(peers[0], Peer) and peers[0].period.get("net_income") == 5.0
    facts = compute_facts(periods, price_per_share=20.0, peers=peers)
    assert facts.get("revenue.2024").value == 1200.0
    assert abs(facts.get("revenue_growth_yoy.2024").value - 0.2) < 1e-9


def test_admin_sets_a_team_in_the_admin_site_and_it_is_audited(make_user):
    t = team("delta")
    admin = make_user("admin")
    target = analyst(make_user, None)
    web = Client()
    web.force_login(admin)
    page = web.get(f"/admin/accounts/user/{target.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="team"' in text and 'name="is_superuser"' not in text and 'name="groups"' not in text
    r = web.post(f"/admin/accounts/user/{target.pk}/change/", {"team": t.pk, "_save": "Save"})
    assert r.status_code == 302, r.content.decode()[:2000]
    target.refresh_from_db()
    assert target.team == t and not target.is_superuser
    event = AuditEvent.objects.get(action="user.set_team", object_id=str(target.pk))
    assert event.actor == admin and event.detail == {"from_team": None, "to_team": t.pk}
    # analysts cannot reach it
    web.force_login(analyst(make_user, t))
    assert web.get(f"/admin/accounts/user/{target.pk}/change/").status_code == 302  # to the admin login
    assert User.objects.get(pk=target.pk).team == t


def test_admin_dashboard_links_to_users_and_teams(make_user):
    web = Client()
    web.force_login(make_user("admin"))
    assert 'href="/admin/accounts/user/"' in web.get("/").content.decode()
    assert web.get("/admin/accounts/user/").status_code == 200
    assert web.get("/admin/accounts/team/add/").status_code == 200
