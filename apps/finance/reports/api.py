"""REST API of research reports (mounted under /api/v1/finance/reports/)."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import requires
from apps.core import throttling
from apps.core.exceptions import ApplicationError
from apps.core.pagination import CappedLimitOffsetPagination, paginate
from apps.core.schema import error
from apps.core.serializers import StrictInputSerializer
from apps.finance.models import Report
from apps.finance.reports import selectors, services
from apps.finance.reports.prompts import SECTION_KINDS
from apps.generation.api import JobRefOutput

VIEW, ADD, CHANGE = "finance.view_report", "finance.add_report", "finance.change_report"


_CHECKS_HELP = ("one grounding check per number: status matched (a fact), flagged (contradicts the fact its clause "
                "names; kind wrong_year / wrong_metric / wrong_ratio_base / wrong_scale / wrong_sign / wrong_unit / wrong_value) or "
                "unattributed (could not check: no clear metric and year)")


class ReportCompanyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    ticker = serializers.CharField()


class DcfInputsOutput(serializers.Serializer):
    wacc = serializers.FloatField()
    terminal_growth = serializers.FloatField()
    forecast_years = serializers.IntegerField()


class AdapterRefOutput(serializers.Serializer):
    id = serializers.IntegerField(source="adapter_id")
    label = serializers.CharField(source="adapter_label")


class SectionOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SECTION_KINDS)
    title = serializers.CharField()
    status = serializers.CharField()
    generated = serializers.BooleanField(help_text="written by the model (else computed)")
    grounded = serializers.BooleanField(help_text="its numbers are checked against the facts")
    live_text = serializers.CharField(help_text="the text streamed so far while it generates")
    version = serializers.IntegerField(allow_null=True)
    author = serializers.CharField(allow_null=True)
    text = serializers.CharField()
    data = serializers.DictField()
    flags = serializers.ListField(child=serializers.CharField(), help_text="numbers that contradict the facts")
    checks = serializers.ListField(child=serializers.DictField(), help_text=_CHECKS_HELP)
    unchecked = serializers.IntegerField(help_text="numbers the checker could not attribute to a fact "
                                                   "(status unattributed: 'could not check', not a flag)")
    versions = serializers.IntegerField(help_text="how many versions the section has")


class FactOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    unit = serializers.CharField()
    display = serializers.CharField()
    reason = serializers.CharField()
    formula = serializers.CharField()
    period = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField(allow_null=True)


class SensitivityOutput(serializers.Serializer):
    """The DCF sensitivity grid: value per share for each (wacc, growth); {} before the facts are computed."""

    wacc_values = serializers.ListField(child=serializers.FloatField(), required=False)
    growth_values = serializers.ListField(child=serializers.FloatField(), required=False)
    values = serializers.ListField(child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
                                   required=False)
    reasons = serializers.JSONField(required=False, allow_null=True)
    base_wacc = serializers.FloatField(required=False, allow_null=True)
    base_growth = serializers.FloatField(required=False, allow_null=True)


class ReportOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=Report.Status.choices)
    company = ReportCompanyOutput()
    owner = serializers.CharField(source="owner.username")
    currency = serializers.CharField()
    dcf_inputs = DcfInputsOutput(source="*")
    price_per_share = serializers.FloatField(allow_null=True)
    model_name = serializers.CharField()
    adapter = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField()
    error = serializers.CharField()
    flag_count = serializers.SerializerMethodField()
    sections = serializers.SerializerMethodField()
    facts = FactOutput(many=True, required=False, help_text="left out with ?facts=0")
    sensitivity = SensitivityOutput(required=False, help_text="left out with ?facts=0")
    created_at = serializers.DateTimeField()
    approved_by = serializers.CharField(source="approved_by.username", allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, report: Report) -> dict:
        self._view = selectors.report_view(report)
        return super().to_representation(report)

    def get_url(self, report: Report) -> str:
        return f"/api/v1/finance/reports/{report.pk}/"

    def get_page_url(self, report: Report) -> str:
        return f"/finance/reports/{report.pk}/"

    @extend_schema_field(AdapterRefOutput(allow_null=True))
    def get_adapter(self, report: Report) -> dict | None:
        return AdapterRefOutput(report).data if report.adapter_id else None

    @extend_schema_field(JobRefOutput(allow_null=True))
    def get_job(self, report: Report) -> dict | None:
        job = selectors.report_current_job(report)
        return None if job is None else JobRefOutput(job).data

    def get_flag_count(self, report: Report) -> int:
        return self._view["flag_count"]

    @extend_schema_field(SectionOutput(many=True))
    def get_sections(self, report: Report) -> list:
        return SectionOutput(self._view["sections"], many=True).data


class ReportListOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=Report.Status.choices)
    company = serializers.IntegerField(source="company_id")
    created_at = serializers.DateTimeField()

    def get_url(self, report: Report) -> str:
        return f"/api/v1/finance/reports/{report.pk}/"


class ReportInput(StrictInputSerializer):
    company = serializers.IntegerField(min_value=1, help_text="id of a company of your team")
    wacc = serializers.FloatField(required=False, help_text="a fraction, e.g. 0.09")
    terminal_growth = serializers.FloatField(required=False, help_text="a fraction, e.g. 0.025")
    forecast_years = serializers.IntegerField(required=False, min_value=1, max_value=30)


class SectionEditInput(StrictInputSerializer):
    text = serializers.CharField(max_length=settings.PLUMBLINE_REPORT_MAX_SECTION_CHARS, trim_whitespace=True)


KIND_PARAMETER = OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(SECTION_KINDS),
                                  description="the section")


def _section_kind(kind: str) -> str:
    if kind not in SECTION_KINDS:
        raise ApplicationError(f"unknown section {kind!r}; expected one of {', '.join(SECTION_KINDS)}",
                               field="section", status=404, code="not_found")
    return kind


class ReportListCreateApi(APIView):
    throttle_scopes = {"POST": throttling.JOBS}
    pagination_class = CappedLimitOffsetPagination  # GET is a paginated list

    def get_permissions(self):
        return [requires(ADD if self.request.method == "POST" else VIEW)()]

    @extend_schema(responses=ReportListOutput(many=True))
    def get(self, request):
        paginator, page = paginate(request=request, queryset=selectors.reports_for_user(user=request.user), view=self)
        return paginator.get_paginated_response(ReportListOutput(page, many=True).data)

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

    @extend_schema(request=None, responses={200: ReportOutput, 403: error("you wrote this report (own_report): "
                                                                         "another analyst must approve it"),
                                            409: error("not ready, incomplete, or frozen")})
    def post(self, request, report_id: int):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        return Response(ReportOutput(services.report_approve(report=report, actor=request.user, request=request)).data)


class DcfInput(StrictInputSerializer):
    wacc = serializers.FloatField(help_text="a fraction, e.g. 0.09")
    terminal_growth = serializers.FloatField(help_text="a fraction, e.g. 0.025")
    forecast_years = serializers.IntegerField(min_value=1, max_value=30)


class ReportDcfApi(APIView):
    permission_classes = [requires(CHANGE)]

    @extend_schema(request=DcfInput, responses={200: ReportOutput, 409: error("still generating, or approved")})
    def post(self, request, report_id: int):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        data = DcfInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.report_dcf_update(report=report, actor=request.user, request=request, **data.validated_data)
        return Response(ReportOutput(report).data)


class SectionEditOutput(serializers.Serializer):
    """The new version of the section, checked against the report's facts."""

    section = serializers.ChoiceField(choices=SECTION_KINDS, source="section.kind")
    version = serializers.IntegerField(source="number")
    flags = serializers.ListField(child=serializers.CharField(), help_text="numbers that contradict the facts")
    checks = serializers.ListField(child=serializers.DictField(), help_text=_CHECKS_HELP)


