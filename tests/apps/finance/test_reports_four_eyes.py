"""Four-eyes approval of research reports: whoever wrote a report (started it, or edited a section's text)
cannot approve it; another analyst of the team can. A refused approval changes nothing and is audited."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import AuditEvent
from apps.core.exceptions import ApplicationError
from apps.finance.models import Report
from apps.finance.reports import services
from tests.apps.finance.test_reports_factories import (
    analyst_in_team,
    make_company,
    make_team,
    write_all_sections,
)

URL = "/api/v1/finance/reports/"


@pytest.fixture
def team_of_two(make_user):
    team = make_team()
    author, colleague = analyst_in_team(make_user, team), analyst_in_team(make_user, team)
    company = make_company(team=team, created_by=author)
    report, _ = services.report_create(owner=author, company=company)
    write_all_sections(report)
    report.refresh_from_db()
    return author, colleague, report


def _refusals(report):
    return AuditEvent.objects.filter(action="finance_report.approve_refused", object_id=str(report.pk))


def test_the_author_cannot_approve_their_own_report_and_the_refusal_is_audited(team_of_two):
    author, colleague, report = team_of_two
    with pytest.raises(ApplicationError) as err:
        services.report_approve(report=report, actor=author)
    assert (err.value.status, err.value.code) == (403, "own_report")
    assert "another analyst" in err.value.message
    report.refresh_from_db()
    assert report.status == "ready" and report.approved_by is None and report.approved_at is None
    (event,) = _refusals(report)
    assert event.actor == author and event.detail == {"code": "own_report"}
    assert not AuditEvent.objects.filter(action="finance_report.approve", object_id=str(report.pk)).exists()

    approved = services.report_approve(report=report, actor=colleague)
    assert approved.status == "approved" and approved.approved_by == colleague
    assert AuditEvent.objects.filter(action="finance_report.approve", object_id=str(report.pk),
                                     actor=colleague).count() == 1


def test_an_editor_of_the_text_is_an_author_too(team_of_two, make_user):
    author, colleague, report = team_of_two
    services.report_section_edit(report=report, kind="summary", text="Revenue grew.", actor=colleague)
    with pytest.raises(ApplicationError) as err:
        services.report_approve(report=report, actor=colleague)
    assert err.value.code == "own_report"
    third = analyst_in_team(make_user, report.team)
    assert services.report_approve(report=report, actor=third).approved_by == third


def test_other_refusals_are_audited_with_their_code(team_of_two):
    author, colleague, report = team_of_two
    services.report_approve(report=report, actor=colleague)
    with pytest.raises(ApplicationError) as err:
        services.report_approve(report=report, actor=colleague)
    assert err.value.code == "frozen"
    assert [e.detail for e in _refusals(report)] == [{"code": "frozen"}]


def test_api_refuses_the_author_with_403_and_the_error_shape(team_of_two):
    from rest_framework.test import APIClient

    author, colleague, report = team_of_two
    api = APIClient()
    api.force_authenticate(author)
    resp = api.post(f"{URL}{report.pk}/approve/")
    assert resp.status_code == 403
    assert resp.json()["code"] == "own_report" and "another analyst" in resp.json()["detail"]
    assert Report.objects.get(pk=report.pk).status == "ready"
    assert _refusals(report).get().via == "api"
    api.force_authenticate(colleague)
    resp = api.post(f"{URL}{report.pk}/approve/")
    assert resp.status_code == 200 and resp.json()["approved_by"] == colleague.username


def test_page_offers_approval_to_a_colleague_only(team_of_two):
    author, colleague, report = team_of_two
    web = Client()
    web.force_login(author)
    page = web.get(f"/finance/reports/{report.pk}/").content.decode()
    assert 'data-testid="approve"' not in page and 'data-testid="approve-own"' in page
    assert "another analyst" in page
    resp = web.post(f"/finance/reports/{report.pk}/approve/", follow=True)  # a forged post is refused too
    assert resp.status_code == 200 and "another analyst" in resp.content.decode()
    assert Report.objects.get(pk=report.pk).status == "ready"
    assert _refusals(report).get().via == "web"
    web.force_login(colleague)
    page = web.get(f"/finance/reports/{report.pk}/").content.decode()
    assert 'data-testid="approve"' in page and 'data-testid="approve-own"' not in page
    web.post(f"/finance/reports/{report.pk}/approve/")
    assert Report.objects.get(pk=report.pk).approved_by == colleague
