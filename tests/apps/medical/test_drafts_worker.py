"""Drafts on a real Celery worker: the model writes a SOAP draft (tiny budgets) on queue gpu, then the
verification task on queue default stores its findings; planted errors in an edited version are caught by
that task, each finding pointing at the text it is about."""
import time

import pytest

from apps.medical.models import Draft
from tests.apps.medical.factories import ENCOUNTER, PLANTED_CONTENT
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.slow]

TINY = {"PLUMBLINE_MEDICAL_TRIAGE_TOKENS": 48, "PLUMBLINE_MEDICAL_SECTION_TOKENS": 6,
        "PLUMBLINE_MEDICAL_CODES_TOKENS": 80}  # budgets are fixed when work is requested (this process)


def wait_for_draft(draft_id: int, *, statuses=("in_review", "failed"), timeout: float = 120, worker=None) -> Draft:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        draft = Draft.objects.get(pk=draft_id)
        if draft.status in statuses:
            return draft
        time.sleep(0.2)
    raise AssertionError(f"draft {draft_id} still {draft.status}\n{worker.log()[-3000:] if worker else ''}")


def span_text(body: dict, f: dict) -> str:
    from apps.medical.selectors import code_line, medication_line

    if f["section"] == "icd_codes":
        text = code_line(body["icd_codes"][f["item"]])
    elif f["section"] == "medications":
        text = medication_line(body["medications"][f["item"]])
    else:
        text = body[f["section"]]
    return text[f["start"]:f["end"]]


def test_model_draft_is_generated_then_verified_on_the_default_queue(celery_worker, api_client_for, transactional_db,
                                                                    settings):
    for name, value in TINY.items():
        setattr(settings, name, value)
    worker = celery_worker
    client = api_client_for("clinician")
    e = client.post("/api/v1/medical/encounters/", ENCOUNTER, format="json").json()
    resp = client.post(f"/api/v1/medical/encounters/{e['id']}/drafts/")
    assert resp.status_code == 202, resp.json()
    draft_id, job_id = resp.json()["id"], resp.json()["job"]["id"]
    job = wait_for_job(job_id, timeout=180, worker=worker)
    assert job.status == "succeeded", job.error
    assert job.completion_tokens <= 4 * 6 + 6 * 80  # four sections, codes and medications (each retried once at most)
    draft = wait_for_draft(draft_id, worker=worker)
    assert draft.status == "in_review" and draft.verified_at is not None
    body = client.get(f"/api/v1/medical/drafts/{draft_id}/").json()
    assert all(body[s] for s in ("subjective", "objective", "assessment", "plan")), body
    errors = [f for f in body["findings"] if f["severity"] == "error"]
    assert body["verified"] == (not errors) == (body["verification"] == "passed")
    if "ICD codes" in body["generation_note"]:  # the codes' JSON did not close even when asked again
        assert body["icd_codes"] == []
    if "medications" in body["generation_note"]:
        assert body["medications"] == []
    # codes and drugs come from closed sets: billable ICD-10-CM codes, the knowledge base's drugs in range
    from apps.medical.knowledge import default_knowledge
    from apps.medical.verification.codes import _icd

    assert all(_icd().is_leaf(c["code"]) and c["description"] for c in body["icd_codes"]), body["icd_codes"]
    kb = default_knowledge()
    for m in body["medications"]:
        drug = kb.drugs[m["name"]]
        assert any(m["route"] in limit.routes and limit.single[0] <= float(m["dose_text"].split()[0])
                   <= limit.single[1] for limit in drug.doses), m
    assert not [f for f in body["findings"] if f["check"] in ("icd_exists", "icd_billable",
                                                               "drug_unverifiable")], body
    for f in body["findings"]:
        assert f["check"] and f["message"] and span_text(body, f) or f["start"] == f["end"]
    # the verification ran on the worker (queue default), not in the web process
    assert "apps.medical.tasks.verify_draft_version" in worker.log()


def test_verification_task_catches_planted_errors(celery_worker, api_client_for, make_user, transactional_db):
    from apps.medical import services

    clinician = api_client_for("clinician")
    e = clinician.post("/api/v1/medical/encounters/", ENCOUNTER, format="json").json()
    base = Draft.objects.create(encounter_id=e["id"], version=1, author=clinician.user, status="in_review",
                                verification="failed")
    resp = clinician.post(f"/api/v1/medical/drafts/{base.pk}/versions/", PLANTED_CONTENT, format="json")
    assert resp.status_code == 201, resp.json()
    draft = wait_for_draft(resp.json()["id"], worker=celery_worker)
    assert draft.verification == "failed"
    body = clinician.get(f"/api/v1/medical/drafts/{draft.pk}/").json()
    caught = {(f["check"], span_text(body, f)) for f in body["findings"] if f["severity"] == "error"}
    assert ("icd_exists", "Z99.999") in caught
    assert ("allergy_conflict", "amoxicillin") in caught
    assert any(check == "dose_range" and "10000" in text for check, text in caught)
    assert any(check == "vitals_mismatch" and "60" in text for check, text in caught)
    # the page shows each finding highlighted at its span
    from django.test import Client

    web = Client()
    web.force_login(make_user("reviewer"))
    html = web.get(f"/medical/drafts/{draft.pk}/").content.decode()
    assert 'class="finding finding-error" data-check="allergy_conflict"' in html
    assert '>Z99.999</mark>' in html
    assert services.draft_verify(draft_id=draft.pk) is None  # already verified: a redelivery does nothing
