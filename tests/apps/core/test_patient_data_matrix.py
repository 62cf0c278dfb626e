"""Patient data never leaves the medical app.

Clinical text planted with unique markers (complaint, history, notes, allergies, medications, SOAP sections, a code's
description, a triage rationale, a review comment, streamed draft text, a clinician's free medical prompt and its
output) goes through the real services and the job mechanism's real progress writer. Then every GET route of the
project (enumerated from the URL resolver, with the real ids of the medical objects and their jobs substituted) is
called as an admin, an analyst and a clinician who did not record the encounter: no answer may hold a marker, and
medical routes refuse them (403/404; 405 for POST-only routes). The clinician who recorded it still sees the markers,
so they are reachable at all. Job rows of medical kinds, audit details and logs hold ids and states only.
"""
from __future__ import annotations

import importlib
import json
import logging
import re

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from apps.accounts.models import AuditEvent
from apps.generation import services as job_services
from apps.generation.jobs import JobContext, job_dispatch
from apps.generation.models import GenerationJob
from apps.generation.registry import kind_get
from apps.medical import services
from apps.medical.models import Draft, Encounter, Finding, Review, TriageAssessment
from tests.apps.medical.factories import ENCOUNTER

pytestmark = pytest.mark.django_db

MARK = "ZZMARKER"
M = {
    "patient": "PT-ZZMARKER-ref-51c",
    "complaint": "ZZMARKER-complaint-7f3",
    "history": "ZZMARKER-history-a19",
    "notes": "ZZMARKER-notes-c42",
    "allergy": "ZZMARKER-allergy-0d8",
    "medication": "ZZMARKER-medication-e61",
    "subjective": "ZZMARKER-subjective-11a",
    "objective": "ZZMARKER-objective-22b",
    "assessment": "ZZMARKER-assessment-33c",
    "plan": "ZZMARKER-plan-44d",
    "code": "ZZMARKER-code-description-55e",
    "rationale": "ZZMARKER-rationale-66f",
    "review": "ZZMARKER-review-77a",
    "stream": "ZZMARKER-stream-88b",
    "prompt": "ZZMARKER-free-prompt-99c",
    "output": "ZZMARKER-free-output-00d",
}
# What the recording clinician must still be able to read somewhere (streamed text is progress only: once the
# draft is stored, its text is read from the draft).
REACHABLE = set(M) - {"stream"}


def _markers_in(text: str) -> list[str]:
    return sorted(name for name, marker in M.items() if marker in text) or (["?"] if MARK in text else [])


def _claim(job):
    claimed = job_services.job_start(job_id=job.pk)
    assert claimed is not None
    return JobContext(job=claimed[0], attempt=claimed[1], kind=kind_get(job.kind))


@pytest.fixture
def world(make_user):
    """An encounter with marked text, its triage and a model draft stored through the real services (sent back with
    a marked comment), a second draft still streaming marked text, and a clinician's free medical-domain job."""
    owner, other = make_user("clinician"), make_user("clinician")
    reviewer, admin, analyst = make_user("reviewer"), make_user("admin"), make_user("analyst")
    enc = services.encounter_create(created_by=owner, data={
        **ENCOUNTER, "patient_ref": M["patient"], "chief_complaint": f"chest pain {M['complaint']}",
        "history": f"Hypertension. {M['history']}", "notes": f"Radiates to the arm. {M['notes']}",
        "allergies": [M["allergy"]], "current_medications": [M["medication"]],
    })

    triage = services.triage_request(encounter=enc, actor=owner)
    ctx = _claim(triage.job)
    answer = json.dumps({"esi_level": 2, "department": "cardiology", "rationale": f"patient says {M['rationale']}"})
    ctx.progress(label="triage")(answer[:40] + M["stream"])
    services.triage_record(job_id=ctx.job_id, attempt=ctx.attempt, text=answer, finish_reason="stop",
                           prompt_tokens=30, completion_tokens=20)

    draft = services.draft_request(encounter=enc, actor=owner)
    ctx = _claim(draft.job)
    ctx.progress(label="subjective")(f"58M {M['stream']}")
    codes = json.dumps({"icd_codes": [{"code": "R07.9", "description": M["code"]}],
                        "medications": [{"name": "aspirin", "dose_mg": 300, "route": "oral", "frequency": "once",
                                         "times_per_day": 1}]})
    sections = {name: f"{name} text {M[name]}" for name in ("subjective", "objective", "assessment", "plan")}
    services.draft_record(job_id=ctx.job_id, attempt=ctx.attempt, sections=sections, codes_text=codes,
                          finish_reason="stop", prompt_tokens=100, completion_tokens=80)
    services.draft_verify(draft_id=draft.pk)
    draft.refresh_from_db()
    assert draft.status == "in_review"
    services.review_submit(draft=draft, reviewer=reviewer, score="0.40", decision="send_back",
                           comments=f"Please fix {M['review']}")

    streaming = services.draft_request(encounter=enc, actor=owner)  # still being written
    ctx = _claim(streaming.job)
    assert ctx.progress(label="objective")(f"HR 96 {M['stream']}") is True

    free = job_services.job_create(owner=owner, prompt=f"Summarise: {M['prompt']}", domain="medical")
    ctx = _claim(free)
    ctx.finish(output=f"Summary {M['output']}")

    ids = {
        "encounter_id": [enc.pk], "draft_id": [draft.pk, streaming.pk], "finding_id": list(
            Finding.objects.filter(draft__encounter=enc).values_list("pk", flat=True)),
        "job_id": [triage.job_id, draft.job_id, streaming.job_id, free.pk],
    }
    return {"owner": owner, "other": other, "reviewer": reviewer, "admin": admin, "analyst": analyst,
            "encounter": enc, "draft": draft, "streaming": streaming, "free": free, "triage": triage, "ids": ids}


