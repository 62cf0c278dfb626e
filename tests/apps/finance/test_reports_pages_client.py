"""Report pages through Django's test client: team scoping, form errors, approve and export by page."""
import pytest
from django.test import Client

from apps.finance.models import Report
from tests.apps.finance.test_reports_factories import (
    analyst_in_team,
    make_company,
    make_team,
    write_all_sections,
)


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_teams(make_user):
    a = analyst_in_team(make_user, make_team())
    b = analyst_in_team(make_user, make_team())
    return a, b, make_company(team=a.team, created_by=a, name="Quillfeather Fictional Paper")


def test_new_report_form_starts_a_report_and_names_bad_inputs(two_teams):
    a, b, company = two_teams
    web = _web(a)
    form = web.get(f"/finance/reports/new/?company={company.pk}").content.decode()
    assert "Quillfeather Fictional Paper" in form and 'name="wacc"' in form
    bad = web.post("/finance/reports/new/", {"company": company.pk, "wacc": "0.03", "terminal_growth": "0.04",
                                             "forecast_years": "5"})
    assert bad.status_code == 400 and "must be below wacc" in bad.content.decode()
    assert not Report.objects.exists()
    # another team's company is not a choice
    other = _web(b).post("/finance/reports/new/", {"company": company.pk, "wacc": "0.09",
                                                   "terminal_growth": "0.02", "forecast_years": "5"})
    assert other.status_code == 400 and not Report.objects.exists()
    ok = web.post("/finance/reports/new/", {"company": company.pk, "wacc": "0.09", "terminal_growth": "0.02",
                                            "forecast_years": "5"})
    report = Report.objects.get()
    assert ok.status_code == 302 and ok["Location"] == f"/finance/reports/{report.pk}/"
    page = web.get(ok["Location"]).content.decode()
    assert "generating" in page and "report_live.js" in page


def test_pages_of_another_team_are_404_and_frozen_report_refuses_edits(two_teams, make_user):
    a, b, company = two_teams
    web, other = _web(a), _web(b)
    from apps.finance.reports import services

    report, _ = services.report_create(owner=a, company=company)
    write_all_sections(report, {"summary": "Gross margin was 47.0% in FY2024. Headcount reached 5,400."})
    base = f"/finance/reports/{report.pk}/"
    for path in ("", "sections/summary/", "sections/summary/edit/", "export/pdf/"):
        assert other.get(base + path).status_code == 404, path
    assert other.post(base + "approve/").status_code == 404
    assert "Quillfeather" not in other.get("/finance/reports/").content.decode()

    page = web.get(base).content.decode()
    assert '<mark class="unverified"' in page and "47.0%" in page
    # a number of no metric the facts know is "could not check", marked apart and not a flag
    assert '<mark class="unchecked"' in page and "1 number could not be checked" in page
    assert page.count('<li class="error">') == 1
    assert page.count('src="data:image/svg+xml;base64,') == 2  # revenue/margins and the DCF sensitivity
    assert web.post(base + "sections/summary/edit/", {"text": ""}).status_code == 400
    md = web.get(base + "export/md/")
    assert md.status_code == 200 and "Quillfeather Fictional Paper" in md.content.decode()
    colleague = analyst_in_team(make_user, a.team)  # four eyes: the author cannot approve
    assert _web(colleague).post(base + "approve/", follow=True).status_code == 200
    report.refresh_from_db()
    assert report.status == "approved"
    resp = web.post(base + "sections/summary/edit/", {"text": "Changed."})
    assert resp.status_code == 400 and "frozen" in resp.content.decode()
    assert report.sections.get(kind="summary").versions.count() == 1
