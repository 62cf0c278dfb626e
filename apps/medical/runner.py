"""The runners of medical jobs (kinds "medical.triage", "medical.draft"): ask the model, store once.

They are registered in MedicalConfig.ready() and run by apps.generation's one job task. Logs hold ids only,
never patient facts or model text. Their kinds are clinical (JobKind.clinical): the job row gets token counts as
progress and no text; failures reach it as the exception's type only or as a message the runner composed without
patient data. The text is stored in this app's tables (services.triage_record, services.draft_record).
"""
from __future__ import annotations

import logging

from apps.generation.jobs import JobContext
from apps.medical import services
from apps.medical.models import Draft, TriageAssessment
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


def triage_run(ctx: JobContext) -> None:
    triage = TriageAssessment.objects.select_related("encounter").get(job_id=ctx.job_id)
    result = ctx.generate(
        step="triage", label="triage", prompt=make_triage_prompt(triage.encounter), adapter=ctx.job.adapter,
        system=SYSTEM, max_tokens=ctx.job.max_tokens, json_schema=TRIAGE_SCHEMA,
    )
    services.triage_record(
        job_id=ctx.job_id, attempt=ctx.attempt, text=result.text, finish_reason=result.finish_reason,
        prompt_tokens=ctx.prompt_tokens, completion_tokens=ctx.completion_tokens, adapter_label=result.adapter_label,
    )


def draft_run(ctx: JobContext) -> None:
    draft = Draft.objects.select_related("encounter").get(job_id=ctx.job_id)
    encounter = draft.encounter
    triage_level = draft.triage_level or services.latest_triage_level(encounter)

    def ask(section: str, prompt: str, max_tokens: int, schema: dict | None = None) -> str:
        return ctx.generate(step=f"section {section}", label=section, prompt=prompt, adapter=ctx.job.adapter,
                            system=SYSTEM, max_tokens=max_tokens, json_schema=schema).text

    sections = {
        name: ask(name, section_prompt(encounter, instruction, triage_level=triage_level), draft.section_tokens)
        for name, instruction in SOAP_SECTIONS
    }
    codes_text = ask("codes", codes_prompt(encounter, assessment=sections["assessment"], plan=sections["plan"]),
                     draft.codes_tokens, CODES_SCHEMA)
    services.draft_record(
        job_id=ctx.job_id, attempt=ctx.attempt, sections=sections, codes_text=codes_text, finish_reason="stop",
        prompt_tokens=ctx.prompt_tokens, completion_tokens=ctx.completion_tokens,
        adapter_label=ctx.job.adapter.label if ctx.job.adapter else "",
    )
    log.info("draft job %s attempt %s stored", ctx.job_id, ctx.attempt)
