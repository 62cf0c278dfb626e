"""The draft edit page's coded fields: ICD-10-CM search as you type, diagnosis and medication rows that post the
same lists to draft_edit as the API does, and their errors at the right field."""
from __future__ import annotations

import re

import pytest
from django.utils import timezone

from apps.medical.icd_search import icd_search
from apps.medical.models import Draft
from tests.apps.medical.factories import CLEAN_CONTENT, encounter

pytestmark = pytest.mark.django_db


def test_icd_search_by_words_lists_billable_codes_first():
    hits = icd_search("chest pain")
    assert hits and all("chest" in h.description.lower() and "pain" in h.description.lower() for h in hits)
    billable = [h.billable for h in hits]
    assert billable == sorted(billable, reverse=True) and billable[0]
    assert "R07.9" in {h.code for h in icd_search("chest pain unspecified")}


def test_icd_search_by_code_prefix_with_or_without_the_dot():
    hits = icd_search("r07")
    assert [h.code for h in hits][:1] != ["R07"]  # R07 has subcodes: not billable, listed after them
    assert {"R07.9", "R07.89"} <= {h.code for h in hits} and "R07" in {h.code for h in hits}
    assert not next(h for h in hits if h.code == "R07").billable
    assert [h.code for h in icd_search("R079")] == ["R07.9"] == [h.code for h in icd_search("r07.9")]
    assert icd_search("x") == [] and icd_search("no such words at all qqq") == []


def test_icd_endpoint_answers_json_to_clinicians_only(client, make_user):
    client.force_login(make_user("clinician"))
    body = client.get("/medical/icd10/", {"q": "R07.9"}).json()
    assert body["results"][0] == {"code": "R07.9", "description": "Chest pain, unspecified", "billable": True}
    client.force_login(make_user("analyst"))
    assert client.get("/medical/icd10/", {"q": "R07.9"}).status_code == 403


def _draft(clinician, **content) -> Draft:
    content = {**CLEAN_CONTENT, "medications": [{**CLEAN_CONTENT["medications"][0], "dose_text": "300 mg (1 tab)"}],
               **content}
    return Draft.objects.create(encounter=encounter(clinician), version=1, author=clinician, source="edit",
                                status="sent_back", verification="passed", verified_at=timezone.now(), **content)


def _post(draft, *, codes, meds, **sections):
    data = {name: getattr(draft, name) for name in ("subjective", "objective", "assessment", "plan")}
    data.update(sections)
    data.update({"codes-TOTAL_FORMS": len(codes), "codes-INITIAL_FORMS": 0, "meds-TOTAL_FORMS": len(meds),
                 "meds-INITIAL_FORMS": 0})
    for i, row in enumerate(codes):
        data.update({f"codes-{i}-{k}": v for k, v in row.items()})
    for i, row in enumerate(meds):
        data.update({f"meds-{i}-{k}": v for k, v in row.items()})
    return data


def test_the_edit_page_shows_rows_not_json(client, make_user):
    clinician = make_user("clinician")
    draft = _draft(clinician)
    client.force_login(clinician)
    html = client.get(f"/medical/drafts/{draft.pk}/edit/").content.decode()
    assert "JSON" not in html and "<textarea name=\"icd_codes\"" not in html
    assert re.search(r'name="codes-0-code"[^>]*value="R07.9"|value="R07.9"[^>]*name="codes-0-code"', html)
    assert 'name="codes-1-code"' in html  # one empty row to add a code without script
    assert '<legend>Diagnoses (ICD-10-CM)</legend>' in html and "<legend>Medications</legend>" in html
    assert '<option value="aspirin">' in html and 'list="kb-drugs"' in html
    assert '<option value="oral" selected>oral</option>' in html
    assert 'style="' not in html and "<style" not in html


def test_rows_post_the_same_lists_to_draft_edit(client, make_user):
    clinician = make_user("clinician")
    draft = _draft(clinician)
    client.force_login(clinician)
    resp = client.post(f"/medical/drafts/{draft.pk}/edit/", _post(draft, codes=[
        {"code": "r07.9", "description": "Chest pain, unspecified"},
        {"code": "", "description": ""},  # an empty row is skipped
        {"code": "I10", "description": "Essential (primary) hypertension"},
    ], meds=[
        {"name": "aspirin", "dose_mg": "300.0", "route": "oral", "frequency": "once", "times_per_day": "1",
         "dose_text": "300 mg (1 tab)", "written_dose_mg": "300.0"},
        {"name": "paracetamol", "dose_mg": "1000", "route": "oral", "frequency": "four times daily",
         "times_per_day": "4", "dose_text": "", "written_dose_mg": ""},
        {"name": "", "dose_mg": "", "route": "", "frequency": "", "times_per_day": ""},
    ]))
    assert resp.status_code == 302, resp.content.decode()[:3000]
    new = Draft.objects.get(encounter=draft.encounter, version=2)
    assert new.icd_codes == [{"code": "R07.9", "description": "Chest pain, unspecified"},
                             {"code": "I10", "description": "Essential (primary) hypertension"}]
    assert new.medications == [
        {"name": "aspirin", "dose_mg": 300.0, "dose_text": "300 mg (1 tab)", "route": "oral", "frequency": "once",
         "times_per_day": 1},
        {"name": "paracetamol", "dose_mg": 1000.0, "dose_text": "1000 mg", "route": "oral",
         "frequency": "four times daily", "times_per_day": 4},
    ]


def test_a_changed_dose_drops_the_dose_as_written(client, make_user):
    clinician = make_user("clinician")
    draft = _draft(clinician)
    client.force_login(clinician)
    client.post(f"/medical/drafts/{draft.pk}/edit/", _post(draft, codes=[], meds=[
        {"name": "aspirin", "dose_mg": "150", "route": "oral", "frequency": "once", "times_per_day": "1",
         "dose_text": "300 mg (1 tab)", "written_dose_mg": "300.0"}]))
    assert Draft.objects.get(encounter=draft.encounter, version=2).medications[0]["dose_text"] == "150 mg"


def test_row_errors_sit_at_their_field_and_nothing_is_saved(client, make_user):
    clinician = make_user("clinician")
    draft = _draft(clinician)
    client.force_login(clinician)
    resp = client.post(f"/medical/drafts/{draft.pk}/edit/", _post(draft, codes=[
        {"code": "", "description": "a description without its code"},
        {"code": "chest pain", "description": ""}], meds=[
        {"name": "aspirin", "dose_mg": "300", "route": "oral", "frequency": "once", "times_per_day": "30"},
        {"name": "", "dose_mg": "5", "route": "", "frequency": "", "times_per_day": ""}]))
    assert resp.status_code == 400
    html = resp.content.decode()
    for name, message in (("codes-0-code", "enter the code of this diagnosis"),
                          ("codes-1-code", "chest pain is not an ICD-10-CM code"),
                          ("meds-0-times_per_day", "less than or equal to 24"),
                          ("meds-1-name", "name the medication")):
        field = re.search(rf'<[^>]*name="{name}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in field
        error_id = re.search(r'aria-describedby="([^"]*)"', field).group(1).split()[-1]
        assert re.search(rf'id="{error_id}"[^>]*>.*?{message}', html, re.S), name
    assert not Draft.objects.filter(encounter=draft.encounter, version=2).exists()
