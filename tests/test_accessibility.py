"""axe-core in a real browser on every page of every role: no serious or critical violation.

The vendored axe.min.js (static/vendor/axe-core/, see its README for version and licence) is injected into
each page through Playwright, as a script from the test server's static files (the Content-Security-Policy
allows no inline script); one browser, one context per role. Every page must also load without a CSP
violation in the console. Besides the plain pages, a few states that
only exist after an action are checked too: form errors, the confirmation dialog open, the ICD-10-CM
search list open.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from tests.apps.adapters.factories import adapter_files
from tests.apps.finance.test_reports_factories import join, make_company, make_team, write_all_sections
from tests.apps.medical.factories import CLEAN_CONTENT, encounter

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "static" / "vendor" / "axe-core" / "axe.min.js"
AXE_URL = "/static/vendor/axe-core/axe.min.js"
BLOCKING = ("serious", "critical")
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 4).map(n => n.target.join(" "))}));
}"""


def _world(make_user, tmp_path, settings):
    """One of everything a page can show, for every role."""
    from apps.adapters.services import adapter_upload
    from apps.finance.reports import services as report_services
    from apps.generation.services import job_create
    from apps.medical.models import Draft, Finding, Review

    settings.PLUMBLINE_DATA_DIR = tmp_path
    team = make_team()
    analyst = join(make_user("analyst"), team)
    admin, clinician, reviewer = make_user("admin"), make_user("clinician"), make_user("reviewer")
    company = make_company(team=team, created_by=analyst)
    # One transaction: the report's job is enqueued on commit, when it is already finished, so a worker that
    # another test left running cannot claim it first.
    with transaction.atomic():
        report, _ = report_services.report_create(owner=analyst, company=company)
        write_all_sections(report, {"summary": "Gross margin was 47.0% in FY2024."})  # one flagged number
    job = job_create(owner=analyst, prompt="Write one sentence about cash flow.", domain="finance")  # stays queued

    e = encounter(clinician)
    in_review = Draft.objects.create(encounter=e, version=1, author=clinician, source="edit", status="in_review",
                                     verification="unverifiable", verified_at=timezone.now(), **CLEAN_CONTENT)
    Finding.objects.create(draft=in_review, check_name="drug_unverifiable", severity="error", section="medications",
                           item=0, start=0, end=7, message="aspirin: check could not run", evidence="aspirin")
    Finding.objects.create(draft=in_review, check_name="icd_exists", severity="warning", section="plan",
                           start=0, end=3, message="a warning", evidence="ECG")
    sent_back = Draft.objects.create(encounter=encounter(clinician, patient_ref="PT-TEST-0009"), version=1,
                                     author=clinician, source="edit", status="sent_back", verification="passed",
                                     verified_at=timezone.now(), **CLEAN_CONTENT)
    Review.objects.create(draft=sent_back, reviewer=reviewer, score="0.6", decision="send_back",
                          comments="Add the ECG findings.")

    config, weights = adapter_files()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/adapter_config.json", config)
        zf.writestr("a/adapter_model.safetensors", weights)
    from django.core.files.uploadedfile import SimpleUploadedFile

    adapter_upload(uploaded_by=admin, name="fin-axe", domain="finance", queue_evaluation=False,
                   archive=SimpleUploadedFile("a.zip", archive.getvalue()))

    r, c, d = report.pk, company.pk, in_review.pk
    common = ["/", "/jobs/", f"/jobs/{job.pk}/", "/tokens/"]
    return {
        analyst: common + [
            "/jobs/new/", "/finance/companies/", "/finance/companies/new/", f"/finance/companies/{c}/",
            f"/finance/companies/{c}/edit/", f"/finance/companies/{c}/statements/new/",
            f"/finance/companies/{c}/import/", "/finance/reports/", "/finance/reports/new/",
            f"/finance/reports/{r}/", f"/finance/reports/{r}/sections/summary/",
            f"/finance/reports/{r}/sections/summary/edit/", "/adapters/",
        ],
        clinician: ["/", "/jobs/new/", "/tokens/", "/medical/", "/medical/encounters/new/",
                    f"/medical/encounters/{e.pk}/", f"/medical/drafts/{d}/", f"/medical/drafts/{d}/edit/",
                    f"/medical/drafts/{sent_back.pk}/"],
        reviewer: ["/", "/jobs/", "/tokens/", "/medical/", "/medical/review/", f"/medical/encounters/{e.pk}/",
                   f"/medical/drafts/{d}/"],
        admin: common + ["/audit/", "/adapters/", "/finance/companies/", "/finance/reports/",
                         f"/finance/reports/{r}/", "/jobs/new/", "/monitoring/", "/monitoring/planner/",
                         "/monitoring/planner/?model=deepseek-llm-67b-base&precision=int4&hardware=a100-80gb-sxm"
                         "&devices=2&scenario=chat&batch=4"],
    }, {"report": r, "draft": d, "job": job.pk}


