"""Pages across apps (Django test client): truthful dashboards, paginated lists, 404/500, confirmations marked on
every irreversible action, "waiting for a worker", a company's reports, no inline styles."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from apps.accounts.models import AuditEvent
from apps.adapters.models import AdapterActivation, AdapterVersion
from apps.generation.services import job_create
from apps.medical.models import Draft, Review
from tests.apps.finance.test_reports_factories import join, make_company, make_team
from tests.apps.medical.factories import CLEAN_CONTENT, encounter

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[3]


def _draft(author, status, *, clinician=None, **extra):
    return Draft.objects.create(encounter=encounter(clinician or author), version=1, author=author, source="edit", status=status,
                                verification="passed", verified_at=timezone.now(), **CLEAN_CONTENT, **extra)


# --- templates ------------------------------------------------------------------------------------------------------
def test_no_template_carries_inline_styles_and_no_script_asks_the_browser_to_confirm():
    for path in (REPO / "templates").rglob("*.html"):
        text = path.read_text()
        assert "<style" not in text and not re.search(r"\sstyle=", text), path
    for path in (REPO / "static" / "js").glob("*.js"):
        assert "confirm(" not in path.read_text(), path


def test_base_template_has_a_skip_link_to_main(client, make_user):
    client.force_login(make_user("analyst"))
    html = client.get("/").content.decode()
    assert html.index('<a class="skip-link" href="#main">') < html.index("<header")
    assert '<main id="main" tabindex="-1">' in html
    assert '<dialog class="confirm" id="confirm-dialog"' in html


def test_404_and_500_pages(client, make_user):
    client.force_login(make_user("clinician"))
    resp = client.get("/medical/encounters/999999/")
    assert resp.status_code == 404 and "<h1>Not found</h1>" in resp.content.decode()
    html = render_to_string("500.html")  # as Django's handler renders it: no request, no context
    assert "<h1>Something went wrong</h1>" in html and "/static/css/plumbline.css" in html


# --- dashboards -----------------------------------------------------------------------------------------------------
def test_reviewer_dashboard_lists_the_review_queue_and_audits_it(client, make_user):
    clinician, reviewer = make_user("clinician"), make_user("reviewer")
    waiting = _draft(clinician, "in_review")
    _draft(reviewer, "in_review", clinician=clinician)  # their own version: not theirs to review
    client.force_login(reviewer)
    html = client.get("/").content.decode()
    assert "will be listed here" not in html
    assert f'data-testid="queue-link-{waiting.pk}"' in html and "Waiting for your review <span class=\"muted\">(1)" in html
    event = AuditEvent.objects.filter(actor=reviewer, action="medical_encounter.list").latest("at")
    assert event.detail["ids"] == [waiting.encounter_id]


def test_clinician_dashboard_lists_drafts_sent_back_with_the_review(client, make_user):
    clinician, other, reviewer = make_user("clinician"), make_user("clinician"), make_user("reviewer")
    back = _draft(clinician, "sent_back")
    Review.objects.create(draft=back, reviewer=reviewer, score="0.6", decision="send_back", comments="Add the ECG.")
    _draft(other, "sent_back")  # another clinician's encounter
    _draft(clinician, "final")
    client.force_login(clinician)
    html = client.get("/").content.decode()
    assert re.findall(r'data-testid="sent-back-(\d+)"', html) == [str(back.pk)]
    assert "Add the ECG." in html and reviewer.username in html
    assert AuditEvent.objects.filter(actor=clinician, action="medical_encounter.list").exists()


def test_analyst_dashboard_lists_recent_reports_of_their_team(client, make_user):
    from apps.finance.reports import services

    analyst = join(make_user("analyst"), make_team())
    mine, _ = services.report_create(owner=analyst, company=make_company(team=analyst.team, created_by=analyst))
    outsider = join(make_user("analyst"), make_team())
    theirs, _ = services.report_create(owner=outsider,
                                       company=make_company(team=outsider.team, created_by=outsider))
    client.force_login(analyst)
    html = client.get("/").content.decode()
    assert f"/finance/reports/{mine.pk}/" in html and f"/finance/reports/{theirs.pk}/" not in html


def test_admin_dashboard_says_nothing_is_coming_soon(client, make_user):
    client.force_login(make_user("admin"))
    html = client.get("/").content.decode()
    assert "(soon)" not in html and 'href="/adapters/"' in html and 'data-testid="serving"' in html


# --- lists ----------------------------------------------------------------------------------------------------------
def test_lists_are_paginated(client, make_user):
    clinician = make_user("clinician")
    for i in range(27):
        encounter(clinician, patient_ref=f"PT-PAGE-{i:02d}")
    client.force_login(clinician)
    first = client.get("/medical/").content.decode()
    links = re.compile(r'href="/medical/encounters/\d+/"')
    assert len(links.findall(first)) == 25 and "Page 1 of 2 (27 in all)" in first
    second = client.get("/medical/", {"page": 2}).content.decode()
    assert len(links.findall(second)) == 2 and 'rel="prev"' in second
    # the list audit names only the encounters shown
    assert len(AuditEvent.objects.filter(actor=clinician, action="medical_encounter.list").latest("at")
               .detail["ids"]) == 2
    assert "Page 1 of 2" in client.get("/medical/", {"page": "junk"}).content.decode()


def test_company_page_lists_its_reports(client, make_user):
    from apps.finance.reports import services

    analyst = join(make_user("analyst"), make_team())
    company = make_company(team=analyst.team, created_by=analyst)
    other = make_company(team=analyst.team, created_by=analyst)
    report, _ = services.report_create(owner=analyst, company=company)
    elsewhere, _ = services.report_create(owner=analyst, company=other)
    client.force_login(analyst)
    html = client.get(f"/finance/companies/{company.pk}/").content.decode()
    table = html[html.index('data-testid="company-reports"'):]
    assert f"/finance/reports/{report.pk}/" in table and f"/finance/reports/{elsewhere.pk}/" not in table


# --- jobs -----------------------------------------------------------------------------------------------------------
def test_a_queued_job_says_it_waits_for_a_worker(client, make_user):
    analyst = make_user("analyst")
    job = job_create(owner=analyst, prompt="Write one sentence.", domain="finance")
    client.force_login(analyst)
    detail = client.get(f"/jobs/{job.pk}/").content.decode()
    status = re.search(r'<p role="status" aria-live="polite"[^>]*>(.*?)</p>', detail, re.S).group(1)
    assert "queued" in status and "waiting for a worker" in status
    assert 'data-testid="job-output"' in detail and 'aria-live' not in detail.split('data-testid="job-output"')[0][-200:]
    assert re.search(r'data-testid="job-elapsed">\d+', detail)
    assert re.search(r'data-confirm="Cancel job \d+\?', detail)
    assert f'data-testid="waiting-{job.pk}">waiting for a worker for ' in client.get("/jobs/").content.decode()


# --- adapters -------------------------------------------------------------------------------------------------------
def _version(admin, name, *, status="done", version=1):
    return AdapterVersion.objects.create(
        name=name, version=version, domain="finance", sha256=f"{name}{version}".ljust(64, "0"), rank=4, alpha=8,
        target_modules=["q_proj"], size_bytes=10, uploaded_by=admin, eval_status=status,
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct", config_sha256="0" * 64,
    )


def test_roll_back_shows_only_on_the_serving_version_and_both_actions_ask_first(client, make_user):
    admin = make_user("admin")
    serving, idle = _version(admin, "serving"), _version(admin, "idle")
    AdapterActivation.objects.create(domain="finance", adapter=serving, kind="activate", actor=admin,
                                     at=timezone.now())
    client.force_login(admin)
    html = client.get("/adapters/").content.decode()
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr data-testid="adapter-([^"]+)"(.*?)</tr>', html, re.S)}
    assert "Roll back" in rows["serving@1"] and "Activate" not in rows["serving@1"]
    assert "Roll back" not in rows["idle@1"] and "Activate" in rows["idle@1"]
    assert rows["serving@1"].count("data-confirm=") == rows["idle@1"].count("data-confirm=") == 1
    assert f'for="override-{idle.pk}"' in rows["idle@1"]


def test_evaluation_status_endpoint_and_the_page_polls_only_while_evaluating(client, make_user):
    admin = make_user("admin")
    running = _version(admin, "running", status="running")
    done = _version(admin, "done")
    done.domain_loss_base, done.domain_loss_adapter = 2.5, 2.25
    done.save()
    client.force_login(admin)
    assert 'data-evaluating="1"' in client.get("/adapters/").content.decode()
    body = client.get("/adapters/eval-status/", {"id": [running.pk, done.pk, "x"]}).json()
    by_id = {v["id"]: v for v in body["versions"]}
    assert by_id[running.pk]["eval_status"] == "running"
    assert by_id[done.pk]["domain_loss"] == "2.500 → 2.250"
    running.eval_status = "done"
    running.save()
    assert 'data-evaluating="0"' in client.get("/adapters/").content.decode()
