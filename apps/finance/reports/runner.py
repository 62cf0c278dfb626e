"""The runner of report jobs (kind "finance.report"): generate the report's sections in order, each streamed
into the page, each stored once by the job's current attempt."""
from __future__ import annotations

from django.conf import settings

from apps.finance.models import Report, ReportRun
from apps.finance.reports import services
from apps.finance.reports.prompts import (
    RATING_SCHEMA,
    SECTIONS,
    section_prompt,
    section_reference_keys,
    tidy_model_text,
)
from apps.finance.reports.references import reference_grammar, render
from apps.generation.jobs import JobContext, JobStale


def report_run(ctx: JobContext) -> None:
    """Every section this run asks for: the deterministic ones stored at once, the generated ones decoded
    together as one engine batch (they are independent: each prompt is built from the facts only), each
    streamed into the page and stored once by the job's current attempt."""
    from apps.finance.analytics import FactSet

    run = ReportRun.objects.select_related("report__company").get(job_id=ctx.job_id)
    report = run.report
    facts = FactSet.from_json(report.facts)
    pending = []
    for spec in SECTIONS:
        if run.section_kind and spec.kind != run.section_kind:
            continue
        ids = {"report_id": report.pk, "kind": spec.kind, "job_id": ctx.job_id, "attempt": ctx.attempt}
        state = services.section_begin(**ids)
        if state == "stale":
            raise JobStale
        if state == "done":  # written by an earlier delivery of this job
            continue
        if not spec.generated:
            services.section_store(**ids, text=services.disclosure_text())
            continue
        pending.append((spec, ids))
    requests = []
    for spec, _ids in pending:
        request = section_request(spec, company_name=report.company.name, currency=report.currency, facts=facts,
                                  adapter=ctx.job.adapter)
        if spec.grounded:  # the job row and the page show figures, never raw {{references}}
            request["show"] = lambda text, facts=facts: render(text, facts, partial=True)
        request["also"] = _live_writer(report.pk, spec.kind)
        requests.append(request)
    results = ctx.generate_many(requests) if requests else []
    for (spec, ids), result in zip(pending, results, strict=True):
        _section_store(report=report, spec=spec, ids=ids, facts=facts, result=result)
    services.report_run_end(job_id=ctx.job_id, attempt=ctx.attempt, prompt_tokens=ctx.prompt_tokens,
                            completion_tokens=ctx.completion_tokens)


def _live_writer(report_id: int, kind: str):
    return lambda text: services.section_live_text(report_id=report_id, kind=kind, text=text)


def section_request(spec, *, company_name: str, currency: str, facts, adapter=None) -> dict:
    """The model request of a generated section (generate_texts' keywords plus step and label): the rating
    as bounded JSON, grounded prose under the section's fact-reference grammar."""
    system, prompt = section_prompt(spec.kind, company_name=company_name, currency=currency, facts=facts)
    budget = settings.PLUMBLINE_REPORT_SECTION_TOKENS
    structured = spec.kind == "rating"
    if structured:
        budget = max(budget, settings.PLUMBLINE_REPORT_RATING_TOKENS)
    # grounded prose: a grammar in which every figure is a reference to one of the section's facts
    grammar = reference_grammar(section_reference_keys(spec.kind, facts)) if spec.grounded else None
    return {
        "step": f"section {spec.kind}", "label": spec.kind, "prompt": prompt, "adapter": adapter,
        "system": system, "max_tokens": budget, "json_schema": RATING_SCHEMA if structured else None,
        "grammar": grammar,
    }


def section_prose(result, facts) -> str:
    """A prose section as stored: references rendered, repeats dropped, a sentence cut off by the budget dropped."""
    truncated = result.finish_reason == "length"
    # a cut-off text may end inside a reference ("{{net_margin."): left out, like an unfinished sentence
    return tidy_model_text(render(result.text, facts, partial=truncated), truncated=truncated)


def _section_store(*, report: Report, spec, ids: dict, facts, result) -> None:
    structured = spec.kind == "rating"
    data = None
    text = result.text.strip() if structured else section_prose(result, facts)
    if structured:
        from apps.finance.reports.rating import rating_resolve

        text, data = rating_resolve(text, facts, price=report.price_per_share, currency=report.currency,
                                    rel_tol=services.TARGET_PRICE_REL_TOL)
        data["finish_reason"] = result.finish_reason
    if not text:
        text = "(the model wrote nothing for this section)"
    services.section_store(**ids, text=text, data=data)
