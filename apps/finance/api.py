"""REST API of companies and their statements (mounted under /api/v1/finance/)."""
from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import requires
from apps.core import throttling
from apps.core.exceptions import ApplicationError
from apps.core.pagination import CappedLimitOffsetPagination, paginate
from apps.core.parsers import StrictJSONParser
from apps.core.schema import ErrorOutput, error
from apps.core.serializers import StrictInputSerializer
from apps.core.uploads import limit_uploads, upload_refusal
from apps.finance import selectors, services
from apps.finance.importers import FORMATS, MAX_IMPORT_BYTES, CellError, ImportFailed, file_too_large
from apps.finance.line_items import LINE_ITEM_KEYS
from apps.finance.models import Company

VIEW_COMPANY, ADD_COMPANY = "finance.view_company", "finance.add_company"
ADD_STATEMENT = "finance.add_financialstatement"


StatementValuesOutput = type("StatementValuesOutput", (serializers.Serializer,), {
    "__doc__": "Every line item of a period (null where the statement does not give it).",
    **{key: serializers.FloatField(allow_null=True) for key in LINE_ITEM_KEYS},
})


class StatementOutput(serializers.Serializer):
    fiscal_year = serializers.IntegerField()
    period_end = serializers.DateField(allow_null=True)
    currency = serializers.CharField()
    source = serializers.CharField()
    values = StatementValuesOutput(source="*")


class CompanyRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CompanyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    name = serializers.CharField()
    ticker = serializers.CharField()
    currency = serializers.CharField()
    team = serializers.CharField(source="team.name")
    fictional = serializers.BooleanField()
    price_per_share = serializers.FloatField(allow_null=True)
    peers = CompanyRefOutput(many=True, source="peers.all", help_text="by name")
    fiscal_years = serializers.SerializerMethodField()

    def get_url(self, c: Company) -> str:
        return f"/api/v1/finance/companies/{c.pk}/"

    def get_page_url(self, c: Company) -> str:
        return f"/finance/companies/{c.pk}/"

    def get_fiscal_years(self, c: Company) -> list[int]:
        return [s.fiscal_year for s in c.statements.all()]


class CompanyDetailOutput(CompanyOutput):
    statements = StatementOutput(many=True, source="statements.all", help_text="oldest first")


class CompanyInput(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    ticker = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    currency = serializers.CharField(max_length=3, min_length=3, required=False, default="USD")
    price_per_share = serializers.DecimalField(max_digits=18, decimal_places=4, required=False, allow_null=True,
                                               min_value=0, default=None)
    fictional = serializers.BooleanField(required=False, default=False)
    peers = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)


