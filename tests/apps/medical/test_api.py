"""The medical REST API: 400s naming fields, 403 for analysts on every endpoint, 202 with a job, and Celery
messages that carry ids only (read back from the real Redis broker)."""
import base64
import json

import pytest

from apps.accounts.models import AuditEvent
from apps.generation.models import GenerationJob
from apps.medical.models import Draft, Encounter, TriageAssessment
from tests.apps.medical.factories import ENCOUNTER, encounter

pytestmark = pytest.mark.django_db


def test_create_and_read_an_encounter(api_client_for):
    client = api_client_for("clinician")
    resp = client.post("/api/v1/medical/encounters/", ENCOUNTER, format="json")
    assert resp.status_code == 201, resp.json()
    body = client.get(resp.json()["url"]).json()
    assert body["patient_ref"] == "PT-TEST-0001" and body["vitals"]["spo2"] == 97
    assert body["allergies"] == ["penicillin"] and body["triage"] is None and body["drafts"] == []
    actions = list(AuditEvent.objects.filter(object_id=str(body["id"]), object_type="medical.encounter")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["medical_encounter.create", "medical_encounter.read"]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"heart_rate": 301}, {"heart_rate"}),
        ({"spo2": -1, "respiratory_rate": 81}, {"spo2", "respiratory_rate"}),
        ({"systolic_bp": 80, "diastolic_bp": 95}, {"systolic_bp"}),
        ({"temperature_c": 12.0}, {"temperature_c"}),
        ({"pain_score": 11}, {"pain_score"}),
        ({"age": 130}, {"age"}),
        ({"sex": "x"}, {"sex"}),
        ({"heart_rate": "fast"}, {"heart_rate"}),
        ({"colour": "blue"}, {"colour"}),
        ({"allergies": "penicillin"}, {"allergies"}),
        ({"patient_ref": "Jane Doe"}, {"patient_ref"}),
    ],
)
def test_bad_encounters_are_400_naming_the_fields_and_write_nothing(api_client_for, overrides, fields):
    client = api_client_for("clinician")
    before = (Encounter.objects.count(), AuditEvent.objects.count())
    resp = client.post("/api/v1/medical/encounters/", {**ENCOUNTER, **overrides}, format="json")
    assert resp.status_code == 400, resp.content
    assert set(resp.json()["errors"]) == fields, resp.json()
    assert (Encounter.objects.count(), AuditEvent.objects.count()) == before


def test_analysts_get_403_on_every_medical_endpoint(api_client_for, make_user, client):
    e = encounter(make_user("clinician"))
    analyst = api_client_for("analyst")
    for method, url in [
        ("get", "/api/v1/medical/encounters/"), ("post", "/api/v1/medical/encounters/"),
        ("get", f"/api/v1/medical/encounters/{e.pk}/"), ("get", f"/api/v1/medical/encounters/{e.pk}/status/"),
        ("post", f"/api/v1/medical/encounters/{e.pk}/triage/"), ("post", f"/api/v1/medical/encounters/{e.pk}/drafts/"),
        ("get", "/api/v1/medical/drafts/1/"), ("post", "/api/v1/medical/drafts/1/versions/"),
        ("post", "/api/v1/medical/drafts/1/reviews/"), ("get", "/api/v1/medical/review-queue/"),
    ]:
        resp = getattr(analyst, method)(url, {}, format="json")
        assert resp.status_code == 403, (method, url, resp.status_code)
    client.force_login(analyst.user)
    for url in ["/medical/", "/medical/encounters/new/", f"/medical/encounters/{e.pk}/", "/medical/review/",
                "/medical/drafts/1/", "/medical/drafts/1/edit/"]:
        assert client.get(url).status_code == 403, url
    assert client.post(f"/medical/encounters/{e.pk}/triage/").status_code == 403
    assert not TriageAssessment.objects.exists()


def test_reviewers_may_not_start_triage_or_drafts(api_client_for, make_user):
    e = encounter(make_user("clinician"))
    reviewer = api_client_for("reviewer")
    assert reviewer.post(f"/api/v1/medical/encounters/{e.pk}/triage/").status_code == 403
    assert reviewer.post(f"/api/v1/medical/encounters/{e.pk}/drafts/").status_code == 403
    assert reviewer.get(f"/api/v1/medical/encounters/{e.pk}/").status_code == 200


