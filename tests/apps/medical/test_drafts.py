"""Draft jobs without a worker: a redelivered job stores its draft once (only the current attempt), the coded
JSON is parsed strictly, a failed job marks the draft failed, and verification fails closed."""
import pytest

from apps.accounts.models import AuditEvent
from apps.generation.models import GenerationJob
from apps.generation.services import job_fail, job_start
from apps.medical import services
from apps.medical.models import Draft
from tests.apps.medical.factories import encounter

pytestmark = pytest.mark.django_db

SECTIONS = {"subjective": "Chest pain.", "objective": "HR 96.", "assessment": "Possible ACS.", "plan": "ECG."}
CODES = ('{"icd_codes":[{"code":"r07.9","description":"Chest pain"}],"medications":[{"name":"aspirin",'
         '"dose_mg":300,"route":"oral","frequency":"once","times_per_day":1}]}')


def test_a_redelivered_draft_job_stores_once_and_enqueues_one_verification(make_user, settings,
                                                                           django_capture_on_commit_callbacks):
    settings.PLUMBLINE_MEDICAL_SECTION_TOKENS, settings.PLUMBLINE_MEDICAL_CODES_TOKENS = 7, 33
    clinician = make_user("clinician")
    draft = services.draft_request(encounter=encounter(clinician), actor=clinician)
    assert (draft.section_tokens, draft.codes_tokens, draft.job.max_tokens) == (7, 33, 4 * 7 + 6 * 33)
    _job, first = job_start(job_id=draft.job_id)
    _job, second = job_start(job_id=draft.job_id)  # the broker redelivered it; the first delivery is stale
    with django_capture_on_commit_callbacks() as stale_callbacks:
        assert services.draft_record(job_id=draft.job_id, attempt=first, sections=SECTIONS, codes_text=CODES,
                                     finish_reason="stop") is None
    assert not stale_callbacks and Draft.objects.get(pk=draft.pk).status == "generating"
    with django_capture_on_commit_callbacks() as callbacks:
        stored = services.draft_record(job_id=draft.job_id, attempt=second, sections=SECTIONS, codes_text=CODES,
                                       finish_reason="stop")
    enqueued = [c for c in callbacks if "_enqueue_verification" in c.__qualname__]
    assert stored.status == "verifying" and len(enqueued) == 1  # (the others: the job's ending metrics)
    assert stored.icd_codes == [{"code": "R07.9", "description": "Chest pain"}]
    assert stored.medications[0]["dose_mg"] == 300.0 and stored.medications[0]["dose_text"] == "300 mg"
    assert GenerationJob.objects.get(pk=draft.job_id).status == "succeeded"
    assert job_start(job_id=draft.job_id) is None  # a later delivery finds the job ended
    assert services.draft_record(job_id=draft.job_id, attempt=second, sections={}, codes_text="",
                                 finish_reason="stop") is None
    assert AuditEvent.objects.filter(action="medical_draft.generated").count() == 1


def test_a_cut_off_coded_part_is_said_and_left_empty(make_user):
    clinician = make_user("clinician")
    draft = services.draft_request(encounter=encounter(clinician), actor=clinician)
    _job, attempt = job_start(job_id=draft.job_id)
    stored = services.draft_record(job_id=draft.job_id, attempt=attempt, sections=SECTIONS,
                                   codes_text='{"icd_codes":[{"code":"R0', finish_reason="stop")
    assert stored.icd_codes == [] and stored.medications == []
    assert "not a complete JSON object" in stored.generation_note


def test_a_failed_draft_job_marks_the_draft_failed(make_user):
    clinician = make_user("clinician")
    draft = services.draft_request(encounter=encounter(clinician), actor=clinician)
    _job, attempt = job_start(job_id=draft.job_id)
    job_fail(job_id=draft.job_id, attempt=attempt, error="section plan: engine refused")  # on_end settles the draft
    draft.refresh_from_db()
    assert draft.status == "failed" and "engine refused" in draft.error and draft.job.status == "failed"


def test_verification_that_cannot_run_fails_closed(make_user):
    clinician = make_user("clinician")
    draft = services.draft_write(encounter=encounter(clinician), author=clinician,
                                 content={**SECTIONS, "icd_codes": [], "medications": []})
    services.draft_verify_fail(draft_id=draft.pk, error="RuntimeError")
    draft.refresh_from_db()
    assert draft.verification == "failed" and draft.status == "in_review"
    assert draft.findings.get().severity == "error"


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"icd_codes": [{"description": "no code"}]}, "icd_codes"),
        ({"medications": [{"name": "aspirin", "dose_mg": -5}]}, "medications"),
        ({"medications": [{"name": "aspirin", "times_per_day": 30}]}, "medications"),
        ({"plan": 5}, "plan"),
    ],
)
def test_bad_draft_content_names_the_field_and_writes_nothing(make_user, content, field):
    from django.core.exceptions import ValidationError

    clinician = make_user("clinician")
    e = encounter(clinician)
    with pytest.raises(ValidationError) as exc:
        services.draft_write(encounter=e, author=clinician, content={**SECTIONS, **content})
    assert field in exc.value.message_dict
    assert not Draft.objects.exists()


def test_edit_api_400_names_the_field(api_client_for):
    client = api_client_for("clinician")
    e = encounter(client.user)
    draft = services.draft_write(encounter=e, author=client.user, content=SECTIONS)
    resp = client.post(f"/api/v1/medical/drafts/{draft.pk}/versions/",
                       {**SECTIONS, "medications": [{"name": "aspirin", "dose_mg": "lots"}]}, format="json")
    assert resp.status_code == 400 and "medications" in resp.json()["errors"]
    assert Draft.objects.count() == 1
