"""The draft edit page's ICD-10-CM combobox and "add a row" in a real browser, by keyboard."""
import pytest
from django.utils import timezone

from apps.medical.models import Draft
from tests.apps.medical.factories import CLEAN_CONTENT, encounter

pytestmark = pytest.mark.browser


def test_search_a_code_by_keyboard_and_add_a_medication_row(make_user, login, live_server):
    clinician = make_user("clinician")
    draft = Draft.objects.create(encounter=encounter(clinician), version=1, author=clinician, source="edit",
                                 status="sent_back", verification="passed", verified_at=timezone.now(),
                                 **CLEAN_CONTENT)
    page = login(clinician.username)
    page.goto(f"{live_server.url}/medical/drafts/{draft.pk}/edit/")

    code = page.locator("input[name=codes-1-code]")  # the empty row after R07.9
    assert code.get_attribute("role") == "combobox" and code.get_attribute("aria-expanded") == "false"
    code.fill("essential hypertension")
    page.get_by_role("option").first.wait_for()
    assert code.get_attribute("aria-expanded") == "true"
    assert page.get_by_role("option").first.inner_text().startswith("I10 ")
    code.press("ArrowDown")
    assert code.get_attribute("aria-activedescendant") == page.get_by_role("option").first.get_attribute("id")
    code.press("Enter")
    assert code.input_value() == "I10"
    assert page.locator("input[name=codes-1-description]").input_value() == "Essential (primary) hypertension"
    assert code.get_attribute("aria-expanded") == "false"
    assert "I10 Essential (primary) hypertension chosen." == page.get_by_test_id("icd-announce").inner_text()

    page.get_by_role("button", name="Add a medication").click()
    name = page.locator("input[name=meds-2-name]")
    assert page.evaluate("document.activeElement.name") == "meds-2-name"
    name.fill("paracetamol")
    page.fill("input[name=meds-2-dose_mg]", "1000")
    page.select_option("select[name=meds-2-route]", "oral")
    page.fill("input[name=meds-2-frequency]", "four times daily")
    page.fill("input[name=meds-2-times_per_day]", "4")
    page.get_by_role("button", name="Save as new version").click()
    page.wait_for_url(f"{live_server.url}/medical/drafts/*/")
    new = Draft.objects.get(encounter=draft.encounter, version=2)
    assert [c["code"] for c in new.icd_codes] == ["R07.9", "I10"]
    assert [(m["name"], m["dose_mg"], m["times_per_day"]) for m in new.medications] == [
        ("aspirin", 300.0, 1), ("paracetamol", 1000.0, 4)]
