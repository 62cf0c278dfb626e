"""Reads of research reports, scoped to what the caller may see (their team's companies)."""
from __future__ import annotations

import difflib

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from apps.finance.models import Report, ReportRun, ReportSection, ReportSectionVersion
from apps.finance.reports import grounding_store
from apps.finance.reports.prompts import section_spec

# Rows of the financial-analysis table, in order (a row is shown when any year has the fact).
TABLE_METRICS = (
    "revenue", "revenue_growth_yoy", "gross_margin", "operating_margin", "ebitda_margin", "net_margin",
    "net_income", "eps_diluted", "fcf", "fcf_margin", "roe", "roa", "roic", "debt_to_equity",
    "net_debt_to_ebitda", "current_ratio", "quick_ratio", "interest_cover",
)


def reports_for_user(*, user) -> QuerySet[Report]:
    """Reports on the companies the user may see (their team's; admins all)."""
    from apps.finance.selectors import companies_for_user

    if not user.is_authenticated:
        return Report.objects.none()
    return Report.objects.filter(company__in=companies_for_user(user)).select_related(
        "company", "owner", "approved_by", "adapter"
    )


def report_for_user(*, user, report_id: int) -> Report:
    """The report, or 404 when it does not exist or belongs to another team."""
    return get_object_or_404(reports_for_user(user=user), pk=report_id)


def report_author_ids(report: Report) -> set[int]:
    """Ids of the users who wrote the report: its owner and whoever edited a section's text (four eyes: none of
    them may approve it)."""
    editors = ReportSectionVersion.objects.filter(section__report=report, author_user__isnull=False)
    return {report.owner_id, *editors.values_list("author_user_id", flat=True)}


def report_sections(report: Report) -> list[ReportSection]:
    return list(report.sections.prefetch_related(Prefetch("versions", queryset=ReportSectionVersion.objects.all())))


def report_current_job(report: Report):
    run = ReportRun.objects.filter(report=report).select_related("job").first()
    return run.job if run else None


def report_facts(report: Report):
    from apps.finance.analytics import FactSet

    return FactSet.from_json(report.facts)


def section_view(section: ReportSection) -> dict:
    """What a page or the API shows of a section: its current text, flags, highlighted pieces, live text."""
    current = section.current
    spec = section_spec(section.kind)
    return {
        "kind": section.kind,
        "title": spec.title,
        "status": section.status,
        "generated": spec.generated,
        "grounded": spec.grounded,
        "live_text": section.live_text,
        "version": current.number if current else None,
        "author": current.author if current else None,
        "text": current.text if current else "",
        "data": current.data if current else {},
        "flags": current.flags if current else [],
        "checks": current.checks if current else [],
        "unchecked": grounding_store.unchecked(current.checks) if current else 0,
        "segments": grounding_store.segments(current.text, current.checks) if current else [],
        "versions": len(section.versions.all()),
    }


def report_view(report: Report) -> dict:
    sections = [section_view(s) for s in report_sections(report)]
    return {"sections": sections, "flag_count": sum(len(s["flags"]) for s in sections)}


def section_versions(*, report: Report, kind: str) -> tuple[ReportSection, list[ReportSectionVersion]]:
    section = get_object_or_404(ReportSection, report=report, kind=kind)
    return section, list(section.versions.order_by("number"))


def version_diff(old: ReportSectionVersion | None, new: ReportSectionVersion) -> list[str]:
    """Unified diff, word-wrapped by sentence, between two versions of a section."""
    def lines(text: str) -> list[str]:
        return [s.strip() for s in text.replace(". ", ".\n").splitlines() if s.strip()]

    before = lines(old.text) if old else []
    return list(difflib.unified_diff(
        before, lines(new.text), fromfile=f"v{old.number}" if old else "(none)", tofile=f"v{new.number}", lineterm="",
        n=2,
    ))


# --- the exported document ------------------------------------------------------------------------------
def _financial_table(facts) -> tuple[list[str], list[list[str]]]:
    years = sorted({f.period for f in facts.facts.values() if f.period is not None and "." in f.key
                    and f.key.split(".", 1)[1].isdigit()})[-5:]
    rows = []
    for metric in TABLE_METRICS:
        cells = [facts.get(f"{metric}.{y}") for y in years]
        if not any(c is not None and c.value is not None for c in cells):
            continue
        label = next(c.label for c in cells if c is not None)
        rows.append([label] + [c.display if c is not None else "n/a" for c in cells])
    return ["Metric"] + [f"FY{y}" for y in years], rows


def _valuation_table(facts) -> list[list[str]]:
    return [[f.label, f.display] for f in facts.facts.values() if f.key.startswith(("dcf.", "peers."))]


