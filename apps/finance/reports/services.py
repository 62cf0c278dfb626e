"""Writes of research reports: start, the worker's section writes, edit, regenerate, approve, export.

A report's generation is one job of kind "finance.report", submitted through apps.generation (job_submit) and
run by apps.finance.reports.runner. A job may be delivered more than once; a section version is written only
by the job's current attempt (job_owned) and at most once per (section, job), so a redelivered job neither
duplicates sections nor versions.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.core.exceptions import ApplicationError
from apps.finance.models import Report, ReportRun, ReportSection, ReportSectionVersion
from apps.finance.reports import grounding_store
from apps.finance.reports.prompts import DISCLOSURE, SECTION_KINDS, SECTIONS, section_spec
from apps.finance.reports.selectors import report_author_ids

if TYPE_CHECKING:
    from apps.generation.models import GenerationJob

Status = Report.Status
SectionStatus = ReportSection.Status

SENSITIVITY_WACC_STEPS = (-0.01, -0.005, 0.0, 0.005, 0.01)
SENSITIVITY_GROWTH_STEPS = (-0.005, 0.0, 0.005)
TARGET_PRICE_REL_TOL = 0.05  # the model's target counts as grounded within 5% of a valuation fact


# --- facts -----------------------------------------------------------------------------------------------
def _dcf_inputs(*, wacc: float, terminal_growth: float, forecast_years: int):
    from apps.finance.analytics import DcfInputs

    return DcfInputs(wacc=wacc, terminal_growth=terminal_growth, forecast_years=forecast_years)


def facts_compute(*, company, wacc: float, terminal_growth: float, forecast_years: int) -> tuple[list, dict]:
    """(FactSet.to_json(), sensitivity grid as JSON) of the company's statements with these DCF inputs."""
    from apps.finance.analytics import compute_facts, dcf_sensitivity
    from apps.finance.selectors import peers_for_company, periods_for_company

    periods = periods_for_company(company)
    if not periods:
        raise ApplicationError(f"{company.name} has no financial statements to report on", field="company")
    dcf = _dcf_inputs(wacc=wacc, terminal_growth=terminal_growth, forecast_years=forecast_years)
    price = float(company.price_per_share) if company.price_per_share is not None else None
    facts = compute_facts(periods, price_per_share=price, dcf=dcf, peers=peers_for_company(company))
    wacc_values = [round(wacc + d, 4) for d in SENSITIVITY_WACC_STEPS]
    growth_values = [round(terminal_growth + d, 4) for d in SENSITIVITY_GROWTH_STEPS]
    grid = dcf_sensitivity(periods, dcf, wacc_values=wacc_values, growth_values=growth_values)
    values = [[_finite(v) for v in row] for row in grid.values]
    sensitivity = {
        "wacc_values": list(grid.wacc_values),
        "growth_values": list(grid.growth_values),
        "values": values,
        "reasons": _jsonable(getattr(grid, "reasons", None)),
        "base_wacc": wacc,
        "base_growth": terminal_growth,
    }
    return facts.to_json(), sensitivity


def _finite(v):
    return float(v) if v is not None and math.isfinite(float(v)) else None


def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _validate_dcf(*, wacc: float, terminal_growth: float, forecast_years: int) -> None:
    if not 0.0 < wacc < 0.5:
        raise ApplicationError(f"wacc must be between 0 and 0.5 (a fraction), got {wacc}", field="wacc")
    if not -0.05 <= terminal_growth < 0.2:
        raise ApplicationError(
            f"terminal_growth must be between -0.05 and 0.2 (a fraction), got {terminal_growth}",
            field="terminal_growth",
        )
    if terminal_growth >= wacc:
        raise ApplicationError(
            f"terminal_growth ({terminal_growth}) must be below wacc ({wacc}) for a finite terminal value",
            field="terminal_growth",
        )
    if not 1 <= forecast_years <= 30:
        raise ApplicationError(f"forecast_years must be 1..30, got {forecast_years}", field="forecast_years")


# --- start a report ---------------------------------------------------------------------------------
REPORT_JOB_KIND = "finance.report"


def _submit_job(*, report: Report, owner, section_kind: str = "", request=None) -> GenerationJob:
    """The report's generation job (submitted through apps.generation) and the run that links it to the report."""
    from apps.generation.services import job_submit

    what = f"section {section_kind}" if section_kind else f"sections {', '.join(SECTION_KINDS)}"
    job = job_submit(
        kind=REPORT_JOB_KIND, owner=owner, adapter=report.adapter, request=request,
        prompt=f"Research report {report.pk} on {report.company.name}: {what}",
        max_tokens=settings.PLUMBLINE_REPORT_SECTION_TOKENS, detail={"report": report.pk},
    )
    ReportRun.objects.create(report=report, job=job, section_kind=section_kind)
    return job


