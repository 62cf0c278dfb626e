"""REST API of research reports (mounted under /api/v1/finance/reports/)."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import requires
from apps.core.exceptions import ApplicationError
from apps.core.serializers import StrictInputSerializer
from apps.finance.models import Report
from apps.finance.reports import selectors, services
from apps.finance.reports.prompts import SECTION_KINDS

VIEW, ADD, CHANGE = "finance.view_report", "finance.add_report", "finance.change_report"


class ReportOutput(serializers.Serializer):
    def to_representation(self, report: Report) -> dict:
        job = selectors.report_current_job(report)
        view = selectors.report_view(report)
        return {
            "id": report.pk,
            "url": f"/api/v1/finance/reports/{report.pk}/",
            "page_url": f"/finance/reports/{report.pk}/",
            "title": report.title,
            "status": report.status,
            "company": {"id": report.company_id, "name": report.company.name, "ticker": report.company.ticker},
            "owner": report.owner.username,
            "currency": report.currency,
            "dcf_inputs": {"wacc": report.wacc, "terminal_growth": report.terminal_growth,
                           "forecast_years": report.forecast_years},
            "price_per_share": report.price_per_share,
            "model_name": report.model_name,
            "adapter": {"id": report.adapter_id, "label": report.adapter_label} if report.adapter_id else None,
            "job": None if job is None else {
                "id": job.pk, "url": f"/api/v1/jobs/{job.pk}/", "status": job.status, "attempts": job.attempts,
                "error": job.error,
            },
            "error": report.error,
            "flag_count": view["flag_count"],
            "sections": [{k: v for k, v in s.items() if k != "segments"} for s in view["sections"]],
            "facts": report.facts,
            "sensitivity": report.sensitivity,
            "created_at": report.created_at,
            "approved_by": report.approved_by.username if report.approved_by else None,
            "approved_at": report.approved_at,
        }


class ReportListOutput(serializers.Serializer):
    def to_representation(self, report: Report) -> dict:
        return {"id": report.pk, "url": f"/api/v1/finance/reports/{report.pk}/", "title": report.title,
                "status": report.status, "company": report.company_id, "created_at": report.created_at}


class ReportInput(StrictInputSerializer):
    company = serializers.IntegerField(min_value=1, help_text="id of a company of your team")
    wacc = serializers.FloatField(required=False, help_text="a fraction, e.g. 0.09")
    terminal_growth = serializers.FloatField(required=False, help_text="a fraction, e.g. 0.025")
    forecast_years = serializers.IntegerField(required=False, min_value=1, max_value=30)


class SectionEditInput(StrictInputSerializer):
    text = serializers.CharField(max_length=settings.PLUMBLINE_REPORT_MAX_SECTION_CHARS, trim_whitespace=True)


def _section_kind(kind: str) -> str:
    if kind not in SECTION_KINDS:
        raise ApplicationError(f"unknown section {kind!r}; expected one of {', '.join(SECTION_KINDS)}",
                               field="section", status=404, code="not_found")
    return kind


class ReportListCreateApi(APIView):
    def get_permissions(self):
        return [requires(ADD if self.request.method == "POST" else VIEW)()]

    @extend_schema(responses=ReportListOutput(many=True))
    def get(self, request):
        reports = selectors.reports_for_user(user=request.user)[:200]
        return Response([ReportListOutput(r).data for r in reports])

    @extend_schema(request=ReportInput, responses={202: ReportOutput})
    def post(self, request):
        from apps.finance.selectors import companies_for_user

        data = ReportInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        company = companies_for_user(request.user).filter(pk=values.pop("company")).first()
        if company is None:
            raise ApplicationError("no such company in your team", field="company", status=404, code="not_found")
        report, _job = services.report_create(owner=request.user, company=company, request=request, **values)
        return Response(ReportOutput(report).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/finance/reports/{report.pk}/"})


class ReportDetailApi(APIView):
    permission_classes = [requires(VIEW)]

    @extend_schema(responses=ReportOutput, parameters=[
        OpenApiParameter("facts", str, description="0: leave out the facts and sensitivity grid (for polling)")])
    def get(self, request, report_id: int):
        data = ReportOutput(selectors.report_for_user(user=request.user, report_id=report_id)).data
        if request.query_params.get("facts") == "0":
            data.pop("facts"), data.pop("sensitivity")
        return Response(data)


class ReportApproveApi(APIView):
    permission_classes = [requires(CHANGE)]

    @extend_schema(request=None, responses=ReportOutput)
    def post(self, request, report_id: int):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        return Response(ReportOutput(services.report_approve(report=report, actor=request.user, request=request)).data)


class DcfInput(StrictInputSerializer):
    wacc = serializers.FloatField(help_text="a fraction, e.g. 0.09")
    terminal_growth = serializers.FloatField(help_text="a fraction, e.g. 0.025")
    forecast_years = serializers.IntegerField(min_value=1, max_value=30)


class ReportDcfApi(APIView):
    permission_classes = [requires(CHANGE)]

    @extend_schema(request=DcfInput, responses=ReportOutput)
    def post(self, request, report_id: int):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        data = DcfInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.report_dcf_update(report=report, actor=request.user, request=request, **data.validated_data)
        return Response(ReportOutput(report).data)


class SectionEditApi(APIView):
    permission_classes = [requires(CHANGE)]

    @extend_schema(request=SectionEditInput, responses=ReportOutput)
    def post(self, request, report_id: int, kind: str):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        data = SectionEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.report_section_edit(report=report, kind=_section_kind(kind), text=data.validated_data["text"],
                                               actor=request.user, request=request)
        return Response({"section": kind, "version": version.number, "flags": version.flags,
                         "checks": version.checks})


class SectionRegenerateApi(APIView):
    permission_classes = [requires(CHANGE)]

    @extend_schema(request=None, responses={202: ReportOutput})
    def post(self, request, report_id: int, kind: str):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        services.report_section_regenerate(report=report, kind=_section_kind(kind), actor=request.user,
                                           request=request)
        report.refresh_from_db()
        return Response(ReportOutput(report).data, status=status.HTTP_202_ACCEPTED)


class VersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    author = serializers.CharField()
    created_at = serializers.DateTimeField()
    text = serializers.CharField()
    flags = serializers.ListField(child=serializers.CharField())
    data = serializers.DictField()
    diff = serializers.ListField(child=serializers.CharField(), help_text="unified diff against the version before")


class SectionVersionsOutput(serializers.Serializer):
    section = serializers.CharField()
    versions = VersionOutput(many=True)


class SectionVersionsApi(APIView):
    permission_classes = [requires(VIEW)]

    @extend_schema(responses=SectionVersionsOutput)
    def get(self, request, report_id: int, kind: str):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        _section, versions = selectors.section_versions(report=report, kind=_section_kind(kind))
        out, previous = [], None
        for v in versions:
            out.append({"number": v.number, "author": v.author, "created_at": v.created_at, "text": v.text,
                        "flags": v.flags, "data": v.data, "diff": selectors.version_diff(previous, v)})
            previous = v
        return Response({"section": kind, "versions": out})


class _AnyFormat(BaseContentNegotiation):
    """`?format=` names the export's file format here, not a DRF renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


