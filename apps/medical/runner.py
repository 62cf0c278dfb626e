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
from apps.medical.closed_sets import codes_schema, icd_candidates, medications_schema
from apps.medical.models import Draft, TriageAssessment
from apps.medical.prompts import (
    SOAP_SECTIONS,
    SYSTEM,
    TRIAGE_SCHEMA,
    codes_prompt,
    medications_prompt,
    parse_json_object,
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


def triage_request_of(*, job_id: int) -> dict:
    """The generate request of the triage job `job_id` (its encounter's prompt, system text and schema): what
    monitoring's consistency runner samples again. The request stays in the worker's memory."""
    triage = TriageAssessment.objects.select_related("encounter").get(job_id=job_id)
    return {"prompt": make_triage_prompt(triage.encounter), "system": SYSTEM, "json_schema": TRIAGE_SCHEMA}


def draft_run(ctx: JobContext) -> None:
    draft = Draft.objects.select_related("encounter").get(job_id=ctx.job_id)
    encounter = draft.encounter
    sections, codes_text, medications_text = draft_generate(
        encounter, triage_level=draft.triage_level or services.latest_triage_level(encounter),
        section_tokens=draft.section_tokens, codes_tokens=draft.codes_tokens, adapter=ctx.job.adapter,
        generate_many=ctx.generate_many, job_id=ctx.job_id,
    )
    services.draft_record(
        job_id=ctx.job_id, attempt=ctx.attempt, sections=sections, codes_text=codes_text,
        medications_text=medications_text, finish_reason="stop", prompt_tokens=ctx.prompt_tokens,
        completion_tokens=ctx.completion_tokens, adapter_label=ctx.job.adapter.label if ctx.job.adapter else "",
    )
    log.info("draft job %s attempt %s stored", ctx.job_id, ctx.attempt)


def draft_generate(encounter, *, triage_level, section_tokens: int, codes_tokens: int, generate_many,
                   adapter=None, job_id: int | None = None) -> tuple[dict[str, str], str, str]:
    """(sections, codes JSON, medications JSON) of a model draft of `encounter` (an Encounter or a
    clinical.TriageCase); generate_many: JobContext.generate_many or apps.generation.model_api.generate_texts.

    The four SOAP sections in one engine batch, then the codes and the medications in another (they read
    the assessment and the plan). Codes and medications are generated under schemas of closed sets
    (apps.medical.closed_sets): a code that is not billable or not retrieved for this encounter, a drug not in
    the knowledge base, a dose outside its route's range cannot be written. A JSON answer that does not close
    within its token budget is asked once more with twice the budget; if it still does not, the draft says so
    (its generation note) and holds no codes or medications from it: leftovers are never parsed."""
    def request(name: str, prompt: str, max_tokens: int, schema: dict | None = None) -> dict:
        return {"step": f"section {name}", "label": name, "prompt": prompt, "adapter": adapter,
                "system": SYSTEM, "max_tokens": max_tokens, "json_schema": schema}

    results = generate_many([
        request(name, section_prompt(encounter, instruction, triage_level=triage_level), section_tokens)
        for name, instruction in SOAP_SECTIONS
    ])
    sections = {name: r.text for (name, _), r in zip(SOAP_SECTIONS, results, strict=True)}
    candidates = icd_candidates(sections["assessment"], encounter.chief_complaint)
    coded = [
        request("codes", codes_prompt(encounter, assessment=sections["assessment"], candidates=candidates),
                codes_tokens, codes_schema(candidates)),
        request("medications", medications_prompt(encounter, plan=sections["plan"]), codes_tokens,
                medications_schema()),
    ]
    answers = [r.text for r in generate_many(coded)]
    unclosed = [i for i, text in enumerate(answers) if parse_json_object(text) is None]
    if unclosed:
        log.info("draft job %s: %s JSON not closed; asked again with twice the budget", job_id, len(unclosed))
        again = generate_many([{**coded[i], "max_tokens": 2 * coded[i]["max_tokens"]} for i in unclosed])
        for i, r in zip(unclosed, again, strict=True):
            answers[i] = r.text
    return sections, answers[0], answers[1]