def _violations(page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        origin = page.evaluate("location.origin")
        page.add_script_tag(url=f"{origin}{AXE_URL}")
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING]


def test_no_serious_or_critical_axe_violation_on_any_page(browser, live_server, make_user, tmp_path, settings):
    pages, ids = _world(make_user, tmp_path, settings)
    found: dict[str, list[dict]] = {}
    csp_errors: list[str] = []

    def new_page(context):
        page = context.new_page()
        page.on("console", lambda msg: csp_errors.append(f"{page.url}: {msg.text}")
                if "Content Security Policy" in msg.text else None)
        return page

    def check(page, label: str):
        page.wait_for_load_state()
        problems = _violations(page)
        if problems:
            found[label] = problems

    assert AXE.is_file()
    # Signed out: the login page (with its error) and a page that does not exist.
    context = browser.new_context()
    page = new_page(context)
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/login/")
    check(page, "anonymous /login/")
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    check(page, "anonymous /login/ (error)")
    # The checker itself: an unlabelled field and an image without alt text are reported.
    page.evaluate("""() => { document.querySelector('main').insertAdjacentHTML('beforeend',
        '<input id=unlabelled><img src=data:image/gif;base64,R0lGODlhAQABAAAAACw= >'); }""")
    assert {"label", "image-alt"} <= {v["id"] for v in _violations(page)}
    context.close()

    checked = 2
    for user, paths in pages.items():
        context = browser.new_context()
        page = new_page(context)
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", "a-long-test-password")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        for path in paths:
            resp = page.goto(f"{live_server.url}{path}")
            assert resp.status == 200, f"{user.role} {path}: {resp.status}"
            check(page, f"{user.role} {path}")
            checked += 1
        resp = page.goto(f"{live_server.url}/no/such/page/")
        assert resp.status == 404 and "Not found" in page.locator("h1").inner_text()
        check(page, f"{user.role} 404")

        if user.role == "analyst":
            # A form with errors: fields say they are invalid and point at their messages.
            page.goto(f"{live_server.url}/jobs/new/")
            page.fill("input[name=max_tokens]", "0")
            page.get_by_role("button", name="Generate").click()
            field = page.locator("input[name=max_tokens]")
            assert field.get_attribute("aria-invalid") == "true"
            assert page.locator(f"#{field.get_attribute('aria-describedby').split()[-1]}").inner_text()
            check(page, "analyst /jobs/new/ (errors)")
            # The report's author may not approve it (four eyes): a note instead of the button.
            page.goto(f"{live_server.url}/finance/reports/{ids['report']}/")
            assert page.get_by_test_id("approve-own").is_visible() and page.get_by_test_id("approve").count() == 0
        if user.role == "admin":
            # The confirmation dialog, open, on the report page (the admin did not write the report).
            page.goto(f"{live_server.url}/finance/reports/{ids['report']}/")
            page.get_by_test_id("approve").click()
            assert page.get_by_role("dialog").is_visible()
            check(page, "admin report approve dialog")
            # The capacity planner's form with errors (400): an unknown model and a devices count out of range.
            resp = page.goto(f"{live_server.url}/monitoring/planner/?model=x&precision=bf16&hardware=l4&devices=0"
                             "&scenario=chat")
            assert resp.status == 400 and page.locator("select[name=model]").get_attribute("aria-invalid") == "true"
            check(page, "admin planner (errors)")
        if user.role == "clinician":
            # The ICD-10-CM search list, open.
            page.goto(f"{live_server.url}/medical/drafts/{ids['draft']}/edit/")
            code = page.locator("input[name=codes-0-code]")
            code.fill("chest pain")
            page.get_by_role("option").first.wait_for()
            check(page, "clinician draft edit (ICD list open)")
        context.close()

    assert checked > 40
    assert not csp_errors, "\n".join(csp_errors)
    assert not found, "\n".join(
        f"{label}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}" for label, vs in found.items() for v in vs
    )
