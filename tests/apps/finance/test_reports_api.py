"""REST API of research reports: 202 with the job, team scoping, bad input named, approve, edit, export."""
import io

import pytest
from pypdf import PdfReader

from apps.accounts.models import AuditEvent
from apps.finance.models import Report
from apps.generation.models import GenerationJob
from tests.apps.finance.test_reports_factories import join, make_company, make_team, write_all_sections

URL = "/api/v1/finance/reports/"


@pytest.fixture
def team_client(api_client_for):
    def make(team):
        client = api_client_for("analyst")
        join(client.user, team)
        return client

    return make


@pytest.fixture
def setup(team_client):
    team_a, team_b = make_team(), make_team()
    a, b = team_client(team_a), team_client(team_b)
    company = make_company(team=team_a, created_by=a.user, name="Acme Fictional Holdings")
    return a, b, company


def test_post_returns_202_with_the_report_and_its_job(setup):
    a, _, company = setup
    resp = a.post(URL, {"company": company.pk, "wacc": 0.1, "terminal_growth": 0.02, "forecast_years": 6},
                  format="json")
    assert resp.status_code == 202, resp.json()
    body = resp.json()
    assert resp["Location"] == body["url"] == f"{URL}{body['id']}/"
    assert body["status"] == "generating" and body["company"]["name"] == "Acme Fictional Holdings"
    assert body["dcf_inputs"] == {"wacc": 0.1, "terminal_growth": 0.02, "forecast_years": 6}
    job = GenerationJob.objects.get(pk=body["job"]["id"])
    assert body["job"]["url"] == f"/api/v1/jobs/{job.pk}/" and job.status == "queued"
    assert [s["kind"] for s in body["sections"]][0] == "rating" and len(body["sections"]) == 7
    assert any(f["key"] == "revenue.2024" for f in body["facts"])
    assert a.get(body["url"]).json()["id"] == body["id"]
    assert [r["id"] for r in a.get(URL).json()["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "company"),
        ({"company": "abc"}, "company"),
        ({"company": 1, "colour": "red"}, "colour"),
        ({"company": 1, "forecast_years": 0}, "forecast_years"),
        ({"company": 1, "wacc": "high"}, "wacc"),
    ],
)
def test_bad_input_is_400_naming_the_field(setup, payload, field):
    a, _, company = setup
    if payload.get("company") == 1:
        payload = {**payload, "company": company.pk}
    resp = a.post(URL, payload, format="json")
    assert resp.status_code == 400, resp.json()
    assert field in resp.json()["errors"]
    assert not Report.objects.exists() and not GenerationJob.objects.exists()


def test_terminal_growth_above_wacc_is_400_naming_it(setup):
    a, _, company = setup
    resp = a.post(URL, {"company": company.pk, "wacc": 0.05, "terminal_growth": 0.06}, format="json")
    assert resp.status_code == 400
    assert "terminal_growth" in resp.json()["errors"] and "below wacc" in resp.json()["detail"]
    assert not Report.objects.exists()


def test_other_team_gets_404_everywhere(setup):
    a, b, company = setup
    assert b.post(URL, {"company": company.pk}, format="json").status_code == 404
    report_id = a.post(URL, {"company": company.pk}, format="json").json()["id"]
    write_all_sections(Report.objects.get(pk=report_id))
    for method, path in [
        ("get", f"{URL}{report_id}/"),
        ("get", f"{URL}{report_id}/export?format=md"),
        ("post", f"{URL}{report_id}/approve/"),
        ("post", f"{URL}{report_id}/sections/summary/"),
        ("post", f"{URL}{report_id}/sections/summary/regenerate/"),
        ("get", f"{URL}{report_id}/sections/summary/versions/"),
        ("post", f"{URL}{report_id}/dcf/"),
    ]:
        resp = getattr(b, method)(path, {"text": "Hijack."} if method == "post" else None, format="json")
        assert resp.status_code == 404, (path, resp.status_code)
    assert b.get(URL).json()["results"] == []
    assert Report.objects.get(pk=report_id).status == "ready"


def test_roles_without_finance_are_refused(setup, api_client_for):
    _, _, company = setup
    clinician = api_client_for("clinician")
    assert clinician.post(URL, {"company": company.pk}, format="json").status_code == 403
    assert clinician.get(URL).status_code == 403


