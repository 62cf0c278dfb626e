"""Prediction consistency: k triage proposals sampled for the same encounter (a low-priority job on queue gpu), and
for drafts the share of verification-passing versions; below the threshold (0.85) an alert is raised."""
from __future__ import annotations

import json

import numpy as np
import pytest

from apps.accounts.models import AuditEvent
from apps.generation.models import GenerationJob
from apps.monitoring import services, stats
from apps.monitoring.models import Alert, ConsistencyCheck, Observation, Snapshot
from tests.apps.monitoring.factories import observations
from tests.conftest import wait_for_job


def _sampled(owner, observed: list[Observation], *, levels_of) -> None:
    """Store k=5 sampled levels per observed triage, as the consistency runner would."""
    jobs = GenerationJob.objects.bulk_create(
        GenerationJob(kind=services.CONSISTENCY_JOB_KIND, owner=owner, domain="medical", prompt="sample",
                      status="succeeded") for _ in observed)
    ConsistencyCheck.objects.bulk_create(
        ConsistencyCheck(observation=o, job=j, k=5, levels=levels_of(i), agreement=stats.agreement(levels_of(i)))
        for i, (o, j) in enumerate(zip(observed, jobs, strict=True)))


@pytest.mark.django_db
def test_an_adapter_that_answers_at_random_raises_a_consistency_alert(make_user, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    owner = make_user("clinician")
    rng = np.random.default_rng(0)
    steady = observations(owner, 50, domain="medical", kind="medical.triage", triage_level=3)
    _sampled(owner, steady, levels_of=lambda i: [3, 3, 3, 3, 3 if i % 10 else 2])
    noisy = observations(owner, 50, domain="medical", kind="medical.triage", triage_level=3, seed=1)
    randoms = [[int(x) for x in rng.integers(1, 6, 5)] for _ in noisy]
    _sampled(owner, noisy, levels_of=lambda i: randoms[i])

    services.snapshots_compute()
    values = dict(Snapshot.objects.filter(statistic="consistency", feature="triage_agreement")
                  .values_list("window", "value"))
    assert values[0] == pytest.approx(0.98) and values[1] < 0.7
    alert = Alert.objects.get(statistic="consistency")
    assert (alert.feature, alert.window, alert.reference_window, alert.threshold) == ("triage_agreement", 1, 0, 0.85)
    assert "below the consistency threshold 0.85" in alert.message
    assert AuditEvent.objects.filter(action="monitoring_alert.raise", object_id=str(alert.pk)).exists()
    # medical inputs were read from the medical app, audited
    assert AuditEvent.objects.filter(action="medical_monitoring_input.read").exists()


@pytest.mark.django_db
def test_drafts_that_mostly_fail_verification_raise_a_consistency_alert(make_user, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    owner = make_user("clinician")
    observations(owner, 25, domain="medical", kind="medical.draft", verification="passed")
    observations(owner, 25, domain="medical", kind="medical.draft", verification="failed", seed=1)
    services.snapshots_compute()
    snap = Snapshot.objects.get(statistic="consistency", feature="draft_verification_pass", window=0)
    assert snap.value == 0.5 and snap.n == 50
    assert Alert.objects.filter(snapshot=snap).exists()
    assert Snapshot.objects.get(statistic="rate", feature="verification_failed", window=0).value == 0.5


@pytest.mark.django_db
def test_a_window_waits_for_its_running_consistency_samples(make_user, settings):
    settings.PLUMBLINE_MONITORING_WINDOW_SIZE = 50
    owner = make_user("clinician")
    observed = observations(owner, 50, domain="medical", kind="medical.triage", triage_level=3)
    job = GenerationJob.objects.create(kind=services.CONSISTENCY_JOB_KIND, owner=owner, domain="medical",
                                       prompt="sample", status="queued")
    ConsistencyCheck.objects.create(observation=observed[0], job=job, k=5)
    assert services.snapshots_compute()["snapshots"] == 0
    job.status = "failed"
    job.save()
    assert services.snapshots_compute()["snapshots"] > 0


@pytest.mark.django_db
def test_sampling_follows_the_share_and_submits_a_low_priority_job(make_user, settings):
    from apps.medical import services as medical
    from tests.apps.medical.factories import ENCOUNTER

    owner = make_user("clinician")
    enc = medical.encounter_create(created_by=owner, data=ENCOUNTER)
    triage = medical.triage_request(encounter=enc, actor=owner)
    observed = observations(owner, 1, domain="medical", kind="medical.triage")[0]
    Observation.objects.filter(pk=observed.pk).update(job=triage.job)
    observed.refresh_from_db()
    assert services.consistency_maybe_sample(observation=observed, share=0.0) is None
    check = services.consistency_maybe_sample(observation=observed, share=1.0)
    assert check.k == settings.PLUMBLINE_MONITORING_CONSISTENCY_SAMPLES and check.agreement is None
    assert (check.job.kind, check.job.domain, check.job.status) == (services.CONSISTENCY_JOB_KIND, "medical", "queued")
    assert check.job.temperature == settings.PLUMBLINE_MONITORING_CONSISTENCY_TEMPERATURE > 0
    assert check.job.prompt == f"Consistency of triage job {triage.job_id}"  # ids only


@pytest.mark.worker
@pytest.mark.slow
def test_the_consistency_runner_samples_a_real_triage_on_the_worker(celery_worker, make_user, transactional_db,
                                                                    settings):
    """The real runner path once: a triage (stored without the model) is observed; its consistency job (k=2) runs
    on the worker with the real model, samples the triage's prompt and stores only the levels."""
    from apps.generation.jobs import JobContext
    from apps.generation.registry import kind_get
    from apps.generation.services import job_start
    from apps.medical import services as medical
    from tests.apps.medical.factories import ENCOUNTER

    settings.PLUMBLINE_MEDICAL_TRIAGE_TOKENS = 24  # the budget travels with the job
    settings.PLUMBLINE_MONITORING_CONSISTENCY_SAMPLES = 2
    owner = make_user("clinician")
    enc = medical.encounter_create(created_by=owner, data=ENCOUNTER)
    triage = medical.triage_request(encounter=enc, actor=owner)
    claimed, attempt = job_start(job_id=triage.job_id)  # taken before the worker could
    ctx = JobContext(job=claimed, attempt=attempt, kind=kind_get(claimed.kind))
    medical.triage_record(job_id=ctx.job_id, attempt=attempt, text=json.dumps({"esi_level": 2}),
                          finish_reason="stop", prompt_tokens=30, completion_tokens=9)
    observed = Observation.objects.get(job_id=triage.job_id)
    assert observed.domain == "medical" and observed.triage_level == 2
    check = services.consistency_maybe_sample(observation=observed, share=1.0)
    sample = wait_for_job(check.job_id, timeout=300, worker=celery_worker)
    assert sample.status == "succeeded", celery_worker.log()[-2000:]
    check.refresh_from_db()
    assert len(check.levels) == 2 and all(0 <= level <= 5 for level in check.levels)
    assert check.agreement == stats.agreement(check.levels)
    assert sample.output == "" and sample.completion_tokens > 0  # a clinical kind: counts, no text
    assert not Observation.objects.filter(job=sample).exists()  # monitoring's own sampling is not traffic