class SectionEditApi(APIView):
    permission_classes = [requires(CHANGE)]

    @extend_schema(request=SectionEditInput, parameters=[KIND_PARAMETER],
                   responses={200: SectionEditOutput, 409: error("still generating, or approved")})
    def post(self, request, report_id: int, kind: str):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        data = SectionEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.report_section_edit(report=report, kind=_section_kind(kind), text=data.validated_data["text"],
                                               actor=request.user, request=request)
        return Response(SectionEditOutput(version).data)


class SectionRegenerateApi(APIView):
    throttle_scopes = {"POST": throttling.JOBS}
    permission_classes = [requires(CHANGE)]

    @extend_schema(request=None, parameters=[KIND_PARAMETER],
                   responses={202: ReportOutput, 409: error("still generating, or approved")})
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

    @extend_schema(responses=SectionVersionsOutput, parameters=[KIND_PARAMETER])
    def get(self, request, report_id: int, kind: str):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        _section, versions = selectors.section_versions(report=report, kind=_section_kind(kind))
        out, previous = [], None
        for v in versions:
            v.diff = selectors.version_diff(previous, v)
            out.append(v)
            previous = v
        return Response(SectionVersionsOutput({"section": kind, "versions": out}).data)


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

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="pdf")],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="?format=pdf (attachment)"),
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.BINARY, description="?format=md (attachment)"),
            409: error("the report is not ready or approved"),
        },
    )
    def get(self, request, report_id: int):
        report = selectors.report_for_user(user=request.user, report_id=report_id)
        fmt = request.query_params.get("format", "pdf")
        return export_response(report=report, fmt=fmt, user=request.user, request=request)


@extend_schema(exclude=True)
class ReportExportNoSlashApi(ReportExportApi):
    """The same export at `.../export` (no trailing slash), for clients that strip it."""


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