@transaction.atomic
def report_create(
    *,
    owner,
    company,
    wacc: float | None = None,
    terminal_growth: float | None = None,
    forecast_years: int | None = None,
    request=None,
) -> tuple[Report, GenerationJob]:
    """Write the report (facts snapshot, empty sections) and its generation job; enqueue it on commit."""
    from apps.generation.model_api import adapter_for_domain

    wacc = settings.PLUMBLINE_REPORT_DEFAULT_WACC if wacc is None else float(wacc)
    terminal_growth = settings.PLUMBLINE_REPORT_DEFAULT_TERMINAL_GROWTH if terminal_growth is None else float(
        terminal_growth
    )
    forecast_years = settings.PLUMBLINE_REPORT_DEFAULT_FORECAST_YEARS if forecast_years is None else int(
        forecast_years
    )
    _validate_dcf(wacc=wacc, terminal_growth=terminal_growth, forecast_years=forecast_years)
    facts, sensitivity = facts_compute(
        company=company, wacc=wacc, terminal_growth=terminal_growth, forecast_years=forecast_years
    )
    adapter = adapter_for_domain("finance")
    report = Report.objects.create(
        company=company,
        team=company.team,
        owner=owner,
        title=f"{company.name} — research report",
        status=Status.GENERATING,
        wacc=wacc,
        terminal_growth=terminal_growth,
        forecast_years=forecast_years,
        price_per_share=float(company.price_per_share) if company.price_per_share is not None else None,
        currency=company.currency,
        facts=facts,
        sensitivity=sensitivity,
        model_name=settings.PLUMBLINE_MODEL,
        adapter=adapter,
        adapter_label=adapter.label if adapter is not None else "",
    )
    ReportSection.objects.bulk_create(
        ReportSection(report=report, kind=spec.kind, position=i) for i, spec in enumerate(SECTIONS)
    )
    job = _submit_job(report=report, owner=owner, request=request)
    audit_log(
        actor=owner, action="finance_report.create", obj=report, request=request,
        detail={"company": company.pk, "job": job.pk},
    )
    return report, job


def _lock_unfrozen(report: Report, *, doing: str) -> Report:
    report = Report.objects.select_for_update().get(pk=report.pk)
    if report.is_frozen:
        raise ApplicationError(
            f"report {report.pk} was approved on {report.approved_at:%Y-%m-%d} and is frozen: it cannot be {doing}",
            status=409, code="frozen",
        )
    return report


def _section(report: Report, kind: str) -> ReportSection:
    if kind not in SECTION_KINDS:
        raise ApplicationError(f"unknown section {kind!r}; expected one of {', '.join(SECTION_KINDS)}", field="section")
    return ReportSection.objects.select_for_update().get(report=report, kind=kind)


@transaction.atomic
def report_section_regenerate(*, report: Report, kind: str, actor, request=None) -> GenerationJob:
    """A new job that writes a new model version of one section."""
    report = _lock_unfrozen(report, doing="regenerated")
    section = _section(report, kind)
    if not section_spec(kind).generated:
        raise ApplicationError(f"section {kind} is fixed text; it is not generated", field="section")
    if report.status == Status.GENERATING:
        raise ApplicationError(
            f"report {report.pk} is still generating; wait until it ends", status=409, code="busy"
        )
    section.status, section.live_text = SectionStatus.PENDING, ""
    section.save(update_fields=["status", "live_text", "updated_at"])
    report.status, report.error = Status.GENERATING, ""
    report.save(update_fields=["status", "error", "updated_at"])
    job = _submit_job(report=report, owner=actor, section_kind=kind, request=request)
    audit_log(actor=actor, action="finance_report.regenerate", obj=report, request=request,
              detail={"section": kind, "job": job.pk})
    return job


@transaction.atomic
def report_section_edit(*, report: Report, kind: str, text: str, actor, request=None) -> ReportSectionVersion:
    """A new version of the section by `actor`; its numbers are grounded against the report's facts."""
    report = _lock_unfrozen(report, doing="edited")
    if report.status == Status.GENERATING:
        raise ApplicationError(f"report {report.pk} is still generating; wait until it ends", status=409, code="busy")
    section = _section(report, kind)
    if kind == "disclosure":
        raise ApplicationError("the disclosure is fixed text; it cannot be edited", field="section")
    text = text.strip()
    if not text:
        raise ApplicationError("text must not be empty", field="text")
    if len(text) > settings.PLUMBLINE_REPORT_MAX_SECTION_CHARS:
        raise ApplicationError(
            f"text is {len(text)} characters; the limit is {settings.PLUMBLINE_REPORT_MAX_SECTION_CHARS}", field="text"
        )
    data = {}
    current = section.current
    if kind == "rating" and current is not None:
        data = {**current.data, "edited": True}
    # A person's rating text is checked too: the price target they type must be a computed fact.
    version = _version_add(section=section, report=report, text=text, author=actor.username, author_user=actor,
                           data=data, ground=section_spec(kind).grounded or kind == "rating")
    section.status = SectionStatus.DONE
    section.save(update_fields=["status", "updated_at"])
    audit_log(actor=actor, action="finance_report.edit", obj=report, request=request,
              detail={"section": kind, "version": version.number, "flags": len(version.flags)})
    return version