def test_another_clinicians_encounter_is_404(api_client_for, make_user):
    e = encounter(make_user("clinician"))
    assert api_client_for("clinician").post(f"/api/v1/medical/encounters/{e.pk}/triage/").status_code == 404


def _queued(queue: str) -> list[dict]:
    import redis
    from django.conf import settings

    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    out = []
    for raw in r.lrange(queue, 0, -1):
        msg = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(msg["body"]))
        out.append({"task": msg["headers"]["task"], "args": args, "kwargs": kwargs, "raw": raw.decode()})
    return out


@pytest.mark.django_db(transaction=True)
def test_celery_messages_of_triage_and_drafts_carry_ids_only(api_client_for, worker_pool):
    from tests.conftest import purge_test_broker

    worker_pool.stop_shared()  # no worker may take the messages before they are read back
    purge_test_broker()
    client = api_client_for("clinician")
    e = client.post("/api/v1/medical/encounters/", ENCOUNTER, format="json").json()
    triage = client.post(f"/api/v1/medical/encounters/{e['id']}/triage/")
    draft = client.post(f"/api/v1/medical/encounters/{e['id']}/drafts/")
    assert triage.status_code == 202 and draft.status_code == 202
    triage_job, draft_job = triage.json()["job"]["id"], draft.json()["job"]["id"]
    messages = _queued("gpu")
    purge_test_broker()
    # both are jobs: the one job task carries the job id only, and the job row names its kind
    assert sorted((m["task"], m["args"][0]) for m in messages) == sorted(
        [("apps.generation.tasks.run_job", triage_job), ("apps.generation.tasks.run_job", draft_job)])
    assert GenerationJob.objects.get(pk=triage_job).kind == "medical.triage"
    assert GenerationJob.objects.get(pk=draft_job).kind == "medical.draft"
    for m in messages:
        assert m["kwargs"] == {}
        for text in ("PT-TEST-0001", "chest pain", "penicillin", "ramipril", "left arm"):
            assert text not in m["raw"]
    for job_id in (triage_job, draft_job):
        job = GenerationJob.objects.get(pk=job_id)
        assert job.domain == "medical" and "chest" not in job.prompt and "PT-TEST" not in job.prompt
    assert Draft.objects.get(job_id=draft_job).status == "generating"


@pytest.mark.django_db(transaction=True)
def test_verification_message_goes_to_the_default_queue_with_the_draft_id(make_user, worker_pool):
    from apps.medical import services
    from tests.apps.medical.factories import CLEAN_CONTENT
    from tests.conftest import purge_test_broker

    worker_pool.stop_shared()
    purge_test_broker()
    clinician = make_user("clinician")
    e = encounter(clinician)
    base = Draft.objects.create(encounter=e, version=1, author=clinician, source="edit", status="in_review",
                                verification="failed")
    new = services.draft_edit(draft=base, actor=clinician, content=CLEAN_CONTENT)
    messages = _queued("default")
    purge_test_broker()
    assert [(m["task"], m["args"]) for m in messages] == [("apps.medical.tasks.verify_draft_version", [new.pk])]
    assert "aspirin" not in messages[0]["raw"]


def test_findings_list_is_scoped_paginated_and_audited(api_client_for, make_user):
    from tests.apps.medical.factories import PLANTED_CONTENT
    from tests.apps.medical.test_review import verified_version

    owner = api_client_for("clinician")
    draft = verified_version(owner.user, PLANTED_CONTENT)
    total = draft.findings.count()
    assert total >= 3
    url = f"/api/v1/medical/drafts/{draft.pk}/findings/"
    page = owner.get(f"{url}?limit=2").json()
    assert page["count"] == total and len(page["results"]) == 2 and page["next"]
    rest = owner.get(f"{url}?limit=2&offset=2").json()["results"]
    ids = list(draft.findings.order_by("id").values_list("id", flat=True))
    assert [f["id"] for f in page["results"] + rest] == ids[:4]
    assert AuditEvent.objects.filter(action="medical_draft.read", object_id=str(draft.pk)).count() == 2
    assert api_client_for("clinician").get(url).status_code == 404  # another clinician's patient
    assert api_client_for("analyst").get(url).status_code == 403
    assert api_client_for("reviewer").get(url).json()["count"] == total
