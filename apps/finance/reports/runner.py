"""The runner of report jobs (kind "finance.report"): generate the report's sections in order, each streamed
into the page, each stored once by the job's current attempt."""
from __future__ import annotations

from django.conf import settings

from apps.finance.models import Report, ReportRun
from apps.finance.reports import services
from apps.finance.reports.prompts import RATING_SCHEMA, SECTIONS, section_prompt, tidy_model_text
from apps.generation.jobs import JobContext, JobStale


def report_run(ctx: JobContext) -> None:
    run = ReportRun.objects.select_related("report__company").get(job_id=ctx.job_id)
    for spec in SECTIONS:
        if not run.section_kind or spec.kind == run.section_kind:
            _section_run(ctx, report=run.report, spec=spec)
    services.report_run_end(job_id=ctx.job_id, attempt=ctx.attempt, prompt_tokens=ctx.prompt_tokens,
                            completion_tokens=ctx.completion_tokens)


def _section_run(ctx: JobContext, *, report: Report, spec) -> None:
    from apps.finance.analytics import FactSet

    ids = {"report_id": report.pk, "kind": spec.kind, "job_id": ctx.job_id, "attempt": ctx.attempt}
    state = services.section_begin(**ids)
    if state == "stale":
        raise JobStale
    if state == "done":  # written by an earlier delivery of this job
        return
    if not spec.generated:
        services.section_store(**ids, text=services.disclosure_text())
        return

    facts = FactSet.from_json(report.facts)
    system, prompt = section_prompt(spec.kind, company_name=report.company.name, currency=report.currency,
                                    facts=facts)
    budget = settings.PLUMBLINE_REPORT_SECTION_TOKENS
    structured = spec.kind == "rating"
    if structured:
        budget = max(budget, settings.PLUMBLINE_REPORT_RATING_TOKENS)
    result = ctx.generate(
        step=f"section {spec.kind}", label=spec.kind,
        also=lambda text: services.section_live_text(report_id=report.pk, kind=spec.kind, text=text),
        prompt=prompt, adapter=ctx.job.adapter, system=system, max_tokens=budget,
        json_schema=RATING_SCHEMA if structured else None,
    )
    data = None
    text = result.text.strip() if structured else tidy_model_text(result.text, truncated=result.finish_reason == "length")
    if structured:
        from apps.finance.reports.rating import rating_resolve

        text, data = rating_resolve(text, facts, price=report.price_per_share, currency=report.currency,
                                    rel_tol=services.TARGET_PRICE_REL_TOL)
        data["finish_reason"] = result.finish_reason
    if not text:
        text = "(the model wrote nothing for this section)"
    services.section_store(**ids, text=text, data=data)
