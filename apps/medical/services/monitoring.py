"""Input features of medical-domain jobs for apps.monitoring (drift of what reaches the medical adapters).

The features (token unigram counts, a sentence embedding) can reconstruct clinical text, so they are computed and
stored here (MonitoringInput) and leave this app only as arrays in the memory of the snapshot task, which keeps
statistics alone. Both the computation (a system read of the encounters) and each read are audited, by job ids.
"""
from __future__ import annotations

import numpy as np
from django.db import transaction

from apps.accounts.audit import audit_log
from apps.core.db import values_list_binary
from apps.medical.models import Draft, MonitoringInput, TriageAssessment


def _input_texts(jobs) -> dict[int, str]:
    """The model input each job stands for: the encounter's facts as the triage prompt renders them (triage and
    drafts), or the clinician's own prompt (a free medical job)."""
    from apps.medical.prompts import triage_prompt

    ids = [job.pk for job in jobs]
    encounters = {t.job_id: t.encounter for t in TriageAssessment.objects.filter(job_id__in=ids)
                  .select_related("encounter")}
    encounters.update({d.job_id: d.encounter for d in Draft.objects.filter(job_id__in=ids)
                       .select_related("encounter")})
    return {job.pk: triage_prompt(encounters[job.pk]) if job.pk in encounters else job.prompt for job in jobs}


@transaction.atomic
def monitoring_inputs_compute(*, jobs, tokenize, embed) -> list[int]:
    """Compute and store the input features of these medical-domain jobs (those without them); returns the job
    ids stored. `tokenize(text) -> token ids`, `embed(texts) -> (n, d) array`."""
    from apps.monitoring.windows import unigrams_pack

    have = set(MonitoringInput.objects.filter(job_id__in=[job.pk for job in jobs]).values_list("job_id", flat=True))
    jobs = [job for job in jobs if job.pk not in have]
    if not jobs:
        return []
    texts = _input_texts(jobs)
    vectors = np.asarray(embed([texts[job.pk] for job in jobs]), dtype=np.float32)
    MonitoringInput.objects.bulk_create(
        MonitoringInput(job_id=job.pk, unigrams=unigrams_pack(tokenize(texts[job.pk])), embedding=vectors[i].tobytes())
        for i, job in enumerate(jobs)
    )
    stored = [job.pk for job in jobs]
    audit_log(actor=None, action="medical_monitoring_input.compute", via="worker", object_type="generation.job",
              detail={"jobs": stored})
    return stored


def monitoring_inputs_read(*, job_ids, purpose: str) -> dict[int, tuple[bytes, bytes]]:
    """job id -> (unigram pairs, float32 embedding) as stored (apps.monitoring.windows reads them) of the jobs (ids,
    or a query of ids) that have input features, for a monitoring statistic; audited (a system read, by job ids:
    their count and range). The caller keeps only statistics."""
    rows = values_list_binary(MonitoringInput.objects.filter(job_id__in=job_ids), "job_id", "unigrams", "embedding")
    out = {job_id: (bytes(unigrams), bytes(embedding)) for job_id, unigrams, embedding in rows}
    audit_log(actor=None, action="medical_monitoring_input.read", via="worker", object_type="generation.job",
              detail={"purpose": purpose[:64], "jobs": len(out), "first": min(out, default=None),
                      "last": max(out, default=None)})
    return out