# --- the routes ------------------------------------------------------------------------------------------------------
PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")
WORDS = ("accounts", "auth", "medical", "summary", "md", "pdf")


def _routes(patterns=None, prefix=""):
    """(template, pattern kind) of every URL pattern: path() routes keep <conv:name>, regexes their groups."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        piece = str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + piece)
        elif isinstance(p, URLPattern):
            yield prefix + piece


def _urls(template: str, ids: dict[str, list[int]], every_id: list[int]) -> list[str]:
    """Every URL the template makes with the world's ids (its own kind of id where the parameter names one, every
    id otherwise) and a few words for string parameters; only URLs that resolve are kept."""
    regex = template.startswith("^") or "(?P<" in template or template.endswith("$")
    names = [m["name"] for m in (GROUP if regex else PARAM).finditer(template)]
    urls = [template]
    for name in names:
        values = [str(v) for v in ids.get(name, every_id)] + list(WORDS)
        nxt = []
        for url in urls:
            for value in values:
                if regex:
                    nxt.append(GROUP.sub(lambda m, n=name, v=value: v if m["name"] == n else m[0], url, count=0))
                else:
                    nxt.append(PARAM.sub(lambda m, n=name, v=value: v if m["name"] == n else m[0], url))
        urls = nxt
    out = []
    for url in urls:
        path = "/" + url.replace("^", "").replace("$", "")
        try:
            resolve(path)
        except Resolver404:
            continue
        out.append(path)
    return sorted(set(out))


def _all_urls(world) -> list[str]:
    ids = world["ids"]
    every = sorted({v for vs in ids.values() for v in vs} | {world["triage"].pk} | set(
        Review.objects.filter(draft__encounter=world["encounter"]).values_list("pk", flat=True)))
    urls = []
    for template in _routes():
        urls += _urls(template, ids, every)
    return sorted(set(urls))


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _get_all(user, urls) -> dict[str, tuple[int, str]]:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    seen = {}
    for url in urls:
        if url.rstrip("/").endswith("logout"):
            continue  # ends the session (and is POST-only anyway)
        response = client.get(url)
        seen[url] = (response.status_code, _body(response))
    return seen


def _is_medical(url: str) -> bool:
    return url.startswith(("/medical/", "/api/v1/medical/"))


# --- the matrix ------------------------------------------------------------------------------------------------------
def test_the_route_matrix_covers_every_route_with_the_medical_ids(world):
    urls = _all_urls(world)
    templates = list(_routes())
    assert len(templates) > 90
    enc, draft, job = world["encounter"], world["draft"], world["draft"].job_id
    for expected in (f"/medical/encounters/{enc.pk}/", f"/api/v1/medical/drafts/{draft.pk}/", f"/jobs/{job}/",
                     f"/api/v1/jobs/{job}/", "/api/v1/jobs/", "/jobs/", "/", "/audit/", "/admin/accounts/user/"):
        assert expected in urls


@pytest.mark.parametrize("role", ["admin", "analyst", "other"])
def test_no_route_shows_patient_data_to_anyone_but_its_clinicians(world, role):
    seen = _get_all(world[role], _all_urls(world))
    leaks = {url: _markers_in(body) for url, (_, body) in seen.items() if MARK in body}
    assert leaks == {}, f"{role} reads patient data at {leaks}"
    errors = {url: status for url, (status, _) in seen.items() if status >= 500}
    assert errors == {}
    own_ids = {str(v) for vs in world["ids"].values() for v in vs}
    for url, (status, _) in seen.items():
        if not _is_medical(url):
            continue
        if role in ("admin", "analyst"):  # no access to patient data at all
            assert status in (403, 405), (role, url, status)
        elif any(part in own_ids for part in url.split("/")):  # another clinician's encounter does not exist
            assert status in (403, 404, 405), (role, url, status)
    medical_jobs = [f"/api/v1/jobs/{j}/" for j in world["ids"]["job_id"]]
    for url in medical_jobs:
        # admins see the job's metadata for operations, others do not see it at all
        assert seen[url][0] == (200 if role == "admin" else 404), (role, url, seen[url][0])
    if role == "admin":
        body = json.loads(seen[f"/api/v1/jobs/{world['free'].pk}/"][1])
        assert body["content_withheld"] is True and body["status"] == "succeeded" and body["domain"] == "medical"
        listed = {j["id"]: j for j in json.loads(seen["/api/v1/jobs/"][1])["results"]}
        assert set(world["ids"]["job_id"]) <= set(listed)


def test_the_recording_clinician_still_reads_the_marked_text(world):
    enc, draft = world["encounter"], world["draft"]
    urls = [f"/medical/encounters/{enc.pk}/", f"/api/v1/medical/encounters/{enc.pk}/", f"/medical/drafts/{draft.pk}/",
            f"/api/v1/medical/drafts/{draft.pk}/", "/", f"/jobs/{world['free'].pk}/",
            f"/api/v1/jobs/{world['free'].pk}/"]
    seen = _get_all(world["owner"], urls)
    assert {url: status for url, (status, _) in seen.items()} == dict.fromkeys(urls, 200)
    found = set()
    for _, body in seen.values():
        found |= set(_markers_in(body))
    assert REACHABLE <= found, f"not reachable: {REACHABLE - found}"
    # a reviewer reads the encounter and the draft too
    reviewer = _get_all(world["reviewer"], [f"/medical/drafts/{draft.pk}/"])
    assert reviewer[f"/medical/drafts/{draft.pk}/"][0] == 200 and M["subjective"] in reviewer[
        f"/medical/drafts/{draft.pk}/"][1]


# --- what the job rows, the audit log and the logs hold ----------------------------------------------------------
def _row_text(job: GenerationJob) -> str:
    return json.dumps({f.attname: str(getattr(job, f.attname)) for f in GenerationJob._meta.concrete_fields})


def test_medical_job_rows_hold_ids_states_and_counts_only(world):
    for job_id in world["ids"]["job_id"][:3]:  # the triage and draft jobs
        job = GenerationJob.objects.get(pk=job_id)
        assert MARK not in _row_text(job), _markers_in(_row_text(job))
        assert job.output == "" and re.fullmatch(r"Medical (draft|triage) of encounter \d+", job.prompt)
    streaming = GenerationJob.objects.get(pk=world["streaming"].job_id)
    assert streaming.status == "running" and streaming.completion_tokens > 0  # progress, as counts
    # the text lives in the medical tables
    assert M["subjective"] in Draft.objects.get(pk=world["draft"].pk).subjective
    assert M["rationale"] in TriageAssessment.objects.get(pk=world["triage"].pk).rationale
    # a clinician's own free medical prompt is theirs: kept on the job, shown to them only
    assert M["output"] in GenerationJob.objects.get(pk=world["free"].pk).output


def test_audit_details_hold_no_patient_text(world):
    details = json.dumps(list(AuditEvent.objects.values("action", "object_type", "object_id", "detail")))
    assert MARK not in details, _markers_in(details)


def test_a_crashing_medical_runner_logs_and_raises_no_patient_text(world, monkeypatch, caplog):
    from apps.generation import registry
    from apps.generation.jobs import JobCrashed

    spec = kind_get("medical.triage")

    def crash(ctx):
        raise ValueError(f"could not read {M['complaint']}")

    monkeypatch.setitem(registry._KINDS, spec.name, registry.JobKind(
        name=spec.name, run=crash, domain=spec.domain, on_end=spec.on_end, clinical=True, what=spec.what,
        uses_model=False))
    triage = services.triage_request(encounter=world["encounter"], actor=world["owner"])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(JobCrashed) as raised:
        job_dispatch(job_id=triage.job_id)
    import traceback

    shown = "".join(traceback.format_exception(raised.value)) + caplog.text
    assert MARK not in shown and "ValueError" in shown
    job = GenerationJob.objects.get(pk=triage.job_id)
    assert (job.status, job.error) == ("failed", "ValueError")
    assert MARK not in _row_text(job)


def test_the_scrub_migration_removes_clinical_text_from_stored_medical_jobs(world):
    job_ids = world["ids"]["job_id"][:3]
    GenerationJob.objects.filter(pk=job_ids[0]).update(output=f"old output {M['subjective']}",
                                                       error=f"ValueError: {M['complaint']}")
    GenerationJob.objects.filter(pk=job_ids[1]).update(error=f"section plan: engine said {M['plan']}",
                                                       prompt=f"Draft for {M['complaint']}")
    GenerationJob.objects.filter(pk=job_ids[2]).update(error="the draft ran past its time limit")
    migration = importlib.import_module("apps.medical.migrations.0003_scrub_clinical_text_from_jobs")
    migration.scrub_medical_jobs(django_apps, None)
    rows = {j.pk: j for j in GenerationJob.objects.filter(pk__in=job_ids)}
    assert all(MARK not in _row_text(j) and j.output == "" for j in rows.values())
    assert rows[job_ids[0]].error == "ValueError"
    assert rows[job_ids[1]].error == "section plan: the model request failed"
    assert rows[job_ids[1]].prompt == "Medical draft (prompt removed)"
    assert re.fullmatch(r"Medical triage of encounter \d+", rows[job_ids[0]].prompt)  # id-only prompts stay
    assert rows[job_ids[2]].error == "the draft ran past its time limit"
    free = GenerationJob.objects.get(pk=world["free"].pk)  # a clinician's own job keeps its text
    assert M["output"] in free.output
    assert Encounter.objects.filter(pk=world["encounter"].pk, chief_complaint__contains=M["complaint"]).exists()


def test_monitoring_keeps_only_numbers_of_medical_requests(world, settings):
    """The medical requests are observed and snapshotted (windows of one request) with the real tokenizer and
    embedding model: their input features stay in apps.medical; the monitoring tables, page and API hold no text."""
    from django.core import serializers

    from apps.medical.models import MonitoringInput
    from apps.monitoring import services as monitoring
    from apps.monitoring.models import Alert, ConsistencyCheck, Observation, ObservationInput, Snapshot

    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 1
    medical_jobs = set(Observation.objects.filter(domain="medical").values_list("job_id", flat=True))
    assert medical_jobs == {world["triage"].job_id, world["draft"].job_id, world["free"].pk}
    assert monitoring.snapshots_compute()["snapshots"] > 0
    assert set(MonitoringInput.objects.values_list("job_id", flat=True)) == medical_jobs
    assert not ObservationInput.objects.filter(observation__domain="medical").exists()
    dumped = serializers.serialize("json", [*Observation.objects.all(), *Snapshot.objects.all(),
                                            *Alert.objects.all(), *ConsistencyCheck.objects.all(),
                                            *ObservationInput.objects.all()])
    assert MARK not in dumped
    seen = _get_all(world["admin"], ["/monitoring/", "/api/v1/monitoring/snapshots/?limit=200",
                                     "/api/v1/monitoring/alerts/"])
    assert {url: status for url, (status, _) in seen.items()} == dict.fromkeys(seen, 200)
    assert not any(MARK in body for _, body in seen.values())
    assert AuditEvent.objects.filter(action="medical_monitoring_input.compute").exists()
    assert AuditEvent.objects.filter(action="medical_monitoring_input.read").exists()