def test_edit_approve_then_frozen_409(setup, team_client):
    a, _, company = setup
    colleague = team_client(company.team)  # four eyes: the author cannot approve
    report_id = a.post(URL, {"company": company.pk}, format="json").json()["id"]
    assert a.post(f"{URL}{report_id}/approve/").status_code == 409  # still generating
    write_all_sections(Report.objects.get(pk=report_id))

    resp = a.post(f"{URL}{report_id}/sections/valuation/", {"text": "Gross margin was 40.0% and 55.5% later."},
                  format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["version"] == 2 and len(resp.json()["flags"]) == 1 and "55.5%" in resp.json()["flags"][0]
    assert a.post(f"{URL}{report_id}/sections/valuation/", {"text": ""}, format="json").status_code == 400
    assert a.post(f"{URL}{report_id}/sections/bogus/", {"text": "x"}, format="json").status_code == 404
    versions = a.get(f"{URL}{report_id}/sections/valuation/versions/").json()["versions"]
    assert [v["number"] for v in versions] == [1, 2] and any(line.startswith("+") for line in versions[1]["diff"])
    detail = a.get(f"{URL}{report_id}/").json()
    assert detail["flag_count"] == 1

    assert a.post(f"{URL}{report_id}/approve/").json()["code"] == "own_report"
    resp = colleague.post(f"{URL}{report_id}/approve/")
    assert resp.status_code == 200 and resp.json()["status"] == "approved"
    assert resp.json()["approved_by"] == colleague.user.username
    for path in (f"{URL}{report_id}/sections/valuation/", f"{URL}{report_id}/sections/valuation/regenerate/"):
        resp = a.post(path, {"text": "Changed."}, format="json")
        assert resp.status_code == 409 and "frozen" in resp.json()["detail"]
    assert len(a.get(f"{URL}{report_id}/sections/valuation/versions/").json()["versions"]) == 2


def test_regenerate_is_202_with_a_new_job(setup):
    a, _, company = setup
    report_id = a.post(URL, {"company": company.pk}, format="json").json()["id"]
    write_all_sections(Report.objects.get(pk=report_id))
    resp = a.post(f"{URL}{report_id}/sections/risks/regenerate/")
    assert resp.status_code == 202 and resp.json()["status"] == "generating"
    assert GenerationJob.objects.count() == 2 and resp.json()["job"]["status"] == "queued"
    busy = a.post(f"{URL}{report_id}/sections/summary/regenerate/")
    assert busy.status_code == 409 and "still generating" in busy.json()["detail"]
    fixed = a.post(f"{URL}{report_id}/sections/disclosure/regenerate/")
    assert fixed.status_code == 400 and "fixed text" in fixed.json()["detail"]
    assert GenerationJob.objects.count() == 2


def test_export_markdown_and_pdf(setup):
    a, _, company = setup
    report_id = a.post(URL, {"company": company.pk}, format="json").json()["id"]
    assert a.get(f"{URL}{report_id}/export?format=pdf").status_code == 409  # not written yet
    write_all_sections(Report.objects.get(pk=report_id), {"summary": "Gross margin was 47.0% in 2024."})

    md = a.get(f"{URL}{report_id}/export?format=md")
    assert md.status_code == 200 and md["Content-Type"].startswith("text/markdown")
    assert "attachment" in md["Content-Disposition"] and md["Content-Disposition"].endswith('.md"')
    text = md.content.decode()
    assert "Acme Fictional Holdings" in text and "smollm2" in text.lower()
    assert "unverified" in text and "47.0%" in text  # the flagged number is marked in the export
    assert "revenue.2024" in text  # the facts it was made from

    pdf = a.get(f"{URL}{report_id}/export?format=pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content[:5] == b"%PDF-"
    reader = PdfReader(io.BytesIO(pdf.content))
    body = "\n".join(page.extract_text() for page in reader.pages)
    assert "Acme Fictional Holdings" in body

    assert a.get(f"{URL}{report_id}/export/?format=md").status_code == 200  # trailing slash too
    bad = a.get(f"{URL}{report_id}/export?format=docx")
    assert bad.status_code == 400 and "format" in bad.json()["errors"]
    assert AuditEvent.objects.filter(action="finance_report.export", object_id=str(report_id)).count() == 3


def test_dcf_inputs_can_be_changed_until_approval(setup, team_client):
    a, _, company = setup
    report_id = a.post(URL, {"company": company.pk}, format="json").json()["id"]
    write_all_sections(Report.objects.get(pk=report_id))
    bad = a.post(f"{URL}{report_id}/dcf/", {"wacc": 0.1, "terminal_growth": 0.02}, format="json")
    assert bad.status_code == 400 and "forecast_years" in bad.json()["errors"]
    resp = a.post(f"{URL}{report_id}/dcf/", {"wacc": 0.11, "terminal_growth": 0.02, "forecast_years": 7},
                  format="json")
    assert resp.status_code == 200
    assert resp.json()["dcf_inputs"] == {"wacc": 0.11, "terminal_growth": 0.02, "forecast_years": 7}
    assert next(f for f in resp.json()["facts"] if f["key"] == "dcf.wacc")["value"] == 0.11
    assert "facts" not in a.get(f"{URL}{report_id}/?facts=0").json()
    assert team_client(company.team).post(f"{URL}{report_id}/approve/").status_code == 200
    frozen = a.post(f"{URL}{report_id}/dcf/", {"wacc": 0.1, "terminal_growth": 0.02, "forecast_years": 5},
                    format="json")
    assert frozen.status_code == 409 and "frozen" in frozen.json()["detail"]