def _sensitivity_table(report: Report) -> tuple[list[str], list[list[str]]]:
    grid = report.sensitivity or {}
    growths = grid.get("growth_values") or []
    columns = ["WACC \\ terminal growth"] + [f"{g:.1%}" for g in growths]
    rows = []
    for wacc, row in zip(grid.get("wacc_values") or [], grid.get("values") or [], strict=False):
        rows.append([f"{wacc:.1%}"] + [f"{v:,.2f}" if v is not None else "n/a" for v in row])
    return columns, rows


def sensitivity_grid(report: Report):
    from apps.finance.analytics import SensitivityGrid

    grid = report.sensitivity or {}
    if not grid.get("values"):
        return None
    return SensitivityGrid(
        wacc_values=grid["wacc_values"], growth_values=grid["growth_values"], values=grid["values"],
        reasons=grid.get("reasons") or {}, base_wacc=grid.get("base_wacc"), base_growth=grid.get("base_growth"),
    )


def report_tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    facts = report_facts(report)
    tables = []
    cols, rows = _financial_table(facts)
    if rows:
        tables.append(("Financial summary", cols, rows))
    valuation = _valuation_table(facts)
    if valuation:
        tables.append(("Valuation (DCF and peer multiples)", ["Measure", "Value"], valuation))
    cols, rows = _sensitivity_table(report)
    if rows:
        tables.append((f"DCF value per share ({report.currency}): sensitivity", cols, rows))
    return tables


def report_charts(report: Report) -> dict[str, list[tuple[str, str]]]:
    """Section kind -> [(title, SVG)]: revenue and margins under the financial analysis, the DCF sensitivity
    under the valuation."""
    from apps.finance.charts import revenue_margin_chart, sensitivity_chart

    charts = {"financial_analysis": [("Revenue and margins", revenue_margin_chart(report_facts(report)))]}
    grid = sensitivity_grid(report)
    if grid is not None:
        charts["valuation"] = [("DCF sensitivity (value per share)", sensitivity_chart(grid))]
    return charts


def report_provenance(report: Report) -> dict[str, str]:
    facts = report.facts or []
    return {
        "Report": f"#{report.pk} ({report.status})",
        "Company": f"{report.company.name} ({report.company.ticker})",
        "Model": report.model_name or "n/a",
        "Adapter": f"{report.adapter_label} (id {report.adapter_id})" if report.adapter_id else "none (base model)",
        "DCF inputs": f"WACC {report.wacc:.2%}, terminal growth {report.terminal_growth:.2%}, "
                      f"{report.forecast_years} forecast years",
        "Facts": f"{sum(1 for f in facts if f.get('value') is not None)} computed facts "
                 f"({len(facts)} in all), snapshot of {report.created_at:%Y-%m-%d %H:%M} UTC",
        "Created": f"{report.created_at:%Y-%m-%d %H:%M} UTC by {report.owner.username}",
        "Approved": (f"{report.approved_at:%Y-%m-%d %H:%M} UTC by {report.approved_by.username}"
                     if report.approved_at else "not approved"),
    }


def report_document(report: Report):
    """The ReportDocument that apps.finance.export renders to Markdown and PDF."""
    from apps.finance.charts import revenue_margin_chart, sensitivity_chart
    from apps.finance.export import DocChart, DocSection, DocTable, ReportDocument
    from apps.finance.reports.prompts import DISCLOSURE

    facts = report_facts(report)
    sections = []
    for section in report_sections(report):
        current = section.current
        if current is None:
            body, flags = "(not written)", []
        else:
            body = grounding_store.annotated(current.text, current.checks) if current.flags else current.text
            flags = list(current.flags)
            body += f"\n\n_Version {current.number}, by {current.author}._"
        sections.append(DocSection(heading=section_spec(section.kind).title, markdown_body=body, flags=flags))
    tables = [DocTable(title=t, columns=c, rows=r) for t, c, r in report_tables(report)]
    fact_rows = [[f.key, f.display, f.reason or f.formula] for f in facts.facts.values()]
    tables.append(DocTable(title="Facts this report was made from", columns=["Fact", "Value", "How / why"],
                           rows=fact_rows))
    charts = [DocChart(title="Revenue and margins", svg=revenue_margin_chart(facts))]
    grid = sensitivity_grid(report)
    if grid is not None:
        charts.append(DocChart(title="DCF sensitivity (value per share)", svg=sensitivity_chart(grid)))
    return ReportDocument(
        title=report.title,
        company_name=report.company.name,
        subtitle=f"{'Approved' if report.is_frozen else 'Draft'} research report · {report.currency}",
        sections=sections,
        tables=tables,
        charts=charts,
        provenance=report_provenance(report),
        disclaimer=DISCLOSURE,
    )
