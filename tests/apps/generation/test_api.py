"""The jobs API without a worker: validation, scoping, permissions. Nothing is written on bad input."""
import json

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import AuditEvent
from apps.generation.models import GenerationJob
from apps.generation.services import job_create

pytestmark = pytest.mark.django_db


def counts():
    return GenerationJob.objects.count(), AuditEvent.objects.count()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"prompt": "hi", "max_tokens": "many"}, "max_tokens"),
        ({"prompt": "hi", "temperature": [1]}, "temperature"),
        ({"prompt": {"a": 1}}, "prompt"),
        ({"prompt": "hi", "colour": "blue"}, "colour"),
        ({"prompt": "hi", "domain": "astrology"}, "domain"),
        ({"prompt": "hi", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "x" * 16001}, "prompt"),
        ({}, "prompt"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api_client_for, django_capture_on_commit_callbacks, payload, field):
    client = api_client_for("analyst")
    before = counts()
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post("/api/v1/jobs/", payload, format="json")
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert field in body["errors"], body
    assert field in body["detail"]
    assert counts() == before
    assert callbacks == []  # no task was queued


def test_malformed_json_and_non_object_bodies(api_client_for, django_capture_on_commit_callbacks):
    client = api_client_for("analyst")
    before = counts()
    with django_capture_on_commit_callbacks() as callbacks:
        bad = client.post("/api/v1/jobs/", data='{"prompt": "hi",', content_type="application/json")
        arr = client.post("/api/v1/jobs/", data=json.dumps(["prompt"]), content_type="application/json")
        form = client.post("/api/v1/jobs/", data="prompt=hi", content_type="application/x-www-form-urlencoded")
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["detail"]
    assert arr.status_code == 400 and "expected a JSON object" in json.dumps(arr.json())
    assert form.status_code == 415
    assert counts() == before and callbacks == []


def test_domain_is_limited_by_role(api_client_for):
    clinician = api_client_for("clinician")
    resp = clinician.post("/api/v1/jobs/", {"prompt": "hi", "domain": "finance"}, format="json")
    assert resp.status_code == 403
    assert resp.json()["errors"] == {"domain": ["your role may not generate in domain 'finance'"]}
    assert GenerationJob.objects.count() == 0


def test_create_returns_202_and_queues_on_commit(api_client_for, django_capture_on_commit_callbacks):
    client = api_client_for("analyst")
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post("/api/v1/jobs/", {"prompt": "Summarise FY24.", "domain": "finance"}, format="json")
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "queued" and body["owner"] == client.user.username
    assert resp["Location"] == f"/api/v1/jobs/{body['id']}/"
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="generation_job.create", object_id=str(body["id"])).exists()


def test_each_role_sees_only_its_own_jobs(api_client_for, make_user):
    analyst, clinician, reviewer = api_client_for("analyst"), api_client_for("clinician"), api_client_for("reviewer")
    admin = api_client_for("admin")
    a_job = job_create(owner=analyst.user, prompt="finance job", domain="finance")
    c_job = job_create(owner=clinician.user, prompt="medical job", domain="medical")

    assert [j["id"] for j in analyst.get("/api/v1/jobs/").json()["results"]] == [a_job.pk]
    assert [j["id"] for j in clinician.get("/api/v1/jobs/").json()["results"]] == [c_job.pk]
    assert reviewer.get("/api/v1/jobs/").json()["results"] == []
    assert {j["id"] for j in admin.get("/api/v1/jobs/").json()["results"]} == {a_job.pk, c_job.pk}
    # A clinician cannot read (or cancel) an analyst's job: it does not exist for them.
    assert clinician.get(f"/api/v1/jobs/{a_job.pk}/").status_code == 404
    assert clinician.post(f"/api/v1/jobs/{a_job.pk}/cancel/").status_code == 404
    assert analyst.get(f"/api/v1/jobs/{a_job.pk}/").json()["prompt"] == "finance job"
    # Reviewers may not create jobs.
    assert reviewer.post("/api/v1/jobs/", {"prompt": "hi"}, format="json").status_code == 403


def test_reading_a_medical_job_is_audited(api_client_for):
    clinician = api_client_for("clinician")
    job = job_create(owner=clinician.user, prompt="patient 17: chest pain", domain="medical")
    clinician.get(f"/api/v1/jobs/{job.pk}/")
    event = AuditEvent.objects.get(action="generation_job.read", object_id=str(job.pk))
    assert event.actor == clinician.user and event.via == "api"
    assert "chest pain" not in json.dumps(event.detail)


@pytest.mark.parametrize("url", ["/api/v1/jobs/", "/api/v1/jobs/1/", "/api/v1/auth/tokens/"])
def test_anonymous_gets_401_and_no_data(url):
    resp = APIClient().get(url)
    assert resp.status_code == 401
    assert set(resp.json()) == {"detail", "code", "errors"}


def test_cancel_a_queued_job(api_client_for):
    client = api_client_for("analyst")
    job = job_create(owner=client.user, prompt="hi")
    resp = client.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert again.status_code == 409


def test_jobs_use_the_domains_active_adapter_unless_they_name_another(api_client_for):
    from apps.adapters.models import AdapterVersion
    from apps.adapters.services import adapter_activate

    admin, analyst = api_client_for("admin"), api_client_for("analyst")

    def version(name, n, domain, status="done"):
        return AdapterVersion.objects.create(
            name=name, version=n, domain=domain, base_model="smollm2-135m-instruct", rank=4, alpha=8,
            target_modules=["q_proj"], size_bytes=1, sha256=f"{name}{n}".ljust(64, "0"),
            config_sha256=f"{name}{n}".ljust(64, "0"), uploaded_by=admin.user, eval_status=status,
            general_loss_base=1.0, general_loss_adapter=1.0,
        )

    fin1 = version("fin", 1, "finance")
    for name, n, domain in [("fin", 2, "finance"), ("med", 1, "medical"), ("gen", 1, "general")]:
        version(name, n, domain)
    version("fin", 3, "finance", status="pending")
    adapter_activate(version=fin1, actor=admin.user)

    def create(**extra):
        return analyst.post("/api/v1/jobs/", {"prompt": "hi", "domain": "finance", **extra}, format="json")

    assert create().json()["adapter"] == "fin@1"  # the active one
    assert create(adapter="base").json()["adapter"] is None
    assert create(adapter="fin").json()["adapter"] == "fin@2"  # newest evaluated version of that name
    assert create(adapter="gen@1").json()["adapter"] == "gen@1"  # general adapters serve every domain
    for bad, words in [("med@1", "is for medical"), ("fin@3", "has not passed evaluation"), ("nope", "no adapter")]:
        resp = create(adapter=bad)
        assert resp.status_code == 400 and words in resp.json()["errors"]["adapter"][0]
    assert GenerationJob.objects.count() == 4
    assert analyst.post("/api/v1/jobs/", {"prompt": "hi", "domain": "general"}, format="json").json()["adapter"] is None
