"""The audit trail of a whole encounter (create, read, triage, draft, verification, reads, review), in order,
by the right actors, with ids and codes only in the details."""
import json
import time

import pytest

from apps.accounts.models import AuditEvent
from apps.medical.models import Draft
from tests.apps.medical.factories import ENCOUNTER
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.slow]

TINY = {"PLUMBLINE_MEDICAL_TRIAGE_TOKENS": 16, "PLUMBLINE_MEDICAL_SECTION_TOKENS": 4,
        "PLUMBLINE_MEDICAL_CODES_TOKENS": 16}


def test_audit_trail_of_a_whole_encounter(celery_worker, api_client_for, transactional_db, settings):
    for name, value in TINY.items():
        setattr(settings, name, value)
    worker = celery_worker
    clinician, reviewer = api_client_for("clinician"), api_client_for("reviewer")
    start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    e = clinician.post("/api/v1/medical/encounters/", ENCOUNTER, format="json").json()
    clinician.get(f"/api/v1/medical/encounters/{e['id']}/")
    triage = clinician.post(f"/api/v1/medical/encounters/{e['id']}/triage/").json()
    wait_for_job(triage["job"]["id"], timeout=180, worker=worker)
    draft = clinician.post(f"/api/v1/medical/encounters/{e['id']}/drafts/").json()
    wait_for_job(draft["job"]["id"], timeout=180, worker=worker)
    end = time.monotonic() + 60
    while Draft.objects.get(pk=draft["id"]).status != "in_review" and time.monotonic() < end:
        time.sleep(0.2)
    clinician.get(f"/api/v1/medical/drafts/{draft['id']}/")
    reviewer.get(f"/api/v1/medical/drafts/{draft['id']}/")
    resp = reviewer.post(f"/api/v1/medical/drafts/{draft['id']}/reviews/",
                         {"score": 0.4, "decision": "send_back", "comments": "Too short."}, format="json")
    assert resp.status_code == 201, resp.json()

    events = list(AuditEvent.objects.filter(id__gt=start, action__startswith="medical_").order_by("id"))
    trail = [(ev.action, ev.actor.username if ev.actor else None, ev.via) for ev in events]
    c, r = clinician.user.username, reviewer.user.username
    assert trail == [
        ("medical_encounter.create", c, "api"),
        ("medical_encounter.read", c, "api"),
        ("medical_triage.request", c, "api"),
        ("medical_triage.complete", None, "worker"),
        ("medical_draft.request", c, "api"),
        ("medical_draft.generated", None, "worker"),
        ("medical_draft.verify", None, "worker"),
        ("medical_draft.read", c, "api"),
        ("medical_draft.read", r, "api"),
        ("medical_review.send_back", r, "api"),
    ], trail
    assert {ev.object_id for ev in events[:2]} == {str(e["id"])}
    assert all(ev.detail.get("encounter") == e["id"] for ev in events[2:])
    details = json.dumps([ev.detail for ev in events])
    for text in ("PT-TEST", "chest", "penicillin", "ramipril", "Too short"):
        assert text not in details  # ids and codes only
