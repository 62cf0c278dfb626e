"""Observations are written when a job of any kind ends successfully (the one job mechanism's job_finish), with the
outcome its app computes: the model's triage level, a draft's verification, a report's grounding flags. Medical
requests keep their input features in the medical app."""
from __future__ import annotations

import json

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from apps.accounts.models import AuditEvent
from apps.finance.reports import services as report_services
from apps.generation import services as job_services
from apps.generation.jobs import JobContext
from apps.generation.registry import kind_get
from apps.medical import services as medical
from apps.medical.models import MonitoringInput
from apps.medical.services.monitoring import monitoring_inputs_read
from apps.monitoring import services
from apps.monitoring.models import Observation, ObservationInput
from apps.monitoring.windows import unigrams_unpack
from tests.apps.finance.test_reports_factories import (
    analyst_in_team,
    make_company,
    make_team,
    write_all_sections,
)
from tests.apps.medical.factories import ENCOUNTER

pytestmark = pytest.mark.django_db


def _claim(job) -> JobContext:
    job, attempt = job_services.job_start(job_id=job.pk)
    return JobContext(job=job, attempt=attempt, kind=kind_get(job.kind))


def test_a_finished_text_job_is_observed_with_its_counts_and_durations(make_user):
    job = job_services.job_create(owner=make_user("analyst"), prompt="Summarise the quarter.", domain="finance")
    ctx = _claim(job)
    ctx.prompt_tokens, ctx.completion_tokens = 12, 7
    ctx.finish(output="A quiet quarter.")
    o = Observation.objects.get(job=job)
    assert (o.domain, o.kind, o.adapter, o.prompt_tokens, o.output_tokens) == ("finance", "generation.text", None, 12, 7)
    assert o.ttft_s is not None and o.ttft_s >= 0 and o.features_at is None
    assert job_services.job_finish(job_id=job.pk, attempt=ctx.attempt, output="again", finish_reason="stop",
                                   prompt_tokens=1, completion_tokens=1) is None  # a repeat observes nothing new
    assert Observation.objects.filter(job=job).count() == 1


def test_a_failed_job_is_not_observed(make_user):
    job = job_services.job_create(owner=make_user("analyst"), prompt="Summarise.", domain="general")
    ctx = _claim(job)
    job_services.job_fail(job_id=job.pk, attempt=ctx.attempt, error="boom")
    assert not Observation.objects.filter(job=job).exists()


def test_triage_and_draft_outcomes_reach_their_observations(make_user):
    owner = make_user("clinician")
    enc = medical.encounter_create(created_by=owner, data=ENCOUNTER)
    triage = medical.triage_request(encounter=enc, actor=owner)
    ctx = _claim(triage.job)
    medical.triage_record(job_id=ctx.job_id, attempt=ctx.attempt, text=json.dumps({"esi_level": 3}),
                          finish_reason="stop", prompt_tokens=30, completion_tokens=9)
    o = Observation.objects.get(job=triage.job)
    assert (o.domain, o.kind, o.triage_level, o.prompt_tokens) == ("medical", "medical.triage", 3, 30)

    draft = medical.draft_request(encounter=enc, actor=owner)
    ctx = _claim(draft.job)
    medical.draft_record(job_id=ctx.job_id, attempt=ctx.attempt, sections={"subjective": "Chest pain."},
                         codes_text=json.dumps({"icd_codes": [], "medications": []}), finish_reason="stop")
    assert Observation.objects.get(job=draft.job).verification == ""  # not verified yet
    medical.draft_verify(draft_id=draft.pk)
    draft.refresh_from_db()
    assert Observation.objects.get(job=draft.job).verification == draft.verification != ""


