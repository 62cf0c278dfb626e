"""Observed traffic for the monitoring tests, written in bulk (as if jobs had finished)."""
from __future__ import annotations

import numpy as np
from django.utils import timezone

from apps.generation.models import GenerationJob
from apps.monitoring.models import Observation, ObservationInput
from apps.monitoring.windows import unigrams_pack

DIM = 16  # small embeddings: the statistics do not care about the width


def observations(owner, n: int, *, domain: str = "finance", kind: str = "finance.report", adapter=None,
                 prompt_mean: float = 100.0, output_mean: float = 60.0, vocab: range = range(0, 50),
                 shift: float = 0.0, seed: int = 0, features: bool = True, **outcomes) -> list[Observation]:
    """n observations of finished jobs; prompt and output lengths ~ Normal(mean, 10% of mean), unigrams drawn from
    `vocab`, embeddings ~ Normal(shift, 1) (finance and general only: medical inputs never live here)."""
    rng = np.random.default_rng(seed)
    now = timezone.now()
    jobs = GenerationJob.objects.bulk_create(
        GenerationJob(kind=kind, owner=owner, domain=domain, adapter=adapter, prompt="observed", status="succeeded",
                      finished_at=now)
        for _ in range(n)
    )
    rows, inputs = [], []
    for job in jobs:
        tokens = rng.choice(np.array(vocab), size=20)
        o = Observation(
            job=job, domain=domain, kind=kind, adapter=adapter, created_at=now,
            prompt_tokens=max(1, int(rng.normal(prompt_mean, prompt_mean / 10))),
            output_tokens=max(1, int(rng.normal(output_mean, output_mean / 10))),
            ttft_s=float(rng.uniform(0.05, 0.2)), tokens_per_s=float(rng.uniform(20, 40)),
            features_at=now if features else None, **outcomes,
        )
        rows.append(o)
        if features and domain != "medical":
            inputs.append(ObservationInput(observation=o, domain=domain, unigrams=unigrams_pack(tokens),
                                           embedding=rng.normal(shift, 1, DIM).astype(np.float32).tobytes()))
    rows = Observation.objects.bulk_create(rows)
    for i in inputs:
        i.observation_id = i.observation.pk
    ObservationInput.objects.bulk_create(inputs)
    return rows


def adapter_version(owner, *, domain: str = "finance", name: str = "fin-lora"):
    from apps.adapters.models import AdapterVersion

    return AdapterVersion.objects.create(
        name=name, version=1, domain=domain, base_model="smollm2-135m-instruct", rank=4, alpha=8.0,
        target_modules=["q_proj"], size_bytes=1, sha256=f"{name}-w", config_sha256=f"{name}-c", uploaded_by=owner,
        eval_status="done")
