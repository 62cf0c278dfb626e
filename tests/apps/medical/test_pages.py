"""The medical flow in a real browser with a real worker and the real model (tiny budgets): a clinician
creates an encounter on the page (an impossible vital is refused first), sees triage and the draft appear;
a reviewer opens it from the review queue, scores 0.9 and approves; the draft shows final."""
import re

import pytest
from playwright.sync_api import expect

from apps.medical.models import Draft, Encounter

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]

TINY = {"PLUMBLINE_MEDICAL_TRIAGE_TOKENS": 40, "PLUMBLINE_MEDICAL_SECTION_TOKENS": 4,
        "PLUMBLINE_MEDICAL_CODES_TOKENS": 16}


def test_clinician_creates_encounter_and_reviewer_approves_the_draft(celery_worker, make_user, login, live_server,
                                                                     settings):
    for name, value in TINY.items():
        setattr(settings, name, value)
    clinician, reviewer = make_user("clinician"), make_user("reviewer")
    page = login(clinician.username)
    page.get_by_role("navigation").get_by_role("link", name="Encounters").click()
    page.get_by_test_id("new-encounter").click()
    fields = {"patient_ref": "PT-BROWSER-01", "age": "34", "chief_complaint": "sprained right ankle",
              "heart_rate": "400", "systolic_bp": "124", "diastolic_bp": "78", "respiratory_rate": "14",
              "spo2": "99", "temperature_c": "36.7", "pain_score": "4", "allergies": "", "current_medications": ""}
    for name, value in fields.items():
        page.fill(f"[name={name}]", value)
    page.select_option("select[name=sex]", "female")
    page.get_by_role("button", name="Create encounter").click()
    assert "heart_rate 400" in page.get_by_test_id("error-heart_rate").inner_text()
    assert not Encounter.objects.exists()

    page.fill("[name=heart_rate]", "82")
    page.get_by_role("button", name="Create encounter").click()
    page.wait_for_url(re.compile(r".*/medical/encounters/\d+/$"))
    encounter = Encounter.objects.get(patient_ref="PT-BROWSER-01")
    # the page reloads itself as the worker finishes triage, then the draft and its verification
    page.get_by_test_id("triage-level").wait_for(timeout=180_000)
    assert re.fullmatch(r"ESI [1-5]", page.get_by_test_id("triage-level").inner_text())
    # (expect, not wait_for_function: that one evals in the page, which the Content-Security-Policy refuses)
    expect(page.get_by_test_id("draft-status-1")).to_have_text("in_review", timeout=180_000)
    draft = Draft.objects.get(encounter=encounter, version=1)
    assert draft.verification == "passed", list(draft.findings.values_list("check_name", "message"))

    page.get_by_role("button", name="Log out").click()
    login(reviewer.username)
    page.get_by_role("link", name="Review queue").click()
    page.get_by_test_id(f"review-link-{draft.pk}").click()
    assert page.get_by_test_id("verification").inner_text() == "passed"
    assert "sprained right ankle" in page.get_by_test_id("encounter-facts").inner_text()
    page.fill("[name=score]", "0.9")
    page.check("input[name=decision][value=approve]")
    page.get_by_test_id("submit-review").click()
    page.get_by_test_id("confirm-ok").click()
    assert "approved by" in page.get_by_test_id("final").inner_text().lower()
    assert page.get_by_test_id("draft-status").inner_text() == "final"
    draft.refresh_from_db()
    assert draft.is_final and draft.finalized_by == reviewer