class CellErrorOutput(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ImportErrorOutput(ErrorOutput):
    """The error envelope plus every problem of the file, located: nothing was imported."""

    cells = CellErrorOutput(many=True)


def import_failed_response(exc: ImportFailed, *, status_code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    """400 with every problem: {"detail", "code", "errors": {"file": [...]}, "cells": [{row, column, message}]}."""
    body = {"detail": exc.message, "code": exc.code, "errors": {"file": [str(e) for e in exc.errors]},
            "cells": exc.errors}
    return Response(ImportErrorOutput(body).data, status=status_code)


class CompanyListCreateApi(APIView):
    parser_classes = [StrictJSONParser]
    pagination_class = CappedLimitOffsetPagination  # GET is a paginated list

    def get_permissions(self):
        return [requires(ADD_COMPANY if self.request.method == "POST" else VIEW_COMPANY)()]

    @extend_schema(responses=CompanyOutput(many=True))
    def get(self, request):
        companies = selectors.companies_with_summary(selectors.companies_for_user(request.user)).order_by("name", "id")
        paginator, page = paginate(request=request, queryset=companies, view=self)
        return paginator.get_paginated_response(CompanyOutput(page, many=True).data)

    @extend_schema(request=CompanyInput, responses={201: CompanyOutput, 409: error("a company of that name exists")})
    def post(self, request):
        data = CompanyInput(data=request.data)
        data.is_valid(raise_exception=True)
        company = services.company_create(user=request.user, request=request, **data.validated_data)
        company = selectors.companies_with_summary(selectors.companies_for_user(request.user)).get(pk=company.pk)
        return Response(CompanyOutput(company).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/finance/companies/{company.pk}/"})


class CompanyUpdateInput(StrictInputSerializer):
    ticker = serializers.CharField(max_length=16, required=False, allow_blank=True)
    price_per_share = serializers.DecimalField(max_digits=18, decimal_places=4, required=False, allow_null=True,
                                               min_value=0)
    peers = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)


class CompanyDetailApi(APIView):
    """GET a company with its statements; PATCH its ticker, price_per_share or peers."""

    parser_classes = [StrictJSONParser]

    def get_permissions(self):
        return [requires(ADD_COMPANY if self.request.method == "PATCH" else VIEW_COMPANY)()]

    @extend_schema(request=CompanyUpdateInput, responses=CompanyOutput)
    def patch(self, request, company_id: int):
        company = selectors.company_for_user(request.user, company_id)
        data = CompanyUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        company = services.company_update(user=request.user, company=company, request=request,
                                          **data.validated_data)
        company = selectors.companies_with_summary(selectors.companies_for_user(request.user)).get(pk=company.pk)
        return Response(CompanyOutput(company).data)

    @extend_schema(responses=CompanyDetailOutput)
    def get(self, request, company_id: int):
        companies = selectors.companies_with_summary(selectors.companies_for_user(request.user))
        return Response(CompanyDetailOutput(get_object_or_404(companies, pk=company_id)).data)


class StatementImportInput(StrictInputSerializer):
    file = serializers.FileField(help_text=f"a .csv or .json file (JSON format or SEC companyfacts), at most "
                                           f"{MAX_IMPORT_BYTES} bytes")
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="default: from the file")


class ImportOutput(serializers.Serializer):
    format = serializers.ChoiceField(choices=FORMATS)
    created_years = serializers.ListField(child=serializers.IntegerField())
    replaced_years = serializers.ListField(child=serializers.IntegerField())
    statements = StatementOutput(many=True, help_text="the imported periods, oldest first")


class StatementListImportApi(APIView):
    """GET the company's statements; POST imports periods: a multipart `file` (CSV, JSON or SEC companyfacts)
    or a JSON body (the JSON import format, or an SEC companyfacts document). A year already stored is replaced.
    Any problem -> 400 listing every one, nothing imported."""

    throttle_scopes = {"POST": throttling.UPLOADS}
    parser_classes = [StrictJSONParser, MultiPartParser]
    pagination_class = CappedLimitOffsetPagination  # GET is a paginated list

    def get_permissions(self):
        return [requires(ADD_STATEMENT if self.request.method == "POST" else VIEW_COMPANY)()]

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST":  # before anything reads the body: a file streams to disk, stops at the limit
            limit_uploads(request, {"file": MAX_IMPORT_BYTES})
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(responses=StatementOutput(many=True))
    def get(self, request, company_id: int):
        company = selectors.company_for_user(request.user, company_id)
        paginator, page = paginate(request=request, queryset=selectors.statements_for_company(company), view=self)
        return paginator.get_paginated_response(StatementOutput(page, many=True).data)

    @extend_schema(request={"multipart/form-data": StatementImportInput, "application/json": OpenApiTypes.OBJECT},
                   responses={201: ImportOutput,
                              400: OpenApiResponse(ImportErrorOutput, description="every problem; nothing imported"),
                              413: OpenApiResponse(ImportErrorOutput, description="the file is over 8 MiB")})
    def post(self, request, company_id: int):
        company = selectors.company_for_user(request.user, company_id)
        try:
            if request.content_type.startswith("multipart/"):
                request.data  # noqa: B018 -- parse now: a file over the limit stops the upload
                refused = upload_refusal(request)
                if refused is not None and refused.limit is None:  # a file in a field that takes none
                    raise ApplicationError(refused.message, field=refused.field)
                if refused is not None:
                    return import_failed_response(file_too_large(), status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
                data = StatementImportInput(data=request.data)
                data.is_valid(raise_exception=True)
                upload = data.validated_data["file"]
                if upload.size > MAX_IMPORT_BYTES:
                    raise ImportFailed([CellError(None, None, f"the file is too large: {upload.size} "
                                                              f"bytes (at most {MAX_IMPORT_BYTES})")])
                result = services.statements_import_file(
                    user=request.user, company=company, content=upload.read(), filename=upload.name,
                    fmt=data.validated_data.get("format"), request=request)
            else:
                length, limit = int(request.META.get("CONTENT_LENGTH") or 0), settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                if limit is not None and length > limit:  # Django would refuse it with a bare HTML 400
                    raise ImportFailed([CellError(None, None, f"the JSON body is too large: {length} bytes; bodies "
                                                              f"over {limit} bytes must be uploaded as a multipart "
                                                              f"file (up to {MAX_IMPORT_BYTES} bytes)")])
                result = services.statements_import_data(user=request.user, company=company, data=request.data,
                                                         request=request)
        except ImportFailed as exc:
            return import_failed_response(exc)
        statements = selectors.statements_for_company(company).filter(fiscal_year__in=result.years)
        body = {"format": result.format, "created_years": result.created_years,
                "replaced_years": result.replaced_years, "statements": statements}
        return Response(ImportOutput(body).data, status=status.HTTP_201_CREATED)