def _version_add(
    *, section, report, text, author, author_user=None, job_id=None, data=None, ground: bool | None = None
) -> ReportSectionVersion:
    checks, flags = ([], [])
    if section_spec(section.kind).grounded if ground is None else ground:
        checks, flags = grounding_store.ground(text, report.facts)
    last = section.versions.order_by("-number").values_list("number", flat=True).first() or 0
    return ReportSectionVersion.objects.create(
        section=section, number=last + 1, text=text, data=data or {}, author=author, author_user=author_user,
        job_id=job_id, checks=checks, flags=flags,
    )


@transaction.atomic
def report_dcf_update(
    *, report: Report, wacc: float, terminal_growth: float, forecast_years: int, actor, request=None
) -> Report:
    """New DCF inputs: the facts and sensitivity grid are computed again (from the company's current
    statements), every current version is grounded again against them, and the rating's price target is checked
    again (a new "system" version of the rating when the model wrote it). The prose is not rewritten: numbers it
    states that the new facts do not hold are flagged, and the analyst edits or regenerates those sections."""
    from apps.finance.analytics import FactSet
    from apps.finance.reports.rating import rating_resolve

    report = _lock_unfrozen(report, doing="revalued")
    if report.status == Status.GENERATING:
        raise ApplicationError(f"report {report.pk} is still generating; wait until it ends", status=409, code="busy")
    wacc, terminal_growth, forecast_years = float(wacc), float(terminal_growth), int(forecast_years)
    _validate_dcf(wacc=wacc, terminal_growth=terminal_growth, forecast_years=forecast_years)
    report.facts, report.sensitivity = facts_compute(
        company=report.company, wacc=wacc, terminal_growth=terminal_growth, forecast_years=forecast_years
    )
    report.wacc, report.terminal_growth, report.forecast_years = wacc, terminal_growth, forecast_years
    report.save(update_fields=["facts", "sensitivity", "wacc", "terminal_growth", "forecast_years", "updated_at"])
    for section in ReportSection.objects.select_for_update().filter(report=report):
        current = section.current
        if current is None:
            continue
        by_person = current.author not in (ReportSectionVersion.MODEL_AUTHOR, ReportSectionVersion.SYSTEM_AUTHOR)
        if section.kind == "rating" and not by_person and "model_output" in current.data:
            text, data = rating_resolve(current.data["model_output"], FactSet.from_json(report.facts),
                                        price=report.price_per_share, currency=report.currency,
                                        rel_tol=TARGET_PRICE_REL_TOL)
            if text != current.text:
                _version_add(section=section, report=report, text=text, author=ReportSectionVersion.SYSTEM_AUTHOR,
                             data={**data, "revalued": True})
        elif section_spec(section.kind).grounded or (section.kind == "rating" and by_person):
            current.checks, current.flags = grounding_store.ground(current.text, report.facts)
            current.save(update_fields=["checks", "flags"])
    audit_log(actor=actor, action="finance_report.revalue", obj=report, request=request,
              detail={"wacc": wacc, "terminal_growth": terminal_growth, "forecast_years": forecast_years})
    return report


def report_approve(*, report: Report, actor, request=None) -> Report:
    """Approve (freeze) a ready report. Four eyes: whoever wrote it (started it or edited a section's text)
    cannot approve it, as in the medical review. A refusal changes nothing and is audited with its code."""
    try:
        with transaction.atomic():
            return _approve(report=report, actor=actor, request=request)
    except ApplicationError as exc:
        audit_log(actor=actor, action="finance_report.approve_refused", obj=report, request=request,
                  detail={"code": exc.code})
        raise


def _approve(*, report: Report, actor, request=None) -> Report:
    report = _lock_unfrozen(report, doing="approved again")
    if report.status != Status.READY:
        raise ApplicationError(
            f"report {report.pk} is {report.status}; only a ready report can be approved", status=409, code="not_ready"
        )
    missing = [s.kind for s in report.sections.all() if s.current is None]
    if missing:
        raise ApplicationError(f"sections without text: {', '.join(missing)}", status=409, code="incomplete")
    if actor.pk in report_author_ids(report):
        raise ApplicationError("you wrote this report (started it or edited its text); another analyst must "
                               "approve it", status=403, code="own_report")
    report.status, report.approved_by, report.approved_at = Status.APPROVED, actor, timezone.now()
    report.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
    flags = sum(len(s.current.flags) for s in report.sections.all())
    audit_log(actor=actor, action="finance_report.approve", obj=report, request=request,
              detail={"open_flags": flags})
    return report


