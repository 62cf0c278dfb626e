"""The gpu worker's side of a report: generate its sections in order, streaming each into the page."""
from __future__ import annotations

import logging
import time

from django.conf import settings

from apps.finance.reports import services
from apps.finance.reports.models import Report, ReportRun
from apps.finance.reports.prompts import RATING_SCHEMA, SECTIONS, section_prompt, tidy_model_text

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.25  # how often streamed text is written for the live page


class _Stale(Exception):
    """This delivery no longer owns the job (cancelled, or a newer attempt)."""


def report_run(*, job_id: int) -> None:
    from apps.generation.services import job_start

    claimed = job_start(job_id=job_id)
    if claimed is None:
        log.info("report job %s already ended; nothing to do", job_id)
        services.report_run_orphaned(job_id=job_id)  # cancelled while queued: the report must not wait forever
        return
    job, attempt = claimed
    run = ReportRun.objects.select_related("report__company").get(job_id=job_id)
    report = run.report
    kinds = [s for s in SECTIONS if not run.section_kind or s.kind == run.section_kind]
    deadline = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT
    tokens = [0, 0]  # prompt and completion tokens of this delivery, all sections together
    try:
        for spec in kinds:
            _section_run(report=report, spec=spec, job=job, attempt=attempt, deadline=deadline, tokens=tokens)
    except _Stale:
        if services.job_cancel_requested(job_id=job_id, attempt=attempt):
            services.report_run_end(job_id=job_id, attempt=attempt, cancelled=True)
        else:
            log.info("report job %s attempt %s is stale; stopping", job_id, attempt)
        return
    except _SectionFailed as exc:
        services.report_run_end(job_id=job_id, attempt=attempt, error=str(exc))
        return
    services.report_run_end(job_id=job_id, attempt=attempt, prompt_tokens=tokens[0], completion_tokens=tokens[1])


class _SectionFailed(Exception):
    pass


def _section_run(*, report: Report, spec, job, attempt: int, deadline: float, tokens: list[int]) -> None:
    from apps.finance.analytics import FactSet
    from apps.generation.model_api import generate_text

    state = services.section_begin(report_id=report.pk, kind=spec.kind, job_id=job.pk, attempt=attempt)
    if state == "stale":
        raise _Stale
    if state == "done":  # written by an earlier delivery of this job
        return
    if not spec.generated:
        services.section_store(report_id=report.pk, kind=spec.kind, job_id=job.pk, attempt=attempt,
                               text=services.disclosure_text())
        return

    facts = FactSet.from_json(report.facts)
    system, prompt = section_prompt(spec.kind, company_name=report.company.name, currency=report.currency,
                                    facts=facts)
    last_flush = [0.0]

    def on_text(text: str) -> bool:
        if time.monotonic() - last_flush[0] < FLUSH_INTERVAL_S:
            return True
        last_flush[0] = time.monotonic()
        return services.section_stream(report_id=report.pk, kind=spec.kind, job_id=job.pk, attempt=attempt,
                                       text=text)

    budget = settings.PLUMBLINE_REPORT_SECTION_TOKENS
    structured = spec.kind == "rating"
    if structured:
        budget = max(budget, settings.PLUMBLINE_REPORT_RATING_TOKENS)
    result = generate_text(
        prompt=prompt, adapter=job.adapter, system=system, max_tokens=budget,
        json_schema=RATING_SCHEMA if structured else None, on_text=on_text, deadline=deadline,
    )
    tokens[0] += result.prompt_tokens
    tokens[1] += result.completion_tokens
    if result.finish_reason == "cancelled":
        raise _Stale
    if result.finish_reason in ("error", "deadline"):
        why = result.error or "the report ran past its time limit"
        raise _SectionFailed(f"section {spec.kind}: {why}")
    data = None
    text = result.text.strip() if structured else tidy_model_text(result.text, truncated=result.finish_reason == "length")
    if structured:
        from apps.finance.reports.rating import rating_resolve

        text, data = rating_resolve(text, facts, price=report.price_per_share, currency=report.currency,
                                    rel_tol=services.TARGET_PRICE_REL_TOL)
        data["finish_reason"] = result.finish_reason
    if not text:
        text = "(the model wrote nothing for this section)"
    services.section_store(report_id=report.pk, kind=spec.kind, job_id=job.pk, attempt=attempt, text=text,
                           data=data)
