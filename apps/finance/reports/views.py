"""Web pages of research reports: list and start, the live report page, edit, history and diff, approve, export."""
from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError
from apps.core.pagination import paginate_page
from apps.finance.reports import selectors, services
from apps.finance.reports.api import export_response
from apps.finance.reports.forms import DcfForm, ReportNewForm, SectionEditForm
from apps.finance.reports.prompts import SECTION_KINDS, section_spec

VIEW, ADD, CHANGE = "finance.view_report", "finance.add_report", "finance.change_report"


@login_required
@permission_required(VIEW, raise_exception=True)
def report_list(request):
    reports = selectors.reports_for_user(user=request.user).order_by("-created_at", "-id")
    return render(request, "finance/reports/list.html", {"page_obj": paginate_page(request, reports)})


@login_required
@permission_required(ADD, raise_exception=True)
def report_new(request):
    from apps.finance.selectors import companies_for_user

    companies = companies_for_user(request.user)
    initial = {"company": request.GET.get("company")} if request.GET.get("company") else None
    form = ReportNewForm(request.POST or None, companies=companies, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        try:
            report, _job = services.report_create(owner=request.user, request=request, **values)
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("finance:report-detail", report_id=report.pk)
    return render(request, "finance/reports/new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@permission_required(VIEW, raise_exception=True)
def report_detail(request, report_id: int):
    report = selectors.report_for_user(user=request.user, report_id=report_id)
    view = selectors.report_view(report)
    tables = selectors.report_tables(report)
    charts = selectors.report_charts(report)
    for s in view["sections"]:  # charts as <img> data URIs: the SVG never runs in the page
        s["charts"] = [(title, "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode())
                       for title, svg in charts.get(s["kind"], [])]
    for s in view["sections"]:  # the deterministic tables sit under their section's prose
        s["tables"] = [t for t in tables if (t[0] == "Financial summary") == (s["kind"] == "financial_analysis")
                       and s["kind"] in ("financial_analysis", "valuation")]
    return render(request, "finance/reports/detail.html", {
        "report": report,
        "sections": view["sections"],
        "flag_count": view["flag_count"],
        "job": selectors.report_current_job(report),
        "is_author": request.user.pk in selectors.report_author_ids(report),  # four eyes: another analyst approves
        "facts": [f for f in selectors.report_facts(report).facts.values()],
        "provenance": selectors.report_provenance(report),
        "dcf_form": DcfForm(initial={"wacc": report.wacc, "terminal_growth": report.terminal_growth,
                                     "forecast_years": report.forecast_years}),
    })


def _kind_or_404(kind: str) -> str:
    from django.http import Http404

    if kind not in SECTION_KINDS:
        raise Http404(f"no section {kind}")
    return kind


@login_required
@permission_required(CHANGE, raise_exception=True)
def section_edit(request, report_id: int, kind: str):
    report = selectors.report_for_user(user=request.user, report_id=report_id)
    section, versions = selectors.section_versions(report=report, kind=_kind_or_404(kind))
    current = versions[-1] if versions else None
    form = SectionEditForm(request.POST or None, initial={"text": current.text if current else ""})
    if request.method == "POST" and form.is_valid():
        try:
            version = services.report_section_edit(report=report, kind=kind, text=form.cleaned_data["text"],
                                                   actor=request.user, request=request)
        except ApplicationError as exc:
            form.add_error("text" if exc.field == "text" else None, exc.message)
        else:
            note = f"; {len(version.flags)} number(s) flagged" if version.flags else ""
            messages.success(request, f"Saved {section_spec(kind).title} as version {version.number}{note}.")
            return redirect("finance:report-detail", report_id=report.pk)
    return render(request, "finance/reports/edit.html", {
        "report": report, "section": section, "title": section_spec(kind).title, "form": form,
    }, status=400 if form.errors else 200)


@login_required
@permission_required(VIEW, raise_exception=True)
def section_history(request, report_id: int, kind: str):
    report = selectors.report_for_user(user=request.user, report_id=report_id)
    section, versions = selectors.section_versions(report=report, kind=_kind_or_404(kind))
    rows, previous = [], None
    for v in versions:
        rows.append({"version": v, "diff": selectors.version_diff(previous, v)})
        previous = v
    return render(request, "finance/reports/history.html", {
        "report": report, "section": section, "title": section_spec(kind).title, "rows": list(reversed(rows)),
    })


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_POST
def section_regenerate(request, report_id: int, kind: str):
    report = selectors.report_for_user(user=request.user, report_id=report_id)
    try:
        services.report_section_regenerate(report=report, kind=_kind_or_404(kind), actor=request.user, request=request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("finance:report-detail", report_id=report.pk)


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_POST
def report_dcf(request, report_id: int):
    report = selectors.report_for_user(user=request.user, report_id=report_id)
    form = DcfForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return redirect("finance:report-detail", report_id=report.pk)
    try:
        services.report_dcf_update(report=report, actor=request.user, request=request, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "DCF inputs changed: facts, valuation tables and checks recomputed.")
    return redirect("finance:report-detail", report_id=report.pk)


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_POST
def report_approve(request, report_id: int):
    report = selectors.report_for_user(user=request.user, report_id=report_id)
    try:
        services.report_approve(report=report, actor=request.user, request=request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Report approved; it is now frozen.")
    return redirect("finance:report-detail", report_id=report.pk)


@login_required
@permission_required(VIEW, raise_exception=True)
def report_export(request, report_id: int, fmt: str):
    report = selectors.report_for_user(user=request.user, report_id=report_id)
    try:
        return export_response(report=report, fmt=fmt, user=request.user, request=request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("finance:report-detail", report_id=report.pk)