def report_export_audit(*, report: Report, actor, fmt: str, request=None) -> None:
    audit_log(actor=actor, action="finance_report.export", obj=report, request=request, detail={"format": fmt})


# --- what the worker writes (each write fenced by the job's attempt: apps.generation.services.job_owned) ------
@transaction.atomic
def section_begin(*, report_id: int, kind: str, job_id: int, attempt: int) -> str:
    """"go": this attempt writes the section now; "done": an earlier delivery of the job wrote it;
    "stale": the job was cancelled or a newer attempt owns it."""
    from apps.generation.services import job_owned

    if job_owned(job_id=job_id, attempt=attempt) is None:
        return "stale"
    section = ReportSection.objects.select_for_update().get(report_id=report_id, kind=kind)
    if section.versions.filter(job_id=job_id).exists():
        return "done"
    section.status, section.live_text = SectionStatus.GENERATING, ""
    section.save(update_fields=["status", "live_text", "updated_at"])
    return "go"


def section_live_text(*, report_id: int, kind: str, text: str) -> None:
    """The text streamed so far, for the report page (the job's progress writer calls it after each write)."""
    ReportSection.objects.filter(report_id=report_id, kind=kind).update(live_text=text, updated_at=timezone.now())


@transaction.atomic
def section_store(
    *, report_id: int, kind: str, job_id: int, attempt: int, text: str, data: dict | None = None
) -> ReportSectionVersion | None:
    """The model's version of a section by this job; None (nothing written) for a stale attempt or a repeat."""
    from apps.generation.services import job_owned

    if job_owned(job_id=job_id, attempt=attempt) is None:
        return None
    report = Report.objects.get(pk=report_id)
    section = ReportSection.objects.select_for_update().get(report=report, kind=kind)
    existing = section.versions.filter(job_id=job_id).first()
    if existing is not None:
        return None
    author = ReportSectionVersion.MODEL_AUTHOR if section_spec(kind).generated else ReportSectionVersion.SYSTEM_AUTHOR
    version = _version_add(section=section, report=report, text=text, author=author, job_id=job_id, data=data)
    section.status, section.live_text = SectionStatus.DONE, ""
    section.save(update_fields=["status", "live_text", "updated_at"])
    return version


def disclosure_text() -> str:
    return DISCLOSURE


def _settle(report: Report, *, error: str = "") -> None:
    """Sections still waiting fail; the report is ready when every section has text (approved stays approved)."""
    ReportSection.objects.filter(report=report, status__in=[SectionStatus.GENERATING, SectionStatus.PENDING]).update(
        status=SectionStatus.FAILED
    )
    complete = all(s.current is not None for s in report.sections.all())
    if report.status != Status.APPROVED:
        report.status = Status.READY if complete else Status.FAILED
        report.error = error[:4000]
        report.save(update_fields=["status", "error", "updated_at"])


@transaction.atomic
def report_run_end(*, job_id: int, attempt: int, prompt_tokens: int = 0, completion_tokens: int = 0) -> Report | None:
    """Every section of the run is written: end the job of this attempt and set the report's status."""
    from apps.generation.services import job_finish, job_owned

    if job_owned(job_id=job_id, attempt=attempt) is None:
        return None
    run = ReportRun.objects.get(job_id=job_id)
    report = Report.objects.select_for_update().get(pk=run.report_id)
    job_finish(job_id=job_id, attempt=attempt, output=f"report {report.pk}: sections written",
               finish_reason="stop", prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    from apps.monitoring.services import observation_outcome

    flags = ReportSectionVersion.objects.filter(job_id=job_id).values_list("flags", flat=True)
    observation_outcome(job_id=job_id, grounding_flags=sum(len(f or ()) for f in flags))  # for monitoring
    _settle(report)
    audit_log(actor=None, action=f"finance_report.{report.status}", obj=report, via="worker",
              detail={"job": job_id, "attempt": attempt})
    return report


def report_job_ended(*, job, error: str) -> None:
    """on_end of report jobs: the job failed or was cancelled (running or still queued) without its runner
    ending it. A report still generating from this run gets its status; called in the job's transaction."""
    run = ReportRun.objects.filter(job_id=job.pk).first()
    if run is None:
        return
    report = Report.objects.select_for_update().get(pk=run.report_id)
    if report.status != Status.GENERATING or ReportRun.objects.filter(report=report).first() != run:
        return
    _settle(report, error=error or f"the generation job was {job.status}")
    audit_log(actor=None, action=f"finance_report.{report.status}", obj=report, via="worker",
              detail={"job": job.pk, "attempt": job.attempts})
