"""The company pages through Django's test client: list, add, detail, enter a year, import with an error list."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.finance.models import Company
from tests.apps.finance.test_companies_factories import FIXTURES, analyst, company, statement_rows, team

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_add_company_form_and_list(make_user):
    t = team("gamma")
    user = analyst(make_user, t)
    peer = company(user, name="Peer One")
    web = client_for(user)
    page = web.get("/finance/companies/new/")
    assert page.status_code == 200 and b'<label for="id_name">' in page.content
    r = web.post("/finance/companies/new/", {"name": "Form Co", "ticker": "frm", "currency": "USD",
                                              "price_per_share": "3.25", "peers": [peer.pk]})
    created = Company.objects.get(name="Form Co")
    assert r.status_code == 302 and r["Location"] == f"/finance/companies/{created.pk}/"
    assert created.ticker == "FRM" and created.price_per_share == Decimal("3.25") and created.team == t
    listing = web.get("/finance/companies/").content.decode()
    assert "Form Co" in listing and "Peer One" in listing and "gamma" in listing
    # a duplicate name re-renders the form with the error, nothing created
    r = web.post("/finance/companies/new/", {"name": "form co", "currency": "USD"})
    assert r.status_code == 400 and "already has a company named" in r.content.decode()
    assert Company.objects.filter(team=t).count() == 2


def test_no_team_user_gets_a_clear_refusal(make_user):
    web = client_for(analyst(make_user, None))
    r = web.post("/finance/companies/new/", {"name": "Orphan", "currency": "USD"})
    assert r.status_code == 403 and "not in a team" in r.content.decode()
    assert not Company.objects.exists()
    assert "not in a team" in web.get("/finance/companies/").content.decode()
    assert "not in a team" in web.get("/").content.decode()  # the dashboard says so too


def test_enter_a_fiscal_year_by_form(make_user):
    user = analyst(make_user, team())
    c = company(user)
    web = client_for(user)
    page = web.get(f"/finance/companies/{c.pk}/statements/new/").content.decode()
    assert "Income statement" in page and '<label for="id_revenue">Revenue (currency units)</label>' in page
    r = web.post(f"/finance/companies/{c.pk}/statements/new/",
                 {"fiscal_year": "2024", "period_end": "2024-12-31", "revenue": "1,500", "net_income": "-20",
                  "capital_expenditure": "-5", "cash": "lots"})
    assert r.status_code == 400
    text = r.content.decode()
    assert "Capital expenditure (currency units): capital expenditure cannot be negative" in text
    assert "&#x27;lots&#x27; is not a number" in text
    assert statement_rows(c) == {}
    r = web.post(f"/finance/companies/{c.pk}/statements/new/",
                 {"fiscal_year": "2024", "period_end": "2024-12-31", "revenue": "1,500", "net_income": "-20"})
    assert r.status_code == 302
    row = statement_rows(c)[2024]
    assert row["revenue"] == Decimal("1500") and row["net_income"] == Decimal("-20") and row["source"] == "manual"
    detail = web.get(f"/finance/companies/{c.pk}/").content.decode()
    assert "FY2024" in detail and "1,500" in detail


def test_import_page_lists_every_problem_and_imports_a_good_file(make_user):
    user = analyst(make_user, team())
    c = company(user)
    web = client_for(user)
    page = web.get(f"/finance/companies/{c.pk}/import/").content.decode()
    assert 'enctype="multipart/form-data"' in page and '<label for="id_file">' in page
    bad = SimpleUploadedFile("bad.csv", (FIXTURES / "statements_bad.csv").read_bytes())
    r = web.post(f"/finance/companies/{c.pk}/import/", {"file": bad})
    assert r.status_code == 400
    text = r.content.decode()
    assert "7 problems — nothing was saved" in text and "bogus_column" in text and "fiscal year 1850 is out of range" in text
    assert statement_rows(c) == {}
    good = SimpleUploadedFile("good.csv", (FIXTURES / "statements_good.csv").read_bytes())
    r = web.post(f"/finance/companies/{c.pk}/import/", {"file": good}, follow=True)
    assert r.status_code == 200 and "Imported CSV: added 2022, 2023, 2024." in r.content.decode()
    assert sorted(statement_rows(c)) == [2022, 2023, 2024]


def test_pages_of_another_team_are_404(make_user):
    c = company(analyst(make_user, team()))
    web = client_for(analyst(make_user, team()))
    for path in ("", "statements/new/", "import/"):
        assert web.get(f"/finance/companies/{c.pk}/{path}").status_code == 404
    r = web.post(f"/finance/companies/{c.pk}/import/",
                 {"file": SimpleUploadedFile("g.csv", (FIXTURES / "statements_good.csv").read_bytes())})
    assert r.status_code == 404 and statement_rows(c) == {}
    assert c.name not in web.get("/finance/companies/").content.decode()
    assert client_for(make_user("clinician")).get("/finance/companies/").status_code == 403


def test_edit_price_and_peers_by_form(make_user):
    user = analyst(make_user, team())
    c, peer = company(user, name="Edited Co", price_per_share=5), company(user, name="Its Peer")
    web = client_for(user)
    detail = web.get(f"/finance/companies/{c.pk}/").content.decode()
    assert f"/finance/companies/{c.pk}/edit/" in detail
    r = web.post(f"/finance/companies/{c.pk}/edit/", {"ticker": "edt", "price_per_share": "-3"})
    assert r.status_code == 400
    r = web.post(f"/finance/companies/{c.pk}/edit/", {"ticker": "edt", "price_per_share": "", "peers": [peer.pk]})
    assert r.status_code == 302
    c.refresh_from_db()
    assert c.ticker == "EDT" and c.price_per_share is None and list(c.peers.all()) == [peer]


def test_edit_an_existing_year_starts_from_its_values(make_user):
    user = analyst(make_user, team())
    c = company(user)
    web = client_for(user)
    web.post(f"/finance/companies/{c.pk}/statements/new/", {"fiscal_year": "2023", "revenue": "1500.25", "cash": "7"})
    page = web.get(f"/finance/companies/{c.pk}/statements/new/?year=2023").content.decode()
    assert 'name="revenue" value="1500.25"' in page and 'name="cash" value="7"' in page
    r = web.post(f"/finance/companies/{c.pk}/statements/new/", {"fiscal_year": "2023", "revenue": "1600"}, follow=True)
    assert "Replaced fiscal year 2023." in r.content.decode()
    assert statement_rows(c)[2023]["revenue"] == Decimal("1600") and statement_rows(c)[2023]["cash"] is None
