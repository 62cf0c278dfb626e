"""POST /api/v1/finance/companies/{id}/statements/: file and JSON imports, all-or-nothing, replace, team scoping."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import AuditEvent
from apps.finance.models import FinancialStatement
from tests.apps.finance.test_companies_factories import (
    FIXTURES,
    analyst,
    company,
    statement_rows,
    team,
    token_client,
)

pytestmark = pytest.mark.django_db


def url(c) -> str:
    return f"/api/v1/finance/companies/{c.pk}/statements/"


def upload(name: str, content: bytes):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture
def setup(make_user):
    t = team()
    user = analyst(make_user, t)
    return token_client(user), company(user)


def test_csv_upload_imports_every_row(setup):
    client, c = setup
    r = client.post(url(c), {"file": upload("s.csv", (FIXTURES / "statements_good.csv").read_bytes())},
                    format="multipart")
    assert r.status_code == 201, r.json()
    assert r.json()["created_years"] == [2022, 2023, 2024] and r.json()["replaced_years"] == []
    rows = statement_rows(c)
    assert rows[2023]["net_income"] == Decimal("-20000") and rows[2023]["source"] == "csv"
    assert rows[2024]["capital_expenditure"] is None
    event = AuditEvent.objects.get(action="finance.statements_import", object_id=str(c.pk))
    assert event.detail == {"format": "csv", "created": [2022, 2023, 2024], "replaced": []} and event.via == "api"


def test_bad_csv_is_400_with_every_cell_and_writes_nothing(setup):
    client, c = setup
    client.post(url(c), {"file": upload("s.csv", b"fiscal_year,revenue\n2021,777\n")}, format="multipart")
    before = statement_rows(c)
    r = client.post(url(c), {"file": upload("bad.csv", (FIXTURES / "statements_bad.csv").read_bytes())},
                    format="multipart")
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_import" and len(body["cells"]) == 7
    assert {"row": 3, "column": "revenue", "message": "'abc' is not a number"} in body["cells"]
    assert any("row 5, column fiscal_year" in m for m in body["errors"]["file"])
    assert statement_rows(c) == before  # the good 2022 row of the bad file was not written either
    assert not AuditEvent.objects.filter(action="finance.statements_import", detail__format="csv",
                                         detail__created__contains=[2022]).exists()


def test_a_failing_row_rolls_back_rows_already_written(setup, monkeypatch):
    """The write itself is one transaction: a database error on the 2nd year leaves the 1st unwritten."""
    client, c = setup
    from apps.finance import services

    real = FinancialStatement.objects.update_or_create
    calls = []

    def flaky(*args, **kwargs):
        calls.append(kwargs["fiscal_year"])
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(FinancialStatement.objects, "update_or_create", flaky)
    with pytest.raises(RuntimeError):
        services.statements_import_file(user=client.user, company=c, filename="s.csv",
                                        content=(FIXTURES / "statements_good.csv").read_bytes())
    assert calls == [2022, 2023] and statement_rows(c) == {}


def test_reimport_replaces_the_whole_year(setup):
    client, c = setup
    first = {"periods": [{"fiscal_year": 2023, "revenue": 100, "cash": 50}, {"fiscal_year": 2022, "revenue": 90}]}
    assert client.post(url(c), first, format="json").status_code == 201
    r = client.post(url(c), {"periods": [{"fiscal_year": 2023, "revenue": 120}]}, format="json")
    assert r.status_code == 201 and r.json()["replaced_years"] == [2023] and r.json()["created_years"] == []
    rows = statement_rows(c)
    assert rows[2023]["revenue"] == Decimal("120") and rows[2023]["cash"] is None  # replaced whole
    assert rows[2022]["revenue"] == Decimal("90")  # other years untouched
    assert r.json()["statements"][0]["values"]["revenue"] == 120.0


def test_json_body_errors_are_listed(setup):
    client, c = setup
    r = client.post(url(c), {"periods": [{"fiscal_year": 2023, "revenue": "lots"}, {"fiscal_year": 3000}]},
                    format="json")
    assert r.status_code == 400
    assert {(e["row"], e["column"]) for e in r.json()["cells"]} == {(1, "revenue"), (2, "fiscal_year")}
    assert statement_rows(c) == {}


def test_sec_companyfacts_upload_and_body(setup):
    client, c = setup
    content = (FIXTURES / "sec_companyfacts_sample.json").read_bytes()
    r = client.post(url(c), {"file": upload("CIK0009999001.json", content)}, format="multipart")
    assert r.status_code == 201 and r.json()["format"] == "sec" and r.json()["created_years"] == [2022, 2023]
    assert statement_rows(c)[2023]["net_income"] == Decimal("118000000")
    r = client.post(url(c), json.loads(content), format="json")
    assert r.status_code == 201 and r.json()["replaced_years"] == [2022, 2023]


def test_currency_mismatch_and_not_a_file_of_ours(make_user):
    t = team()
    user = analyst(make_user, t)
    client, c = token_client(user), company(user, currency="EUR")
    r = client.post(url(c), {"file": upload("s.csv", (FIXTURES / "statements_good.csv").read_bytes())},
                    format="multipart")
    assert r.status_code == 400 and {e["column"] for e in r.json()["cells"]} == {"currency"}
    r = client.post(url(c), {"file": upload("report.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")}, format="multipart")
    assert r.status_code == 400 and "not CSV or JSON" in r.json()["cells"][0]["message"]
    r = client.post(url(c), {"file": upload("empty.csv", b"")}, format="multipart")
    assert r.status_code == 400
    r = client.post(url(c), {"file": upload("s.csv", b"fiscal_year,revenue\n2023,1\n"), "colour": "red"},
                    format="multipart")
    assert r.status_code == 400 and "colour" in r.json()["errors"]
    assert statement_rows(c) == {}


def test_other_team_cannot_import_or_read(make_user):
    owner = analyst(make_user, team())
    c = company(owner)
    outsider = token_client(analyst(make_user, team()))
    r = outsider.post(url(c), {"periods": [{"fiscal_year": 2023, "revenue": 1}]}, format="json")
    assert r.status_code == 404
    assert outsider.get(url(c)).status_code == 404
    assert statement_rows(c) == {}
    clinician = token_client(make_user("clinician"))
    assert clinician.post(url(c), {"periods": [{"fiscal_year": 2023, "revenue": 1}]}, format="json").status_code == 403
    admin = token_client(make_user("admin"))  # admins see every team's companies
    assert admin.get(url(c)).status_code == 200


def test_a_json_body_over_djangos_limit_gets_a_clear_answer_and_the_file_route_works(setup, settings):
    client, c = setup
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    content = (FIXTURES / "sec_companyfacts_sample.json").read_bytes()
    assert len(content) > 2000
    r = client.post(url(c), json.loads(content), format="json")
    assert r.status_code == 400 and r.json()["code"] == "invalid_import"
    assert "must be uploaded as a multipart file" in r.json()["cells"][0]["message"]
    assert statement_rows(c) == {}
    r = client.post(url(c), {"file": upload("facts.json", content)}, format="multipart")
    assert r.status_code == 201 and r.json()["created_years"] == [2022, 2023]
