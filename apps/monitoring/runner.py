"""The runner of triage consistency samples (kind "monitoring.triage_consistency", queue gpu, low priority): the
observed triage's prompt sampled k times in one engine batch; only the levels are stored (the model's text and the
patient's facts stay in this function). Registered in MonitoringConfig.ready()."""
from __future__ import annotations

from apps.generation.jobs import JobContext
from apps.monitoring import services
from apps.monitoring.models import ConsistencyCheck


def consistency_run(ctx: JobContext) -> None:
    from apps.medical.runner import triage_request_of

    check = ConsistencyCheck.objects.select_related("observation").get(job_id=ctx.job_id)
    request = triage_request_of(job_id=check.observation.job_id)
    results = ctx.generate_many([
        {**request, "step": f"sample {i + 1}", "label": "sample", "adapter": ctx.job.adapter,
         "max_tokens": ctx.job.max_tokens, "temperature": ctx.job.temperature, "seed": i}
        for i in range(check.k)
    ])
    levels = [_level(result.text) for result in results]
    services.consistency_record(job_id=ctx.job_id, attempt=ctx.attempt, levels=levels,
                                prompt_tokens=ctx.prompt_tokens, completion_tokens=ctx.completion_tokens)


def _level(text: str) -> int | None:
    from apps.medical.services import parse_triage_output

    return parse_triage_output(text)[0]