EXPORT_FORMATS = ("pdf", "md")


class ReportExportApi(APIView):
    permission_classes = [requires(VIEW)]
    content_negotiation_class = _AnyFormat

    @extend_schema(parameters=[OpenApiParameter("format", str, enum=list(EXPORT_FORMATS))], responses={200: bytes})
    def get(self, request, report_id: int):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        fmt = request.query_params.get("format", "pdf")
        return export_response(report=report, fmt=fmt, user=request.user, request=request)


def export_response(*, report: Report, fmt: str, user, request) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise ApplicationError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}", field="format")
    if report.status not in (Report.Status.READY, Report.Status.APPROVED):
        raise ApplicationError(f"report {report.pk} is {report.status}; export needs a ready or approved report",
                               status=409, code="not_ready")
    from apps.finance.export import render_markdown, render_pdf

    doc = selectors.report_document(report)
    services.report_export_audit(report=report, actor=user, fmt=fmt, request=request)
    slug = "".join(c if c.isalnum() else "-" for c in report.company.name.lower()).strip("-") or "report"
    if fmt == "pdf":
        response = HttpResponse(render_pdf(doc), content_type="application/pdf")
    else:
        response = HttpResponse(render_markdown(doc).encode(), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-report-{report.pk}.{fmt}"'
    return response
