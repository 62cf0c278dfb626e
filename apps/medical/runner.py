"""The gpu worker's side of medical jobs: ask the model (through apps.generation.model_api), store once."""
from __future__ import annotations

import logging
import time

from django.conf import settings

from apps.medical import services
from apps.medical.prompts import (
    CODES_SCHEMA,
    SOAP_SECTIONS,
    SYSTEM,
    TRIAGE_SCHEMA,
    codes_prompt,
    section_prompt,
)
from apps.medical.prompts import triage_prompt as make_triage_prompt

log = logging.getLogger(__name__)  # ids only: never patient facts or model text

FLUSH_INTERVAL_S = 0.25


def triage_run(*, job_id: int) -> None:
    from apps.generation.model_api import generate_text
    from apps.generation.services import job_start
    from apps.medical.models import TriageAssessment

    claimed = job_start(job_id=job_id)
    if claimed is None:
        log.info("triage job %s already ended; nothing to do", job_id)
        return
    job, attempt = claimed
    triage = TriageAssessment.objects.select_related("encounter").get(job_id=job_id)
    deadline = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT
    result = generate_text(
        prompt=make_triage_prompt(triage.encounter), adapter=job.adapter, system=SYSTEM,
        max_tokens=job.max_tokens, json_schema=TRIAGE_SCHEMA, deadline=deadline,
    )
    services.triage_record(
        job_id=job_id, attempt=attempt, text=result.text, finish_reason=result.finish_reason, error=result.error,
        prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
        adapter_label=result.adapter_label,
    )
    log.info("triage job %s attempt %s ended: %s", job_id, attempt, result.finish_reason)


class _Stale(Exception):
    """This delivery no longer owns the job (cancelled, or a newer attempt)."""


def draft_run(*, job_id: int) -> None:
    from apps.generation.model_api import generate_text
    from apps.generation.services import job_start
    from apps.medical.models import Draft

    claimed = job_start(job_id=job_id)
    if claimed is None:
        log.info("draft job %s already ended; nothing to do", job_id)
        return
    job, attempt = claimed
    draft = Draft.objects.select_related("encounter").get(job_id=job_id)
    encounter = draft.encounter
    triage_level = draft.triage_level or services.latest_triage_level(encounter)
    deadline = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT
    sections: dict[str, str] = {}
    tokens = [0, 0]  # prompt, completion

    def ask(section: str, prompt: str, max_tokens: int, schema: dict | None = None) -> str:
        last = [0.0]

        def on_text(text: str) -> bool:
            if time.monotonic() - last[0] < FLUSH_INTERVAL_S:
                return True
            last[0] = time.monotonic()
            return services.draft_progress(job_id=job_id, attempt=attempt, section=section, text=text,
                                           completion_tokens=tokens[1])

        result = generate_text(prompt=prompt, adapter=job.adapter, system=SYSTEM, max_tokens=max_tokens,
                               json_schema=schema, on_text=on_text, deadline=deadline)
        if result.finish_reason == "cancelled":
            raise _Stale
        if result.finish_reason in ("error", "deadline"):
            raise RuntimeError(f"section {section}: {result.error or 'the draft ran past its time limit'}")
        tokens[0] += result.prompt_tokens
        tokens[1] += result.completion_tokens
        return result.text

    try:
        for name, instruction in SOAP_SECTIONS:
            sections[name] = ask(
                name, section_prompt(encounter, instruction, triage_level=triage_level),
                draft.section_tokens,
            )
        codes_text = ask(
            "codes", codes_prompt(encounter, assessment=sections["assessment"], plan=sections["plan"]),
            draft.codes_tokens, CODES_SCHEMA,
        )
    except _Stale:
        log.info("draft job %s attempt %s is stale; stopping", job_id, attempt)
        return
    except RuntimeError as exc:
        services.draft_generation_fail(job_id=job_id, attempt=attempt, error=str(exc))
        return
    services.draft_record(
        job_id=job_id, attempt=attempt, sections=sections, codes_text=codes_text, finish_reason="stop",
        prompt_tokens=tokens[0], completion_tokens=tokens[1], adapter_label=job.adapter.label if job.adapter else "",
    )
    log.info("draft job %s attempt %s stored", job_id, attempt)