def test_an_unusable_triage_proposal_is_observed_as_level_0(make_user):
    owner = make_user("clinician")
    enc = medical.encounter_create(created_by=owner, data=ENCOUNTER)
    triage = medical.triage_request(encounter=enc, actor=owner)
    ctx = _claim(triage.job)
    medical.triage_record(job_id=ctx.job_id, attempt=ctx.attempt, text="not json", finish_reason="stop")
    assert Observation.objects.get(job=triage.job).triage_level == 0


def test_a_report_run_is_observed_with_its_grounding_flags(make_user):
    analyst = analyst_in_team(make_user, make_team())
    report, job = report_services.report_create(owner=analyst, company=make_company(team=analyst.team,
                                                                                    created_by=analyst))
    write_all_sections(report, {"summary": "Revenue was 987654 in 2024 and margins were 93%."})
    o = Observation.objects.get(job=job)
    assert o.kind == "finance.report" and o.grounding_flags is not None and o.grounding_flags >= 1


def _tokenize(text: str) -> list[int]:  # the deployed tokenizer is tested below once; a stand-in keeps these fast
    return [len(word) for word in text.split()]


def _embed(texts: list[str]) -> np.ndarray:
    return np.array([[len(t), t.count(" "), 1.0] for t in texts], dtype=np.float32)


def test_medical_input_features_stay_in_the_medical_app(make_user):
    clinician, analyst = make_user("clinician"), make_user("analyst")
    enc = medical.encounter_create(created_by=clinician, data=ENCOUNTER)
    triage = medical.triage_request(encounter=enc, actor=clinician)
    ctx = _claim(triage.job)
    medical.triage_record(job_id=ctx.job_id, attempt=ctx.attempt, text=json.dumps({"esi_level": 2}),
                          finish_reason="stop")
    text_job = job_services.job_create(owner=analyst, prompt="Compare two companies.", domain="finance")
    _claim(text_job).finish(output="Done.")

    assert services.observation_features_compute(tokenize=_tokenize, embed=_embed) == 2
    med, fin = Observation.objects.get(job=triage.job), Observation.objects.get(job=text_job)
    assert med.features_at and fin.features_at
    assert not ObservationInput.objects.filter(observation=med).exists()  # kept in apps.medical
    stored = MonitoringInput.objects.get(job=triage.job)
    ids, counts = unigrams_unpack(stored.unigrams)
    assert counts.sum() > 10 and len(bytes(stored.embedding)) == 3 * 4
    ids, counts = unigrams_unpack(fin.inputs.unigrams)  # word lengths of "Compare two companies."
    assert dict(zip(ids.tolist(), counts.tolist(), strict=True)) == {3: 1, 7: 1, 10: 1}
    assert np.frombuffer(bytes(fin.inputs.embedding), np.float32)[0] == 22
    event = AuditEvent.objects.get(action="medical_monitoring_input.compute")
    assert event.detail == {"jobs": [triage.job_id]} and event.actor is None

    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses medical inputs here
        ObservationInput.objects.create(observation=med, domain="medical", unigrams=b"", embedding=b"")

    inputs = monitoring_inputs_read(job_ids=[triage.job_id], purpose="test")
    assert inputs == {triage.job_id: (bytes(stored.unigrams), bytes(stored.embedding))}
    assert AuditEvent.objects.filter(action="medical_monitoring_input.read", detail__purpose="test").count() == 1


def test_features_use_the_deployed_tokenizer_and_the_embedding_model(make_user):
    job = job_services.job_create(owner=make_user("analyst"), prompt="Revenue grew by a tenth.", domain="general")
    _claim(job).finish(output="ok")
    assert services.observation_features_compute() == 1
    o = Observation.objects.get(job=job)
    from apps.generation.model_api import token_ids

    assert unigrams_unpack(o.inputs.unigrams)[1].sum() == len(token_ids("Revenue grew by a tenth.")) > 3
    vector = np.frombuffer(bytes(o.inputs.embedding), np.float32)
    assert vector.shape == (384,) and np.isfinite(vector).all() and np.linalg.norm(vector) > 0
