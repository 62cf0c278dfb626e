"""Triage through the service: the model's proposal combined with the ESI rules. Rules raise an
under-triaged proposal (danger-zone vitals); a failed or unusable proposal leaves the rules' level standing;
a stale or repeated delivery stores nothing. One test runs the real model on a real worker."""
import pytest

from apps.accounts.models import AuditEvent
from apps.generation.models import GenerationJob
from apps.generation.services import job_fail, job_start
from apps.medical import services
from apps.medical.models import TriageAssessment
from tests.apps.medical.factories import DANGER, encounter
from tests.conftest import wait_for_job

MODEL_SAYS_5 = '{"esi_level":5,"department":"minors","rationale":"Mild cough, no distress."}'


def _claimed_triage(user, **overrides):
    triage = services.triage_request(encounter=encounter(user, **overrides), actor=user)
    _job, attempt = job_start(job_id=triage.job_id)
    return triage, attempt


@pytest.mark.django_db
def test_rules_raise_a_model_under_triage_with_danger_zone_vitals(make_user):
    triage, attempt = _claimed_triage(make_user("clinician"), **DANGER)
    stored = services.triage_record(job_id=triage.job_id, attempt=attempt, text=MODEL_SAYS_5, finish_reason="stop")
    assert stored is not None
    t = TriageAssessment.objects.get(pk=triage.pk)
    assert (t.model_level, t.rules_level, t.final_level) == (5, 2, 2)
    assert t.rule_fired == "B_danger_vitals" and t.raised_by_rules
    assert t.model_outcome == "ok" and t.department == "minors" and t.rationale.startswith("Mild cough")
    assert "raised it to ESI 2" in t.explanation
    assert GenerationJob.objects.get(pk=t.job_id).status == "succeeded"
    event = AuditEvent.objects.get(action="medical_triage.complete", object_id=str(t.pk))
    assert event.detail["final_level"] == 2 and event.detail["model_level"] == 5


@pytest.mark.django_db
def test_rules_never_lower_a_more_urgent_model_level(make_user):
    triage, attempt = _claimed_triage(make_user("clinician"), chief_complaint="sprained ankle", heart_rate=80,
                                      respiratory_rate=14, spo2=99, pain_score=3, history="", notes="")
    services.triage_record(job_id=triage.job_id, attempt=attempt, finish_reason="stop",
                           text='{"esi_level":2,"department":"majors","rationale":"Cautious."}')
    t = TriageAssessment.objects.get(pk=triage.pk)
    assert t.model_level == 2 and t.rules_level > 2 and t.final_level == 2 and not t.raised_by_rules


@pytest.mark.parametrize(
    ("text", "finish_reason", "outcome", "why"),
    [
        ('{"esi_level":5,"depart', "length", "unusable", "not a complete JSON object"),
        ('{"esi_level":9,"department":"minors","rationale":""}', "stop", "unusable", "not 1-5"),
        ("", "error", "failed", "engine refused"),
    ],
)
@pytest.mark.django_db
def test_unusable_or_failed_model_output_leaves_the_rules_level(make_user, text, finish_reason, outcome, why):
    triage, attempt = _claimed_triage(make_user("clinician"), **DANGER)
    services.triage_record(job_id=triage.job_id, attempt=attempt, text=text, finish_reason=finish_reason,
                           error="engine refused" if finish_reason == "error" else "")
    t = TriageAssessment.objects.get(pk=triage.pk)
    assert t.status == "done" and t.model_level is None and t.final_level == t.rules_level == 2
    assert t.model_outcome == outcome and why in t.model_error
    assert t.explanation.startswith(f"Model proposal {outcome}")


@pytest.mark.django_db
def test_a_stale_or_repeated_delivery_stores_nothing(make_user):
    triage, first = _claimed_triage(make_user("clinician"), **DANGER)
    _job, second = job_start(job_id=triage.job_id)  # redelivered while the first was still running
    assert services.triage_record(job_id=triage.job_id, attempt=first, text=MODEL_SAYS_5, finish_reason="stop") is None
    assert TriageAssessment.objects.get(pk=triage.pk).status == "pending"
    assert services.triage_record(job_id=triage.job_id, attempt=second, text=MODEL_SAYS_5, finish_reason="stop")
    assert job_start(job_id=triage.job_id) is None  # a third delivery finds the job ended
    assert services.triage_record(job_id=triage.job_id, attempt=second, text="{}", finish_reason="stop") is None
    assert AuditEvent.objects.filter(action="medical_triage.complete").count() == 1


@pytest.mark.django_db
def test_a_failed_task_keeps_the_rules_level(make_user):
    triage, attempt = _claimed_triage(make_user("clinician"), **DANGER)
    job_fail(job_id=triage.job_id, error="RuntimeError", attempt=attempt)  # the runner raised: on_end settles
    t = TriageAssessment.objects.get(pk=triage.pk)
    assert t.final_level == 2 and t.model_outcome == "failed" and t.job.status == "failed"


@pytest.mark.worker
@pytest.mark.slow
def test_triage_on_a_real_worker_with_the_real_model(celery_worker, api_client_for, transactional_db, settings):
    settings.PLUMBLINE_MEDICAL_TRIAGE_TOKENS = 48  # the budget travels with the job
    worker = celery_worker
    client = api_client_for("clinician")
    e = client.post("/api/v1/medical/encounters/", DANGER, format="json").json()
    resp = client.post(f"/api/v1/medical/encounters/{e['id']}/triage/")
    assert resp.status_code == 202, resp.json()
    job = wait_for_job(resp.json()["job"]["id"], timeout=180, worker=worker)
    t = client.get(f"/api/v1/medical/encounters/{e['id']}/").json()["triage"]
    assert t["status"] == "done", worker.log()[-2000:]
    assert t["rules_level"] == 2 and t["rule_fired"]
    if t["model_outcome"] == "ok":
        assert job.status == "succeeded" and 1 <= t["model_level"] <= 5
        assert t["final_level"] == min(t["model_level"], 2)
        assert t["raised_by_rules"] == (t["model_level"] > 2)
    else:  # the record says why the model's proposal was not used, and the rules' level stands
        assert t["model_error"] and t["final_level"] == 2
    assert job.max_tokens == 48 and job.completion_tokens <= 48


def test_triage_eval_command_prints_the_rules_metrics(tmp_path):
    import io
    import json

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("triage_eval", "--split", "heldout", "--limit", "30", stdout=out)
    text = out.getvalue()
    assert "=== heldout: 30 synthetic vignettes" in text
    exact = next(line for line in text.splitlines() if "exact overall" in line)
    k, n = exact.split("exact overall")[1].split("=")[0].strip().split("/")
    assert int(n) == 30 and 0 <= int(k) <= 30
    assert "ESI 1-2 under-triaged" in text and "label\\pred" in text

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "age": 40, "sex": "male", "chief_complaint": "cough", "esi": 9,
                               "synthetic": True, "vitals": {}}) + "\n")
    with pytest.raises(CommandError, match="bad.jsonl:1"):
        call_command("triage_eval", "--path", str(bad))
